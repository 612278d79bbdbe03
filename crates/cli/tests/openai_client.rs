//! The OpenAI-compatible clients (`vec2prompt-openai`) against the real `vec2prompt serve`:
//! the remote embedder must reproduce the local one, and the remote LLM must answer, with
//! auth, the shared limiter and error mapping working end to end.

mod common;

use common::Served;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vec2prompt_core::{Embedder, Error, FinishReason, GenerationParams, Llm, cosine};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};
use vec2prompt_openai::{
    OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy,
};

const API_KEY: &str = "sk-openai-client-test";

fn minilm() -> Option<PathBuf> {
    let embedder = vec2prompt_core::testing::real_model("all-MiniLM-L6-v2")?;
    vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct")?;
    Some(embedder)
}

/// A small ingested dataset (`serve` needs one for its search endpoints).
fn dataset() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openai-client-tests");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::ingested_dataset(&dir, 20)
}

/// A running `vec2prompt serve` behind an API key, with its OpenAI-compatible base URL.
struct Server {
    served: Served,
    base_url: String,
}

impl Server {
    fn start() -> Server {
        let ds = dataset();
        let ds = ds.to_str().expect("a UTF-8 path");
        let served = Served::start(&["--api-key", API_KEY, "--dataset", ds]);
        let base_url = format!("{}/v1", served.url);
        Server { served, base_url }
    }

    fn config(&self, model: &str) -> RemoteConfig {
        let mut c = RemoteConfig::new(&self.base_url, model);
        c.api_key = Some(API_KEY.to_string());
        c.timeout = Duration::from_secs(120);
        c
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

#[test]
fn openai_clients_work_against_vec2prompt_serve() {
    let Some(minilm_dir) = minilm() else {
        return;
    };
    let server = Server::start();
    let limiter = Arc::new(RateLimiter::new(RateLimits {
        max_concurrent: Some(2),
        ..RateLimits::unlimited()
    }));

    // Embeddings: the remote vectors are the local embedder's.
    let mut embed_config = server.config("all-MiniLM-L6-v2");
    embed_config.max_batch = 2;
    let remote = OpenAiEmbedder::new(embed_config, Arc::clone(&limiter), retry())
        .unwrap_or_else(|e| panic!("{e}\n{}", server.served.log.lock().unwrap().join("\n")));
    let local = LocalEmbedder::load(&minilm_dir, LocalEmbedderConfig::default()).unwrap();
    assert_eq!(remote.info().dimension, local.info().dimension);
    let texts: Vec<String> = [
        "The capital of France is Paris.",
        "Photosynthesis turns light into chemical energy.",
        "A haiku has three lines.",
        "Rust has no garbage collector, yet it is memory safe.",
        "ok",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got = remote.embed(&texts).unwrap();
    let want = local.embed(&texts).unwrap();
    assert_eq!(got.len(), texts.len());
    let mut worst = f32::INFINITY;
    for ((g, w), text) in got.iter().zip(&want).zip(&texts) {
        let c = cosine(g, w);
        worst = worst.min(c);
        assert!(c >= 1.0 - 1e-5, "{text:?}: cosine {c}");
    }
    eprintln!("remote vs local embeddings: lowest cosine {worst}");

    // Chat: greedy answers come back for every prompt.
    let llm = OpenAiLlm::new(
        server.config("SmolLM2-135M-Instruct"),
        Arc::clone(&limiter),
        retry(),
    )
    .unwrap();
    let params = GenerationParams {
        max_new_tokens: 24,
        ..GenerationParams::default()
    };
    let prompts = vec![
        "What is the capital of France?".to_string(),
        "Name a primary colour.".to_string(),
        "Say hello.".to_string(),
    ];
    let started = std::time::Instant::now();
    let answers = llm.generate(&prompts, &params).unwrap();
    eprintln!(
        "3 chat completions (2 at a time): {:?}; first answer {:?}",
        started.elapsed(),
        answers[0][0].text
    );
    assert_eq!(answers.len(), 3);
    for (prompt, a) in prompts.iter().zip(&answers) {
        assert_eq!(a.len(), 1);
        let g = &a[0];
        assert!(!g.text.trim().is_empty(), "{prompt:?}: empty answer");
        assert!(g.prompt_tokens > 0);
        assert!(
            g.completion_tokens >= 1 && g.completion_tokens <= 24,
            "{g:?}"
        );
        if g.finish_reason == FinishReason::Length {
            assert_eq!(g.completion_tokens, 24, "{g:?}");
        }
    }
    // Greedy is deterministic through the server too.
    let again = llm.answer(&prompts[0], &params).unwrap();
    assert_eq!(again.text, answers[0][0].text);

    let stats = limiter.stats();
    // 3 embeddings batches + probe, 4 chat requests; the server's own 429 (queue full)
    // would show as retries.
    assert!(stats.requests >= 8, "{stats:?}");
    assert!(stats.tokens > 0);
    assert_eq!(stats.in_flight, 0);

    // Errors map to the core error type: a wrong key is the backend's (no retry), an
    // out-of-range parameter is the caller's.
    let mut no_key = server.config("m");
    no_key.api_key = Some("sk-wrong".to_string());
    let unauthorized = OpenAiLlm::new(no_key, Arc::clone(&limiter), retry()).unwrap();
    let before = limiter.stats().requests;
    let err = unauthorized.answer("hi", &params).unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains("sk-wrong"));
    assert_eq!(limiter.stats().requests, before + 1, "401 is not retried");
    let too_long = GenerationParams {
        max_new_tokens: 1_000_000,
        ..GenerationParams::default()
    };
    let err = llm.answer("hi", &too_long).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("max_tokens"), "{err}");
}
