//! Inputs at the boundary, on the real models: a target's scale does not matter, lengths
//! beyond f32 and invisible text are 4xx, `stop` cuts answers, integers may be written as
//! `16.0`, seeds are int64, and the served document states the embedder's dimension.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use vec2prompt_server::ServerConfig;

fn target(s: &TestServer) -> Vec<f64> {
    let r = s.post(
        "/v1/embeddings",
        &json!({"input": "Eat a balanced diet, exercise and sleep enough."}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn prompt_for(s: &TestServer, v: &[f64]) -> Value {
    let r = s.post(
        "/generate_prompt",
        &json!({"target_embedding": v, "options": {"variants": 3}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    json!({"prompt": j["prompt"], "variants": j["metadata"]["variants"].as_array().unwrap().iter().map(|v| v["prompt"].clone()).collect::<Vec<_>>()})
}

#[test]
fn one_direction_at_any_scale_gets_one_prompt() {
    let Some(s) = TestServer::start(ServerConfig::default()) else {
        return;
    };
    let v = target(&s);
    let base = prompt_for(&s, &v);
    for scale in [2.0, 1e20, 1e-20] {
        let scaled: Vec<f64> = v.iter().map(|x| x * scale).collect();
        assert_eq!(prompt_for(&s, &scaled), base, "scale {scale}");
    }
    let huge = vec![3e38; v.len()];
    let r = s.post("/generate_prompt", &json!({"target_embedding": huge}));
    r.assert_error(422, "invalid_input");
    assert!(r.body.contains("32-bit float"), "{}", r.body);
}

#[test]
fn invisible_text_is_refused_everywhere() {
    let Some(s) = TestServer::start(ServerConfig::default()) else {
        return;
    };
    for text in ["\u{0}\u{0}", "\u{200B}\u{200D}", " \u{FEFF}\t\u{2060}"] {
        s.post("/generate_prompt_from_text", &json!({"text": text}))
            .assert_error(422, "invalid_input");
        s.post("/v1/embeddings", &json!({"input": ["ok", text]}))
            .assert_error(422, "invalid_input");
        s.post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
        .assert_error(422, "invalid_input");
    }
}

#[test]
fn stop_cuts_the_answer_and_integers_may_have_a_zero_fraction() {
    let Some(s) = TestServer::start(ServerConfig::default()) else {
        return;
    };
    let chat = |extra: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": "Name three primary colors."}], "max_tokens": 40.0});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = s.post("/v1/chat/completions", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        (
            j["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
            j["choices"][0]["finish_reason"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let (full, _) = chat(json!({}));
    // A word from the middle of the greedy answer is the stop string.
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "{full:?}");
    let stop = words[words.len() / 2];
    let (cut, reason) = chat(json!({"stop": [stop, "\u{1F600}never"]}));
    assert_eq!(cut, full[..full.find(stop).unwrap()], "stop {stop:?}");
    assert_eq!(reason, "stop");
    // Integers written as floats; fractions and seeds beyond int64 are refused.
    let r = s.post(
        "/generate_prompt_from_text",
        &json!({"text": "Paris is the capital of France.", "options": {"variants": 2.0, "budget": 0.0}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["metadata"]["variants"].as_array().unwrap().len(),
        2
    );
    for bad in [
        json!({"text": "x y", "options": {"variants": 2.5}}),
        json!({"text": "x y", "options": {"seed": 9223372036854775808u64}}),
    ] {
        s.post("/generate_prompt_from_text", &bad)
            .assert_error(422, "invalid_input");
    }
    s.post(
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}),
    )
    .assert_error(422, "invalid_input");
}

#[test]
fn the_served_document_states_the_embedders_dimension() {
    let Some(s) = TestServer::start(ServerConfig::default()) else {
        return;
    };
    let doc = s.get("/api-doc/openapi.json").json();
    let dim = s.get("/health").json()["embedding_dimension"].as_u64();
    let t = &doc["components"]["schemas"]["GeneratePromptRequest"]["properties"]["target_embedding"]
        ["oneOf"][0];
    assert_eq!(t["minItems"].as_u64(), dim);
    assert_eq!(t["maxItems"].as_u64(), dim);
    // The served document is the whole one, every keyword and status code included.
    let post = &doc["paths"]["/generate_prompt"]["post"]["responses"];
    assert!(
        post.get("415").is_some() && post.get("429").is_some(),
        "{post}"
    );
    assert!(t["contains"].is_object(), "{t}");
}
