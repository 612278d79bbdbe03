//! Input-token caps are checked per request before the queue, and one request's bad
//! prompt never fails the requests batched with it (real models).

mod common;

use common::TestServer;
use serde_json::json;
use std::time::{Duration, Instant};
use vec2prompt_server::ServerConfig;

fn chat(content: &str, max_tokens: usize) -> serde_json::Value {
    json!({"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens})
}

#[test]
fn over_long_inputs_are_refused_before_the_queue() {
    let Some(s) = TestServer::start(ServerConfig {
        max_chat_input_tokens: 64,
        max_text_input_tokens: 64,
        ..ServerConfig::default()
    }) else {
        return;
    };
    let long = "word ".repeat(200);
    let started = Instant::now();
    let r = s.post("/v1/chat/completions", &chat(&long, 8));
    r.assert_error(422, "invalid_input");
    assert!(r.body.contains("max_chat_input_tokens (64)"), "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.in_use(), 0);
    let r = s.post("/v1/embeddings", &json!({"input": ["short", long]}));
    r.assert_error(422, "invalid_input");
    assert!(
        r.body.contains("input[1]") && r.body.contains("max_text_input_tokens"),
        "{}",
        r.body
    );
    s.post("/generate_prompt_from_text", &json!({"text": long}))
        .assert_error(422, "invalid_input");
    // Under the caps, all is well.
    assert_eq!(
        s.post("/v1/chat/completions", &chat("Name a colour.", 4))
            .status,
        200
    );
    assert_eq!(
        s.post("/v1/embeddings", &json!({"input": "short text"}))
            .status,
        200
    );
}

#[test]
fn one_requests_bad_prompt_never_fails_its_batch_mates() {
    // The cap is above the model's context, so only the LLM itself refuses the long prompt:
    // inside the batch it shares with the others.
    let Some(s) = TestServer::start(ServerConfig {
        max_chat_input_tokens: 100_000,
        ..ServerConfig::default()
    }) else {
        return;
    };
    let addr = s.addr;
    let post = move |body: serde_json::Value| {
        std::thread::spawn(move || {
            let body = body.to_string();
            let raw = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut c, raw.as_bytes()).unwrap();
            common::read_reply(&mut c)
        })
    };
    // Keep the worker busy so the next requests queue up and are drained as one batch.
    let busy = post(chat("Count from 1 to 100, one number per line.", 48));
    assert!(s.wait_in_use(1, Duration::from_secs(30)).is_some());
    let mut valid = Vec::new();
    for topic in ["the sea", "bread", "a violin", "the moon"] {
        valid.push(post(chat(&format!("Write one sentence about {topic}."), 8)));
    }
    let bad = post(chat(&"word ".repeat(9000), 8));
    for v in valid {
        let r = v.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = bad.join().unwrap();
    r.assert_error(422, "invalid_input");
    assert!(r.body.contains("context"), "{}", r.body);
    assert_eq!(busy.join().unwrap().status, 200);
}
