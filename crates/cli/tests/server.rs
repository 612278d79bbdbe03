//! End-to-end tests of `vec2prompt serve`: the real binary on a free port with the real
//! models and a small ingested dataset, driven over plain HTTP/1.1.

mod common;

use common::{Served, bin, models_present};

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

/// A small ingested dataset shared by the tests of this file (built once per run).
fn dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-tests");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        common::ingested_dataset(&dir, 120)
    })
}

/// A running `vec2prompt serve` over the shared dataset (killed when dropped), and its
/// `host:port` for raw HTTP/1.1.
struct Server {
    served: Served,
    addr: String,
}

/// A response: status and body.
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// Asserts an error response in the API's shape and returns its message.
    fn error(&self, status: u16, error_type: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        assert_eq!(v["error_type"], error_type, "{v}");
        let msg = v["error"].as_str().expect("error message").to_string();
        assert!(!msg.is_empty());
        msg
    }
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let ds = dataset().to_str().expect("a UTF-8 path");
        let args: Vec<&str> = ["--dataset", ds]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let served = Served::start(&args);
        let addr = served.url.trim_start_matches("http://").to_string();
        Server { served, addr }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        send(&self.addr, method, path, body, headers)
    }

    fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, &[])
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, &body.to_string())
    }

    fn post_raw(&self, path: &str, body: &str) -> Reply {
        self.send(
            "POST",
            path,
            Some(body),
            &[("Content-Type", "application/json")],
        )
    }

    fn post_key(&self, path: &str, body: &Value, key: &str) -> Reply {
        let auth = format!("Bearer {key}");
        self.send(
            "POST",
            path,
            Some(&body.to_string()),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
        )
    }

    fn log(&self) -> String {
        self.served.log.lock().unwrap().join("\n")
    }
}

/// Sends one request (`Connection: close`) to `addr` and reads the whole response.
fn send(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body; a failed write is fine as
    // long as the response arrives.
    let _ = stream.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response to {method} {path}: {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Reply {
        status,
        headers: head.to_string(),
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn embed(server: &Server, texts: &[&str]) -> Vec<Value> {
    let r = server.post("/v1/embeddings", &json!({"model": "any", "input": texts}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["embedding"].clone())
        .collect()
}

const BEES: &str = "Here is a sentence about honey bees: it is remarkable in its own way.";
const CHESS: &str = "Here is a sentence about chess: it is remarkable in its own way.";

#[test]
fn every_endpoint_and_every_bad_input() {
    if !models_present() {
        return;
    }
    let server = Server::start(&["--max-body-bytes", "65536", "--max-batch-items", "8"]);

    // Health: open, names the models, the dimension and the dataset.
    let h = server.get("/health");
    assert_eq!(h.status, 200, "{}", h.body);
    let h = h.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["embedding_dimension"], 384);
    assert!(
        h["llm"]["name"].as_str().unwrap().contains("SmolLM2"),
        "{h}"
    );
    assert_eq!(h["embedder"]["name"], "all-MiniLM-L6-v2");
    assert_eq!(h["llm"]["backend"], "local");
    assert!(h["dataset"]["train_records"].as_u64().unwrap() > 100, "{h}");
    assert_eq!(h["auth_required"], false);
    assert!(h["version"].is_string());

    // OpenAI-compatible embeddings: list and single input, usage, dimensions.
    let r = server.post(
        "/v1/embeddings",
        &json!({"model": "m", "input": [BEES, CHESS], "dimensions": 384}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "all-MiniLM-L6-v2");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 384);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 10, "{v}");
    let r = server.post(
        "/v1/embeddings",
        &json!({"model": "m", "input": "one text"}),
    );
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
    let msg = server
        .post(
            "/v1/embeddings",
            &json!({"model": "m", "input": "x", "dimensions": 128}),
        )
        .error(400, "invalid_request");
    assert!(msg.contains("384"), "{msg}");
    server
        .post("/v1/embeddings", &json!({"model": "m", "input": []}))
        .error(422, "invalid_input");
    server
        .post("/v1/embeddings", &json!({"model": "m", "input": [""]}))
        .error(422, "invalid_input");
    server
        .post("/v1/embeddings", &json!({"model": "m", "input": [1, 2]}))
        .error(422, "invalid_input");

    let targets = embed(&server, &[BEES, CHESS]);

    // Fast mode: no LLM call, the nearest record's prompt.
    let r = server.post("/generate_prompt", &json!({"target_embedding": targets[0]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["prompt"].as_str().unwrap().contains("honey bees"), "{v}");
    let m = &v["metadata"];
    assert_eq!(m["method"], "fast");
    assert_eq!(m["llm_calls"], 0);
    assert!(m["similarity"].is_null(), "{m}");
    // The surrogate's predicted cosine of the chosen prompt's answer to the target.
    let predicted = m["predicted_similarity"].as_f64().unwrap();
    assert!(predicted > 0.5 && predicted <= 1.0, "{m}");
    assert_eq!(m["source"], "neighbour");
    assert!(m["timings"]["total_ms"].as_f64().unwrap() > 0.0);

    // evaluate_quality: the prompt is answered and the answer measured.
    let r = server.post(
        "/generate_prompt",
        &json!({"target_embedding": targets[1], "evaluate_quality": true, "options": {"variants": 2}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json()["metadata"].clone();
    let sim = m["similarity"].as_f64().expect("measured similarity");
    assert!(sim > 0.1 && sim <= 1.0, "{m}");
    assert_eq!(m["evaluation_llm_calls"], 1);
    assert!(!m["answer"].as_str().unwrap().is_empty());
    assert_eq!(m["variants"].as_array().unwrap().len(), 2);

    // return_metadata: false leaves it out.
    let r = server.post(
        "/generate_prompt",
        &json!({"target_embedding": targets[0], "return_metadata": false}),
    );
    assert!(r.json().get("metadata").is_none(), "{}", r.body);

    // From text.
    let r = server.post(
        "/generate_prompt_from_text",
        &json!({"text": "a sentence about chess"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["prompt"].as_str().unwrap().contains("chess"), "{v}");
    assert!(v["metadata"]["timings"]["embed_ms"].as_f64().unwrap() > 0.0);
    server
        .post("/generate_prompt_from_text", &json!({"text": "  "}))
        .error(422, "invalid_input");

    // Batch, in request order.
    let r = server.post(
        "/generate_prompts_batch",
        &json!({"embeddings": [targets[1], targets[0], targets[1]], "return_metadata": false}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(results[0]["prompt"].as_str().unwrap().contains("chess"));
    assert!(
        results[1]["prompt"]
            .as_str()
            .unwrap()
            .contains("honey bees")
    );
    assert_eq!(results[2]["index"], 2);
    let msg = server
        .post(
            "/generate_prompts_batch",
            &json!({"embeddings": [targets[0], [1.0, 2.0]]}),
        )
        .error(422, "invalid_input");
    assert!(msg.contains("embeddings[1]"), "{msg}");

    // Parallel: bad items fail alone; variants and best_variant; summary and metrics.
    let mut nan = targets[0].as_array().unwrap().clone();
    nan[5] = json!("NaN");
    let r = server.post(
        "/generate_prompts_parallel",
        &json!({
            "embeddings": [targets[0], nan, targets[1], [0.5, 0.5]],
            "max_concurrent": 2,
            "rate_limit_tier": "tier_3",
            "evaluate_quality": true,
            "generate_variants": true,
            "options": {"variants": 2}
        }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (i, item) in results.iter().enumerate() {
        assert_eq!(item["embedding_index"], i);
    }
    let bad = &results[1]["original_result"];
    assert_eq!(bad["success"], false);
    assert_eq!(bad["error_type"], "invalid_input");
    assert!(
        bad["error"].as_str().unwrap().contains("component 5"),
        "{bad}"
    );
    assert!(
        results[3]["original_result"]["error"]
            .as_str()
            .unwrap()
            .contains("dimensions")
    );
    for good in [&results[0], &results[2]] {
        assert_eq!(good["original_result"]["success"], true, "{good}");
        assert!(good["original_prompt"].is_string());
        let vs = good["variants"].as_array().unwrap();
        assert_eq!(vs.len(), 2, "{good}");
        let best = good["best_variant"]["similarity"].as_f64().unwrap();
        for variant in vs {
            assert!(variant["similarity"].as_f64().unwrap() <= best);
        }
        assert!(good["original_result"]["similarity"].is_number());
    }
    let s = &v["summary"];
    assert_eq!(
        (
            s["total_processed"].as_u64(),
            s["successful"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    let (avg, max, min) = (
        s["average_similarity"].as_f64().unwrap(),
        s["max_similarity"].as_f64().unwrap(),
        s["min_similarity"].as_f64().unwrap(),
    );
    assert!(min <= avg && avg <= max, "{s}");
    assert!(s["processing_time"].as_f64().unwrap() > 0.0);
    let pm = &v["metadata"]["performance_metrics"];
    assert!(pm["requests_per_second"].as_f64().unwrap() > 0.0, "{pm}");
    assert!(pm["average_processing_time"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["metadata"]["rate_limit_tier"], "tier_3");
    server
        .post(
            "/generate_prompts_parallel",
            &json!({"embeddings": [targets[0]], "max_concurrent": 0}),
        )
        .error(422, "invalid_input");
    server
        .post(
            "/generate_prompts_parallel",
            &json!({"embeddings": [targets[0]], "max_concurrent": 51}),
        )
        .error(422, "invalid_input");
    server
        .post(
            "/generate_prompts_parallel",
            &json!({"embeddings": [targets[0]], "rate_limit_tier": "tier_9"}),
        )
        .error(422, "invalid_input");

    // Chat completions over the local LLM.
    let r = server.post(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}], "max_tokens": 8}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(
        !v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let reason = v["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(reason == "stop" || reason == "length", "{v}");
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() <= 8);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 3);
    server
        .post(
            "/v1/chat/completions",
            &json!({"model": "m", "messages": []}),
        )
        .error(422, "invalid_input");
    server
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}),
        )
        .error(400, "invalid_request");
    server
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}),
        )
        .error(422, "invalid_input");

    // Bad inputs to /generate_prompt: each a 4xx in the API's shape.
    let mut short = targets[0].as_array().unwrap().clone();
    short.pop();
    let msg = server
        .post("/generate_prompt", &json!({"target_embedding": short}))
        .error(422, "invalid_input");
    assert!(msg.contains("383 dimensions"), "{msg}");
    let msg = server
        .post("/generate_prompt", &json!({"target_embedding": nan}))
        .error(422, "invalid_input");
    assert!(msg.contains("NaN"), "{msg}");
    let mut null = targets[0].as_array().unwrap().clone();
    null[0] = Value::Null;
    server
        .post("/generate_prompt", &json!({"target_embedding": null}))
        .error(422, "invalid_input");
    let mut huge = targets[0].as_array().unwrap().clone();
    huge[0] = json!(1e300);
    server
        .post("/generate_prompt", &json!({"target_embedding": huge}))
        .error(422, "invalid_input");
    server
        .post(
            "/generate_prompt",
            &json!({"target_embedding": vec![0.0; 384]}),
        )
        .error(422, "invalid_input");
    server
        .post("/generate_prompt", &json!({"target_embedding": []}))
        .error(422, "invalid_input");
    server
        .post("/generate_prompt", &json!({"target_embedding": "abc"}))
        .error(422, "invalid_input");
    server
        .post_raw("/generate_prompt", r#"{"target_embedding": [NaN, 1]}"#)
        .error(400, "invalid_request");
    server
        .post_raw("/generate_prompt", r#"{"target_embedding": [Infinity]}"#)
        .error(400, "invalid_request");
    server
        .post_raw("/generate_prompt", "not json")
        .error(400, "invalid_request");
    server
        .post("/generate_prompt", &json!({}))
        .error(422, "invalid_input");
    let msg = server
        .post(
            "/generate_prompt",
            &json!({"target_embedding": targets[0], "options": {"budget": "lots"}}),
        )
        .error(422, "invalid_input");
    assert!(msg.contains("budget"), "{msg}");
    server
        .post(
            "/generate_prompt",
            &json!({"target_embedding": targets[0], "evaluate_qualty": true}),
        )
        .error(422, "invalid_input");
    server
        .post(
            "/generate_prompt",
            &json!({"target_embedding": targets[0], "options": {"budget": 1000}}),
        )
        .error(422, "invalid_input");
    server
        .send(
            "POST",
            "/generate_prompt",
            Some(&json!({"target_embedding": targets[0]}).to_string()),
            &[],
        )
        .error(415, "unsupported_media_type");
    server
        .post("/generate_prompts_batch", &json!({"embeddings": []}))
        .error(422, "invalid_input");
    let nine: Vec<Value> = (0..9).map(|_| targets[0].clone()).collect();
    let msg = server
        .post("/generate_prompts_batch", &json!({"embeddings": nine}))
        .error(422, "invalid_input");
    assert!(msg.contains("max_batch_items"), "{msg}");
    server
        .post("/generate_prompts_parallel", &json!({"embeddings": nine}))
        .error(422, "invalid_input");
    // A request's work is bounded before it is queued: 8 targets × (32 variants +
    // budget 64) is over the default max_request_work of 512.
    let eight: Vec<Value> = (0..8).map(|_| targets[0].clone()).collect();
    let heavy = json!({"budget": 64, "variants": 32});
    for (path, body) in [
        (
            "/generate_prompts_batch",
            json!({"embeddings": eight, "options": heavy}),
        ),
        (
            "/interpolate",
            json!({"from": {"text": BEES}, "to": {"text": CHESS}, "steps": 8, "options": heavy}),
        ),
    ] {
        let msg = server.post(path, &body).error(422, "invalid_input");
        assert!(msg.contains("max_request_work"), "{path}: {msg}");
    }
    let big = format!(
        r#"{{"text": "{}"}}"#,
        "word ".repeat(20_000) // 100 KB > 64 KiB
    );
    server
        .post_raw("/generate_prompt_from_text", &big)
        .error(413, "payload_too_large");
    server.get("/no/such/route").error(404, "not_found");
    server
        .get("/generate_prompt")
        .error(405, "method_not_allowed");

    // Docs: Swagger UI (vendored) and the OpenAPI document.
    let r = server.get("/docs/");
    assert_eq!(r.status, 200, "{}", r.headers);
    assert!(r.body.to_lowercase().contains("swagger"), "{}", r.body);
    let r = server.get("/api-doc/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    for path in [
        "/health",
        "/generate_prompt",
        "/generate_prompt_from_text",
        "/generate_prompts_batch",
        "/generate_prompts_parallel",
        "/metrics",
        "/v1/embeddings",
        "/v1/chat/completions",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }

    // Metrics: requests by route and status, durations, queue, backends, tokens.
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("text/plain"), "{}", r.headers);
    let text = r.body;
    for needle in [
        r#"vec2prompt_http_requests_total{route="/generate_prompt",method="POST",status="200"}"#,
        r#"vec2prompt_http_requests_total{route="/generate_prompt",method="POST",status="422"}"#,
        r#"vec2prompt_http_request_duration_seconds_bucket{route="/generate_prompt",le="0.1"}"#,
        "vec2prompt_queue_depth",
        "vec2prompt_queue_capacity 64",
        r#"vec2prompt_backend_calls_total{backend="llm"}"#,
        r#"vec2prompt_backend_calls_total{backend="embedder"}"#,
        r#"vec2prompt_backend_retries_total{backend="llm"} 0"#,
        "vec2prompt_generated_tokens_total",
        "vec2prompt_worker_batch_jobs_bucket",
        "vec2prompt_llm_forward_passes_total",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    let counter = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    };
    let tokens = counter("vec2prompt_generated_tokens_total");
    assert!(tokens > 0.0, "{text}");
    // Every generated token took a forward pass (a batch's step counts once).
    let passes = counter("vec2prompt_llm_forward_passes_total");
    assert!(passes > 0.0 && passes <= tokens + 64.0, "{text}");

    // Remote backends: a second server whose LLM is this one, through the OpenAI client.
    let remote = Server::start(&[
        "--llm-base-url",
        &format!("http://{}/v1", server.addr),
        "--llm-model",
        "smollm2",
        "--rate-limits",
        "tier_1",
    ]);
    let h = remote.get("/health").json();
    assert_eq!(h["llm"]["backend"], "openai", "{h}");
    assert_eq!(h["llm"]["name"], "smollm2");
    let r = remote.post(
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let text = remote.get("/metrics").body;
    assert!(
        text.contains(r#"vec2prompt_backend_retries_total{backend="remote"} 0"#),
        "{text}"
    );
    drop(remote);

    // Still serving after all of that.
    assert_eq!(server.get("/health").status, 200, "{}", server.log());
}

#[test]
fn auth_overload_and_graceful_shutdown() {
    if !models_present() {
        return;
    }
    // A shutdown deadline far beyond the in-flight chat below, however loaded the machine.
    let mut server = Server::start(&[
        "--api-key",
        "s3cret",
        "--queue-capacity",
        "1",
        "--shutdown-timeout-ms",
        "600000",
    ]);
    let body = json!({"model": "m", "input": "hello"});

    // /health is open; everything else needs the key.
    let h = server.get("/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["auth_required"], true);
    let msg = server
        .post("/v1/embeddings", &body)
        .error(401, "unauthorized");
    assert!(msg.contains("Authorization"), "{msg}");
    let r = server.post_key("/v1/embeddings", &body, "wrong");
    assert!(
        r.headers
            .to_lowercase()
            .contains("www-authenticate: bearer"),
        "{}",
        r.headers
    );
    r.error(401, "unauthorized");
    server
        .post_key("/v1/embeddings", &body, "s3cret1")
        .error(401, "unauthorized");
    assert_eq!(
        server.post_key("/v1/embeddings", &body, "s3cret").status,
        200
    );
    server.get("/metrics").error(401, "unauthorized");
    server
        .get("/api-doc/openapi.json")
        .error(401, "unauthorized");
    let ok = server.send(
        "GET",
        "/metrics",
        None,
        &[("Authorization", "Bearer s3cret")],
    );
    assert_eq!(ok.status, 200);

    // Queue capacity 1: of simultaneous requests, the extra ones get 429 at once.
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let chat = json!({"messages": [{"role": "user", "content": "Write a long story about a dragon."}], "max_tokens": 48});
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (addr, barrier, chat) = (server.addr.clone(), barrier.clone(), chat.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let auth = "Bearer s3cret";
                let r = send(
                    &addr,
                    "POST",
                    "/v1/chat/completions",
                    Some(&chat.to_string()),
                    &[
                        ("Content-Type", "application/json"),
                        ("Authorization", auth),
                    ],
                );
                (r.status, r.body)
            })
        })
        .collect();
    let replies: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = replies.iter().filter(|(s, _)| *s == 200).count();
    let busy: Vec<&String> = replies
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, b)| b)
        .collect();
    assert!(
        ok >= 1 && !busy.is_empty() && ok + busy.len() == n,
        "{replies:?}"
    );
    let v: Value = serde_json::from_str(busy[0]).unwrap();
    assert_eq!(v["error_type"], "overloaded", "{v}");
    let r = server.send(
        "GET",
        "/metrics",
        None,
        &[("Authorization", "Bearer s3cret")],
    );
    assert!(
        !r.body.contains("vec2prompt_queue_rejected_total 0\n"),
        "{}",
        r.body
    );

    // SIGTERM while a request is in flight: the request completes, then the server exits 0.
    let addr = server.addr.clone();
    let in_flight = std::thread::spawn(move || {
        send(
            &addr,
            "POST",
            "/v1/chat/completions",
            Some(&chat.to_string()),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer s3cret"),
            ],
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    let killed = Command::new("kill")
        .args(["-TERM", &server.served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let mut waited = 0;
    let status = loop {
        if let Some(s) = server.served.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            waited < 600,
            "the server did not exit after SIGTERM: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    };
    assert_eq!(status.code(), Some(0), "{}", server.log());
    std::thread::sleep(Duration::from_millis(100));
    let log = server.log();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        TcpStream::connect(&server.addr).is_err(),
        "still accepting connections"
    );
}

#[test]
fn committed_openapi_matches_print_schema() {
    let out = bin().arg("print-schema").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        printed == committed,
        "docs/openapi.json is out of date: run `vec2prompt print-schema > docs/openapi.json`"
    );
    let doc: Value = serde_json::from_str(&printed).unwrap();
    assert!(doc["paths"]["/generate_prompts_parallel"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
