//! Every error is JSON `{error, error_type}`, also those produced outside the routes
//! (unknown paths, the docs, methods, hyper's own parse errors), 429 says when to retry,
//! and the metrics' label set stays bounded whatever methods and paths clients invent.

mod common;

use common::TestServer;
use serde_json::json;
use std::time::Duration;
use vec2prompt_server::ServerConfig;

fn server(config: ServerConfig) -> Option<TestServer> {
    TestServer::start(config)
}

#[test]
fn errors_outside_the_routes_are_json() {
    let Some(s) = server(ServerConfig::default()) else {
        return;
    };
    s.get("/nowhere").assert_error(404, "not_found");
    s.get("/docs/no-such-file.js")
        .assert_error(404, "not_found");
    s.get("/generate_prompt")
        .assert_error(405, "method_not_allowed");
    s.send("DELETE", "/health", None)
        .assert_error(405, "method_not_allowed");
    // No Content-Type.
    let body = r#"{"text": "hello"}"#;
    let raw = format!(
        "POST /generate_prompt_from_text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.raw(raw.as_bytes(), Duration::from_secs(30))
        .assert_error(415, "unsupported_media_type");
    // Larger than max_body_bytes.
    let big = json!({"text": "x".repeat(ServerConfig::default().max_body_bytes)});
    s.post("/generate_prompt_from_text", &big)
        .assert_error(413, "payload_too_large");
    // hyper refuses these before any route runs.
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70 * 1024));
    let r = s.raw(long_uri.as_bytes(), Duration::from_secs(30));
    assert!(
        r.status == 414 || r.status == 431,
        "{} {}",
        r.status,
        r.head
    );
    r.assert_error(
        r.status,
        if r.status == 414 {
            "uri_too_long"
        } else {
            "headers_too_large"
        },
    );
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("x-h{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    s.raw(many.as_bytes(), Duration::from_secs(30))
        .assert_error(431, "headers_too_large");
    s.raw(b"NOT HTTP AT ALL\r\n\r\n", Duration::from_secs(30))
        .assert_error(400, "invalid_request");
    // The server still serves.
    assert_eq!(s.get("/health").status, 200);
}

#[test]
fn overload_carries_retry_after() {
    let Some(s) = server(ServerConfig {
        queue_capacity: 1,
        ..ServerConfig::default()
    }) else {
        return;
    };
    let addr = s.addr;
    let long = std::thread::spawn(move || {
        let body = json!({"messages": [{"role": "user", "content": "Count from 1 to 300, one number per line."}], "max_tokens": 300});
        let raw = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.to_string().len()
        );
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut c, raw.as_bytes()).unwrap();
        common::read_reply(&mut c).status
    });
    assert!(
        s.wait_in_use(1, Duration::from_secs(30)).is_some(),
        "the chat was never admitted"
    );
    let r = s.post("/v1/embeddings", &json!({"input": "hello"}));
    r.assert_error(429, "overloaded");
    assert!(r.head.contains("retry-after: 1"), "{}", r.head);
    assert_eq!(long.join().unwrap(), 200);
}

#[test]
fn odd_methods_and_paths_add_no_metric_series() {
    let Some(s) = server(ServerConfig::default()) else {
        return;
    };
    let series = |s: &TestServer| -> Vec<String> {
        let r = s.get("/metrics");
        assert_eq!(r.status, 200);
        r.body
            .lines()
            .filter(|l| l.starts_with("vec2prompt_http_requests_total{"))
            .map(|l| l.rsplit_once(' ').map_or(l, |(k, _)| k).to_string())
            .collect()
    };
    let odd = |i: usize| {
        s.send(&format!("FROB{i}"), "/health", None);
        s.send(&format!("ZAP{i}"), &format!("/no/such/path/{i}"), None);
        s.send("GET", &format!("/unknown-{i}"), None);
    };
    odd(0);
    let before = series(&s);
    for i in 1..60 {
        odd(i);
    }
    let after = series(&s);
    // Only the series these requests can land in (other tests of this binary share the
    // process's recorder and add their own).
    let new: Vec<&String> = after
        .iter()
        .filter(|l| !before.contains(l))
        .filter(|l| l.contains("method=\"other\"") || l.contains("route=\"unmatched\""))
        .collect();
    assert!(new.is_empty(), "new series: {new:?}");
    assert!(
        after.iter().any(|l| l.contains("method=\"other\"")),
        "{after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|l| l.contains("FROB") || l.contains("/no/such"))
    );
}
