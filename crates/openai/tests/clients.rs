//! What the clients send and how they read the answers: batching and index order for
//! embeddings, sampling parameters and finish reasons for chat.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{Reply, TestServer, chat_reply, embeddings_for};
use vec2prompt_core::{Embedder, Error, FinishReason, GenerationParams, Llm, Sampling};
use vec2prompt_openai::{
    OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy,
};

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        jitter: 0.0,
        timeout: Duration::from_secs(5),
    }
}

fn unlimited() -> Arc<RateLimiter> {
    Arc::new(RateLimiter::new(RateLimits::unlimited()))
}

#[test]
fn embeddings_are_batched_and_reordered_by_index() {
    let server = TestServer::start(|_, r| embeddings_for(r, 5));
    let mut c = RemoteConfig::new(server.base_url() + "/", "emb-model");
    c.dimensions = Some(5);
    c.max_batch = 3;
    c.api_key = Some("sk-abc".into());
    let e = OpenAiEmbedder::new(c, unlimited(), quick_retry()).unwrap();
    let texts: Vec<String> = (0..7).map(|i| "x".repeat(i + 1)).collect();
    let out = e.embed(&texts).unwrap();
    assert_eq!(out.len(), 7);
    for (i, v) in out.iter().enumerate() {
        // Index within its batch, then the text's length: order survived the reversed response.
        assert_eq!(v[0], (i % 3) as f32, "vector {i}");
        assert_eq!(v[1], (i + 1) as f32, "vector {i}");
        assert_eq!(v.len(), 5);
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "7 texts in batches of 3");
    let mut sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.body["input"].as_array().unwrap().len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [1, 3, 3]);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/embeddings");
    assert_eq!(r.body["model"], "emb-model");
    assert_eq!(r.body["dimensions"], 5);
    assert_eq!(r.body["encoding_format"], "float");
    assert_eq!(r.header("authorization"), Some("Bearer sk-abc"));
    assert_eq!(e.info().dimension, 5);
    assert!(
        !e.info().normalized,
        "remote vectors are not assumed normalized"
    );
    assert!(e.embed(&[]).unwrap().is_empty());
    assert_eq!(server.requests().len(), 3, "no request for no texts");
}

#[test]
fn unknown_dimension_is_probed_once_and_no_key_sends_no_auth() {
    let server = TestServer::start(|_, r| embeddings_for(r, 6));
    let e = OpenAiEmbedder::new(
        RemoteConfig::new(server.base_url(), "m"),
        unlimited(),
        quick_retry(),
    )
    .unwrap();
    assert_eq!(e.info().dimension, 6);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].body.get("dimensions").is_none());
    assert!(requests[0].header("authorization").is_none());
    assert_eq!(e.embed_one("abc").unwrap().len(), 6);
}

#[test]
fn wrong_dimensions_and_missing_vectors_are_errors() {
    let server = TestServer::start(|_, r| embeddings_for(r, 3));
    let mut c = RemoteConfig::new(server.base_url(), "m");
    c.dimensions = Some(4);
    let e = OpenAiEmbedder::new(c, unlimited(), quick_retry()).unwrap();
    let err = e.embed(&["a".to_string()]).unwrap_err().to_string();
    assert!(
        err.contains("length 3") && err.contains("4 was expected"),
        "{err}"
    );

    let short = TestServer::scripted(
        vec![],
        Reply::json(
            200,
            json!({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}),
        ),
    );
    let mut c = RemoteConfig::new(short.base_url(), "m");
    c.dimensions = Some(2);
    let e = OpenAiEmbedder::new(c, unlimited(), quick_retry()).unwrap();
    let err = e.embed(&["a".to_string(), "b".to_string()]).unwrap_err();
    assert!(matches!(err, Error::Backend { .. }));
    assert!(err.to_string().contains("1 vectors for 2 inputs"), "{err}");

    let duplicate = TestServer::scripted(
        vec![],
        Reply::json(
            200,
            json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]}),
        ),
    );
    let mut c = RemoteConfig::new(duplicate.base_url(), "m");
    c.dimensions = Some(1);
    let e = OpenAiEmbedder::new(c, unlimited(), quick_retry()).unwrap();
    let err = e.embed(&["a".to_string(), "b".to_string()]).unwrap_err();
    assert!(err.to_string().contains("index 0 twice"), "{err}");
}

#[test]
fn greedy_chat_sends_temperature_zero_and_maps_finish_reasons() {
    let server = TestServer::start(|_, r| {
        let prompt = r.body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let finish = if prompt.contains("long") {
            "length"
        } else {
            "stop"
        };
        chat_reply(&format!("re: {prompt}"), 1, finish, 5)
    });
    let llm = OpenAiLlm::new(
        RemoteConfig::new(server.base_url(), "chat-model"),
        unlimited(),
        quick_retry(),
    )
    .unwrap();
    let prompts = vec![
        "short one".to_string(),
        "a long one".to_string(),
        "third".to_string(),
    ];
    let params = GenerationParams {
        max_new_tokens: 32,
        ..GenerationParams::default()
    };
    let out = llm.generate(&prompts, &params).unwrap();
    assert_eq!(out.len(), 3);
    for (prompt, answers) in prompts.iter().zip(&out) {
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].text, format!("re: {prompt} #0"));
        assert_eq!(answers[0].prompt_tokens, 11);
        assert_eq!(answers[0].completion_tokens, 5);
    }
    assert_eq!(out[0][0].finish_reason, FinishReason::Stop);
    assert_eq!(out[1][0].finish_reason, FinishReason::Length);
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.body["model"], "chat-model");
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["messages"][0]["role"], "user");
    assert_eq!(r.body["max_tokens"], 32);
    assert_eq!(r.body["temperature"], 0.0);
    assert_eq!(r.body["n"], 1);
    assert!(r.body.get("seed").is_none() && r.body.get("top_p").is_none());
}

#[test]
fn sampling_sends_seed_top_p_and_n_and_splits_usage() {
    let server = TestServer::start(|_, r| {
        let n = r.body["n"].as_u64().unwrap_or(1) as usize;
        chat_reply("s", n, "stop", 10)
    });
    let llm = OpenAiLlm::new(
        RemoteConfig::new(server.base_url(), "m"),
        unlimited(),
        quick_retry(),
    )
    .unwrap();
    let params = GenerationParams {
        max_new_tokens: 16,
        sampling: Sampling::Sample {
            temperature: 0.7,
            top_p: 0.9,
            seed: 42,
        },
        n: 3,
    };
    let out = llm.generate(&["p".to_string()], &params).unwrap();
    let texts: Vec<&str> = out[0].iter().map(|g| g.text.as_str()).collect();
    assert_eq!(texts, ["s #0", "s #1", "s #2"], "choices sorted by index");
    let split: Vec<usize> = out[0].iter().map(|g| g.completion_tokens).collect();
    assert_eq!(split, [4, 3, 3]);
    let body = &server.requests()[0].body;
    assert_eq!(body["seed"], 42);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["temperature"], 0.7);
    assert_eq!(body["n"], 3);
}

#[test]
fn too_few_choices_and_invalid_params_are_errors() {
    let server = TestServer::start(|_, _| chat_reply("one", 1, "stop", 1));
    let llm = OpenAiLlm::new(
        RemoteConfig::new(server.base_url(), "m"),
        unlimited(),
        quick_retry(),
    )
    .unwrap();
    let params = GenerationParams {
        n: 2,
        sampling: Sampling::Sample {
            temperature: 1.0,
            top_p: 1.0,
            seed: 1,
        },
        ..GenerationParams::default()
    };
    let err = llm.generate(&["p".to_string()], &params).unwrap_err();
    assert!(err.to_string().contains("1 answers where n = 2"), "{err}");
    let bad = GenerationParams {
        max_new_tokens: 0,
        ..GenerationParams::default()
    };
    assert!(matches!(
        llm.generate(&["p".to_string()], &bad),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(server.requests().len(), 1, "invalid params send nothing");
}

#[test]
fn bad_configs_are_rejected_up_front() {
    let limiter = unlimited();
    let e = OpenAiLlm::new(
        RemoteConfig::new("localhost:8080", "m"),
        Arc::clone(&limiter),
        quick_retry(),
    );
    assert!(matches!(e, Err(Error::InvalidInput { .. })));
    let zero = Arc::new(RateLimiter::new(RateLimits {
        max_concurrent: Some(0),
        ..RateLimits::unlimited()
    }));
    let e = OpenAiLlm::new(RemoteConfig::new("http://h/v1", "m"), zero, quick_retry());
    assert!(e.is_err());
}
