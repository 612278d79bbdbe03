//! Retry behaviour against a server that fails on purpose: every fault class is retried a
//! bounded number of times, and permanent client errors are not retried at all.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Reply, TestServer, embeddings_for};
use vec2prompt_core::{Embedder, Error, GenerationParams, Llm};
use vec2prompt_openai::{
    OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy,
};

const MS: Duration = Duration::from_millis(1);

fn policy(max_attempts: u32, base_delay: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay,
        max_delay: Duration::from_secs(2),
        jitter: 0.0,
        timeout: Duration::from_secs(20),
    }
}

fn config(server: &TestServer) -> RemoteConfig {
    let mut c = RemoteConfig::new(server.base_url(), "m");
    c.dimensions = Some(4);
    c.timeout = Duration::from_secs(5);
    c
}

fn embedder(server: &TestServer, retry: RetryPolicy) -> (OpenAiEmbedder, Arc<RateLimiter>) {
    let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
    let e = OpenAiEmbedder::new(config(server), Arc::clone(&limiter), retry).unwrap();
    (e, limiter)
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("text {i}")).collect()
}

fn ok_after(script: Vec<Reply>) -> TestServer {
    let n = script.len();
    TestServer::start(move |i, r| {
        if i < n {
            script[i].clone()
        } else {
            embeddings_for(r, 4)
        }
    })
}

#[test]
fn too_many_requests_waits_the_retry_after_then_succeeds() {
    let server = ok_after(vec![
        Reply::json(429, json!({"error": {"message": "slow down"}}))
            .with_header("retry-after", "1"),
    ]);
    // The computed backoff (5 ms) is far below the header's 1 s: only the header explains a long wait.
    let (e, limiter) = embedder(&server, policy(3, 5 * MS));
    let out = e.embed(&texts(2)).unwrap();
    assert_eq!(out.len(), 2);
    let gaps = server.gaps();
    assert_eq!(gaps.len(), 1, "one retry");
    assert!(
        gaps[0] >= Duration::from_secs(1),
        "retried after {:?}",
        gaps[0]
    );
    assert!(
        gaps[0] < Duration::from_millis(1800),
        "waited too long: {:?}",
        gaps[0]
    );
    assert_eq!(limiter.stats().retries, 1);
    assert_eq!(limiter.stats().requests, 2);
}

#[test]
fn retry_after_as_http_date_and_milliseconds_is_honoured() {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    let server = ok_after(vec![
        Reply::raw(503, "busy").with_header("retry-after", &date),
        Reply::raw(429, "").with_header("retry-after-ms", "150"),
    ]);
    let (e, _) = embedder(&server, policy(3, MS));
    e.embed(&texts(1)).unwrap();
    let gaps = server.gaps();
    // HTTP-dates have 1 s resolution: "in 2 s" is at least 1 s away.
    assert!(gaps[0] >= Duration::from_millis(1000), "{:?}", gaps[0]);
    assert!(gaps[1] >= 150 * MS && gaps[1] < 900 * MS, "{:?}", gaps[1]);
}

#[test]
fn server_errors_back_off_exponentially_then_succeed() {
    let server = ok_after(vec![
        Reply::raw(500, "boom"),
        Reply::raw(502, "bad gateway"),
        Reply::raw(503, "unavailable"),
    ]);
    let (e, limiter) = embedder(&server, policy(5, 50 * MS));
    let out = e.embed(&texts(3)).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(server.requests().len(), 4, "three failures, one success");
    let gaps = server.gaps();
    // Backoff 50, 100, 200 ms (no jitter): each gap at least its delay and longer than the last.
    for (gap, want) in gaps.iter().zip([50, 100, 200]) {
        assert!(*gap >= want * MS, "gap {gap:?} < {want} ms");
    }
    assert!(gaps[1] > gaps[0] && gaps[2] > gaps[1], "{gaps:?}");
    assert_eq!(limiter.stats().retries, 3);
}

#[test]
fn persistent_server_errors_fail_after_max_attempts() {
    let server = TestServer::scripted(vec![], Reply::raw(500, "still broken"));
    let (e, _) = embedder(&server, policy(3, MS));
    let err = e.embed(&texts(1)).unwrap_err();
    assert_eq!(server.requests().len(), 3);
    let msg = err.to_string();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(
        msg.contains("3 attempts") && msg.contains("HTTP 500") && msg.contains("still broken"),
        "{msg}"
    );
    assert!(
        msg.contains("embeddings") && msg.contains(&server.base_url()),
        "{msg}"
    );
}

#[test]
fn slow_responses_time_out_retry_and_fail_bounded() {
    let slow = || Reply::json(200, json!({"data": []})).after(600 * MS);
    let server = TestServer::scripted(vec![], slow());
    let mut c = config(&server);
    c.timeout = 100 * MS;
    let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
    let e = OpenAiEmbedder::new(c, limiter, policy(3, 10 * MS)).unwrap();
    let started = Instant::now();
    let err = e.embed(&texts(1)).unwrap_err().to_string();
    let took = started.elapsed();
    assert_eq!(server.requests().len(), 3, "{err}");
    assert!(
        err.contains("timed out") && err.contains("3 attempts"),
        "{err}"
    );
    // Three 100 ms attempts plus 10 + 20 ms backoff; far less than one slow response each.
    assert!(took >= 300 * MS && took < 1200 * MS, "{took:?}");
}

#[test]
fn a_slow_attempt_is_retried_and_the_next_one_counts() {
    let server = ok_after(vec![Reply::json(200, json!({"data": []})).after(500 * MS)]);
    let mut c = config(&server);
    c.timeout = 100 * MS;
    let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
    let e = OpenAiEmbedder::new(c, limiter, policy(3, MS)).unwrap();
    assert_eq!(e.embed(&texts(2)).unwrap().len(), 2);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn malformed_json_is_retried_then_reported() {
    let server = ok_after(vec![
        Reply::raw(200, "{\"data\": [ {\"index\": 0, \"embedd"),
        Reply::raw(200, "<html>proxy error</html>"),
    ]);
    let (e, _) = embedder(&server, policy(4, MS));
    assert_eq!(e.embed(&texts(1)).unwrap().len(), 1);
    assert_eq!(server.requests().len(), 3);

    let always = TestServer::scripted(vec![], Reply::raw(200, "not json"));
    let (e, _) = embedder(&always, policy(2, MS));
    let err = e.embed(&texts(1)).unwrap_err().to_string();
    assert_eq!(always.requests().len(), 2);
    assert!(
        err.contains("malformed JSON") && err.contains("2 attempts"),
        "{err}"
    );
}

#[test]
fn dropped_connections_are_retried() {
    let body = json!({"data": [{"index": 0, "embedding": [1.0, 2.0, 3.0, 4.0]}]}).to_string();
    let server = ok_after(vec![Reply::Drop, Reply::Truncated(body)]);
    let (e, limiter) = embedder(&server, policy(4, MS));
    let out = e.embed(&texts(1)).unwrap();
    assert_eq!(out[0], vec![0.0, 6.0, 1.0, 1.0]);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(limiter.stats().retries, 2);
}

#[test]
fn refused_connections_are_retried_then_reported() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = RemoteConfig::new(format!("http://127.0.0.1:{port}/v1"), "m");
    c.dimensions = Some(4);
    let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
    let e = OpenAiEmbedder::new(c, Arc::clone(&limiter), policy(3, MS)).unwrap();
    let err = e.embed(&texts(1)).unwrap_err().to_string();
    assert!(
        err.contains("connection") && err.contains("3 attempts"),
        "{err}"
    );
    assert_eq!(limiter.stats().retries, 2);
}

#[test]
fn client_errors_fail_at_once_and_never_leak_the_key() {
    let key = "sk-test-0123456789abcdef";
    for (status, invalid_input) in [(400, true), (422, true), (401, false), (404, false)] {
        // The server quotes the key back, as some providers do for bad keys.
        let server = TestServer::scripted(
            vec![],
            Reply::json(
                status,
                json!({"error": {"message": format!("no good: {key}")}}),
            ),
        );
        let mut c = config(&server);
        c.api_key = Some(key.to_string());
        let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
        let llm = OpenAiLlm::new(c, limiter, policy(5, MS)).unwrap();
        let err = llm
            .generate(&["hi".to_string()], &GenerationParams::default())
            .unwrap_err();
        assert_eq!(
            server.requests().len(),
            1,
            "HTTP {status} must not be retried"
        );
        assert_eq!(
            server.requests()[0].header("authorization"),
            Some(format!("Bearer {key}").as_str())
        );
        let msg = err.to_string();
        assert_eq!(
            matches!(err, Error::InvalidInput { .. }),
            invalid_input,
            "{status}: {msg}"
        );
        assert!(
            msg.contains(&status.to_string()) && msg.contains("no good"),
            "{msg}"
        );
        assert!(
            !msg.contains(key) && !format!("{err:?}").contains(key),
            "key leaked: {msg}"
        );
    }
}

#[test]
fn request_timeouts_408_are_retried() {
    let server = TestServer::start(|i, _| {
        if i == 0 {
            Reply::raw(408, "")
        } else {
            support::chat_reply("ok", 1, "stop", 2)
        }
    });
    let limiter = Arc::new(RateLimiter::new(RateLimits::unlimited()));
    let llm = OpenAiLlm::new(config(&server), limiter, policy(3, MS)).unwrap();
    let g = llm.answer("hi", &GenerationParams::default()).unwrap();
    assert_eq!(g.text, "ok #0");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn exhausted_quota_is_not_retried() {
    let server = TestServer::scripted(
        vec![],
        Reply::json(
            429,
            json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
        ),
    );
    let (e, _) = embedder(&server, policy(5, MS));
    let err = e.embed(&texts(1)).unwrap_err().to_string();
    assert_eq!(server.requests().len(), 1);
    assert!(err.contains("429") && err.contains("quota"), "{err}");
}
