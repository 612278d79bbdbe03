//! The shared limiter, observed from the server: concurrency, request and token budgets
//! hold across concurrent callers and across the embedder and the LLM together.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Reply, TestServer, chat_reply, embeddings_for};
use vec2prompt_core::{Embedder, GenerationParams, Llm};
use vec2prompt_openai::{
    OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy,
};

const MS: Duration = Duration::from_millis(1);

fn limits(rpm: Option<u32>, tpm: Option<u64>, concurrent: Option<usize>) -> RateLimits {
    RateLimits {
        requests_per_minute: rpm,
        requests_per_day: None,
        tokens_per_minute: tpm,
        max_concurrent: concurrent,
    }
}

/// Answers chat with a delay so concurrent requests overlap at the server.
fn slow_chat(delay: Duration, completion_tokens: u64) -> TestServer {
    TestServer::start(move |_, _| chat_reply("a", 1, "stop", completion_tokens).after(delay))
}

fn prompts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("prompt {i}")).collect()
}

#[test]
fn max_concurrent_bounds_requests_in_flight_at_the_server() {
    let server = slow_chat(60 * MS, 3);
    let limiter = Arc::new(RateLimiter::new(limits(None, None, Some(2))));
    let llm = OpenAiLlm::new(
        RemoteConfig::new(server.base_url(), "m"),
        Arc::clone(&limiter),
        RetryPolicy::default(),
    )
    .unwrap();
    let started = Instant::now();
    // Two callers at once: each runs its prompts on 2 threads, so only the limiter keeps
    // the total at 2.
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| llm.generate(&prompts(4), &GenerationParams::default())))
            .collect();
        for caller in callers {
            assert_eq!(caller.join().unwrap().unwrap().len(), 4);
        }
    });
    assert_eq!(
        server.max_in_flight(),
        2,
        "at most 2, and the prompts did run concurrently"
    );
    // 8 requests of 60 ms two at a time: at least 4 rounds.
    assert!(started.elapsed() >= 240 * MS, "{:?}", started.elapsed());
    let stats = limiter.stats();
    assert_eq!(stats.requests, 8);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.tokens, 8 * 14, "usage totals reported");
}

#[test]
fn one_limiter_is_shared_by_the_embedder_and_the_llm() {
    let server = TestServer::start(|_, r| {
        if r.path.ends_with("/embeddings") {
            embeddings_for(r, 2).after(40 * MS)
        } else {
            chat_reply("a", 1, "stop", 1).after(40 * MS)
        }
    });
    let limiter = Arc::new(RateLimiter::new(limits(None, None, Some(1))));
    let mut c = RemoteConfig::new(server.base_url(), "m");
    c.dimensions = Some(2);
    c.max_batch = 1;
    let embedder =
        OpenAiEmbedder::new(c.clone(), Arc::clone(&limiter), RetryPolicy::default()).unwrap();
    let llm = OpenAiLlm::new(c, Arc::clone(&limiter), RetryPolicy::default()).unwrap();
    std::thread::scope(|s| {
        let a = s.spawn(|| embedder.embed(&prompts(4)).unwrap());
        let b = s.spawn(|| {
            llm.generate(&prompts(4), &GenerationParams::default())
                .unwrap()
        });
        assert_eq!(a.join().unwrap().len(), 4);
        assert_eq!(b.join().unwrap().len(), 4);
    });
    assert_eq!(server.requests().len(), 8);
    assert_eq!(server.max_in_flight(), 1);
    assert!(limiter.stats().waits > 0);
}

#[test]
fn requests_per_minute_spaces_requests_by_the_window() {
    let server = TestServer::start(|_, r| embeddings_for(r, 2));
    // A 400 ms "minute" keeps the test fast; the algorithm is the same. Arrival times at
    // the server lag admission by scheduling noise, hence the 100 ms margin below.
    let limiter = Arc::new(RateLimiter::with_windows(
        limits(Some(2), None, None),
        400 * MS,
        Duration::from_secs(3600),
    ));
    let mut c = RemoteConfig::new(server.base_url(), "m");
    c.dimensions = Some(2);
    c.max_batch = 1;
    let e = OpenAiEmbedder::new(c, Arc::clone(&limiter), RetryPolicy::default()).unwrap();
    e.embed(&prompts(5)).unwrap();
    let r = server.requests();
    assert_eq!(r.len(), 5);
    // Requests i and i+2 never fall in the same window.
    for i in 0..3 {
        let gap = r[i + 2].at - r[i].at;
        assert!(
            gap >= 300 * MS,
            "requests {i} and {} only {gap:?} apart",
            i + 2
        );
    }
    assert!(limiter.stats().waits >= 2);
}

#[test]
fn tokens_per_minute_makes_a_caller_wait() {
    // Each request is estimated at ≥ 50 tokens (max_tokens 50) and uses 11 + 39 = 50.
    let server = slow_chat(Duration::ZERO, 39);
    let limiter = Arc::new(RateLimiter::with_windows(
        limits(None, Some(120), None),
        400 * MS,
        Duration::from_secs(3600),
    ));
    let llm = OpenAiLlm::new(
        RemoteConfig::new(server.base_url(), "m"),
        Arc::clone(&limiter),
        RetryPolicy::default(),
    )
    .unwrap();
    let params = GenerationParams {
        max_new_tokens: 50,
        ..GenerationParams::default()
    };
    let started = Instant::now();
    for p in prompts(3) {
        llm.answer(&p, &params).unwrap();
    }
    let r = server.requests();
    // 50 + 50 fit in 120; the third (≥ 50 more) must wait for the first to age out.
    assert!(r[1].at - r[0].at < 250 * MS, "{:?}", r[1].at - r[0].at);
    assert!(r[2].at - r[0].at >= 300 * MS, "{:?}", r[2].at - r[0].at);
    assert!(started.elapsed() < 2 * 400 * MS);
    assert_eq!(limiter.stats().tokens, 150);
    assert_eq!(limiter.stats().waits, 1);
}

#[test]
fn a_retry_after_pauses_every_caller() {
    // Request 0 is throttled for 300 ms; requests started meanwhile by other callers wait too.
    let server = TestServer::start(|i, r| {
        if i == 0 {
            Reply::raw(429, "").with_header("retry-after-ms", "300")
        } else {
            embeddings_for(r, 2)
        }
    });
    let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
    let mut c = RemoteConfig::new(server.base_url(), "m");
    c.dimensions = Some(2);
    let e = OpenAiEmbedder::new(c, Arc::clone(&limiter), RetryPolicy::default()).unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        let first = s.spawn(|| e.embed(&prompts(1)).unwrap());
        std::thread::sleep(80 * MS);
        let second = s.spawn(|| e.embed(&prompts(1)).unwrap());
        first.join().unwrap();
        second.join().unwrap();
    });
    let r = server.requests();
    assert_eq!(r.len(), 3);
    for later in &r[1..] {
        assert!(later.at - r[0].at >= 300 * MS, "{:?}", later.at - r[0].at);
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}
