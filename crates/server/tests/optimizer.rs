//! `/optimize` and `/feedback` on the real server: input errors are 4xx JSON whether or
//! not an optimizer is loaded, a server without one says so, and feedback is validated
//! and stored as sent.

mod common;

use common::TestServer;
use serde_json::json;
use std::sync::Arc;
use vec2prompt_optimizer::FeedbackLog;
use vec2prompt_optimizer::feedback::read_feedback;
use vec2prompt_server::OptimizerState;
use vec2prompt_server::ServerConfig;

fn with_log(path: &std::path::Path, max: u64) -> Option<TestServer> {
    let state = OptimizerState {
        optimizer: None,
        dir: None,
        feedback: Some(Arc::new(FeedbackLog::open(path, max).unwrap())),
    };
    TestServer::start_with(ServerConfig::default(), state)
}

#[test]
fn optimize_refuses_bad_input_and_is_absent_without_an_optimizer() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(s) = with_log(&tmp.path().join("f.jsonl"), 1 << 20) else {
        return;
    };
    for bad in [
        json!({}),
        json!({"raw_prompt": ""}),
        json!({"raw_prompt": " \u{200B}\n"}),
        json!({"raw_prompt": "create function", "num_return_sequences": 0}),
        json!({"raw_prompt": "create function", "num_return_sequences": 99}),
        json!({"raw_prompt": "create function", "num_return_sequences": 1.5}),
        json!({"raw_prompt": "create function", "max_length": 3}),
        json!({"raw_prompt": "create function", "budget": 99}),
        json!({"raw_prompt": "create function", "style": "poetic"}),
        json!({"raw_prompt": "create function", "temperature": 0.3}),
        // Targets: at most one, a budget to measure it, no empty text, 1 to 8 examples,
        // a vector of the embedder's dimension with finite numbers.
        json!({"raw_prompt": "x", "budget": 2, "target_text": "a", "target_examples": ["b"]}),
        json!({"raw_prompt": "x", "target_text": "an answer like this"}),
        json!({"raw_prompt": "x", "budget": 2, "target_text": " "}),
        json!({"raw_prompt": "x", "budget": 2, "target_examples": []}),
        json!({"raw_prompt": "x", "budget": 2, "target_examples": ["a", ""]}),
        json!({"raw_prompt": "x", "budget": 2, "target_examples": vec!["a"; 9]}),
        json!({"raw_prompt": "x", "budget": 2, "target_embedding": [1.0, 2.0]}),
        json!({"raw_prompt": "x", "budget": 2, "target_embedding": ["NaN"]}),
        json!({"raw_prompt": "x", "budget": 2, "target_embedding": "up"}),
    ] {
        s.post("/optimize", &bad).assert_error(422, "invalid_input");
    }
    let r = s.post(
        "/optimize",
        &json!({"raw_prompt": "Create a function", "max_length": 200, "num_return_sequences": 1}),
    );
    r.assert_error(404, "not_found");
    assert!(
        r.json()["error"].as_str().unwrap().contains("optimizer"),
        "{:?}",
        r.body
    );
    let doc = s.get("/api-doc/openapi.json").json();
    assert!(
        doc["paths"]["/optimize"].is_null(),
        "an absent optimizer is not documented"
    );
    assert!(doc["paths"]["/feedback"].is_object());
    let health = s.get("/health").json();
    assert!(health["optimizer"].is_null(), "{health}");
    assert!(
        health["feedback_log"]
            .as_str()
            .unwrap()
            .ends_with("f.jsonl"),
        "{health}"
    );
}

#[test]
fn feedback_is_validated_and_stored_as_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("f.jsonl");
    let Some(s) = with_log(&path, 2000) else {
        return;
    };
    let good = json!({"raw_prompt": "create function", "optimized_prompt": "Write a Python function that reverses a string.", "rating": 5, "comment": "precise"});
    let r = s.post("/feedback", &good);
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(
        (v["stored"].as_bool(), v["records"].as_u64()),
        (Some(true), Some(1)),
        "{v}"
    );
    assert_eq!(v["record"]["rating"], 5);
    assert_eq!(v["record"]["source"], "user");
    let chosen = json!({"raw_prompt": "create function", "optimized_prompt": "Write code.", "chosen": false, "rating": 2.0});
    assert_eq!(s.post("/feedback", &chosen).json()["records"], 2);
    for bad in [
        json!({"raw_prompt": "x", "optimized_prompt": "y"}),
        json!({"raw_prompt": "x", "optimized_prompt": "y", "rating": 9}),
        json!({"raw_prompt": "x", "optimized_prompt": "y", "rating": 0}),
        json!({"raw_prompt": "x", "optimized_prompt": "y", "rating": 2.5}),
        json!({"raw_prompt": "x", "optimized_prompt": "", "rating": 3}),
        json!({"raw_prompt": "x", "optimized_prompt": "y", "chosen": "yes"}),
        json!({"raw_prompt": "x", "optimized_prompt": "y", "rating": 3, "comment": "c".repeat(2001)}),
        json!({"raw_prompt": "x", "optimized_prompt": "y", "rating": 3, "extra": 1}),
    ] {
        s.post("/feedback", &bad).assert_error(422, "invalid_input");
    }
    let stored = read_feedback(&path).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].optimized_prompt,
        "Write a Python function that reverses a string."
    );
    assert_eq!((stored[1].chosen, stored[1].rating), (Some(false), Some(2)));
    // The size limit: a full log refuses clearly, and keeps what it had.
    let mut refused = None;
    for _ in 0..20 {
        let r = s.post("/feedback", &good);
        if r.status != 200 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the 2,000-byte log fills up");
    r.assert_error(503, "unavailable");
    assert!(
        r.json()["error"].as_str().unwrap().contains("full"),
        "{:?}",
        r.body
    );
    assert!(read_feedback(&path).unwrap().len() >= 2);
}
