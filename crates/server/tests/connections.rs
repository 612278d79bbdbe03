//! Resource control over real TCP connections: a client that hangs up has its generation
//! cancelled within a decoding step (and its admission is held until then), header and
//! body timeouts, the connection cap, and a shutdown deadline that slow clients cannot
//! stretch.

mod common;

use common::{TestServer, read_reply};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vec2prompt_server::ServerConfig;

/// The tests of this file share one process, hence one LLM and one metrics recorder:
/// those that decode take turns, so each reads only its own work in the counters.
static DECODING: Mutex<()> = Mutex::new(());

/// The value of the unlabelled counter `name` in `/metrics` (0 when absent).
fn counter(s: &TestServer, name: &str) -> u64 {
    let r = s.get("/metrics");
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn generated_tokens(s: &TestServer) -> u64 {
    counter(s, "vec2prompt_generated_tokens_total")
}

#[test]
fn a_client_that_hangs_up_frees_the_worker_within_a_decoding_step() {
    let _turn = DECODING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = TestServer::start(ServerConfig::default()) else {
        return;
    };
    let before = generated_tokens(&s);
    let body = serde_json::json!({
        // Greedy SmolLM2 writes this essay to the token limit (a counting prompt stopped
        // after about 120 tokens, within the wait below on a fast run).
        "messages": [{"role": "user", "content": "Write a long essay about the history of Rome."}],
        "max_tokens": 512
    })
    .to_string();
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let sent = Instant::now();
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    assert!(s.wait_in_use(1, Duration::from_secs(30)).is_some());
    // Let it decode for a while, then hang up.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.in_use(), 1, "the generation ended before the client left");
    drop(c);
    let hung_up = Instant::now();
    let freed = s.wait_in_use(0, Duration::from_secs(60));
    let freed =
        freed.unwrap_or_else(|| panic!("still busy {:?} after the hang-up", hung_up.elapsed()));
    let generated = generated_tokens(&s) - before;
    // Self-calibrating on a loaded machine: this request's mean time per generated token
    // (its prefill included, so an overestimate) bounds one decoding step.
    let step = sent.elapsed().as_secs_f64() / generated.max(1) as f64;
    eprintln!(
        "freed {freed:?} after the hang-up; {generated} tokens generated, {:.0} ms per token",
        step * 1e3
    );
    assert!(
        generated < 400,
        "{generated} tokens: the generation was not cut"
    );
    assert!(
        freed.as_secs_f64() < 3.0 * step + 0.5,
        "freed only after {freed:?} at {:.0} ms per token",
        step * 1e3
    );
    // The worker is free for the next request.
    let r = s.post(
        "/v1/chat/completions",
        &serde_json::json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The LLM's and the generator's forward-pass counters.
const LLM_PASSES: &str = "vec2prompt_llm_forward_passes_total";
const GENERATOR_PASSES: &str = "vec2prompt_generator_forward_passes_total";

fn forward_passes(s: &TestServer) -> u64 {
    counter(s, LLM_PASSES)
}

/// Posts `body` to `path` over a raw connection, hangs up once the counter `name` of
/// `/metrics` has moved (the work reached the model), and checks that it stops moving
/// within a step: the value it keeps is returned.
fn hang_up_once_counted(s: &TestServer, path: &str, body: &serde_json::Value, name: &str) -> u64 {
    let body = body.to_string();
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let before = counter(s, name);
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let started = Instant::now();
    while counter(s, name) == before {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the request never reached the model ({name})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(c);
    // The step running at the hang-up finishes; after it nothing more runs for this
    // request.
    std::thread::sleep(Duration::from_secs(1));
    let after_hang_up = counter(s, name);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        counter(s, name),
        after_hang_up,
        "{name} kept rising for a request nobody waits for"
    );
    assert!(
        s.wait_in_use(0, Duration::from_secs(120)).is_some(),
        "the abandoned request still holds its admission"
    );
    after_hang_up
}

#[test]
fn a_search_whose_client_hangs_up_stops_the_llm_within_a_step() {
    let _turn = DECODING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = TestServer::start(ServerConfig::default()) else {
        return;
    };
    let r = s.post(
        "/v1/embeddings",
        &serde_json::json!({"model": "m", "input": "A short story about a lighthouse keeper and a storm."}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let target = r.json()["data"][0]["embedding"].clone();
    // Four targets at 16 answers each: seconds of batched decoding.
    let body = serde_json::json!({
        "embeddings": [target, target, target, target],
        "options": {"budget": 16},
    });
    hang_up_once_counted(&s, "/generate_prompts_batch", &body, LLM_PASSES);
    // The worker answers the next search in full.
    let r = s.post(
        "/generate_prompts_batch",
        &serde_json::json!({"embeddings": [r.json()["data"][0]["embedding"]], "options": {"budget": 1}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The shipped generator merged for inference, on the real base model.
fn shipped_generator() -> Option<std::sync::Arc<vec2prompt_latent::Generator>> {
    let base = vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct")?
        .join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let adapter = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/generator");
    let mut g = vec2prompt_latent::Generator::load(&base, &adapter).unwrap();
    g.merge_for_inference(vec2prompt_llm::WeightFormat::Q8_0)
        .unwrap();
    Some(std::sync::Arc::new(g))
}

#[test]
fn a_search_whose_client_hangs_up_stops_the_generator_within_a_step() {
    let _turn = DECODING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(generator) = shipped_generator() else {
        return;
    };
    // No dataset: the generator is the search's source, as after a fresh install.
    let Some(s) = TestServer::start_searching(ServerConfig::default(), Default::default(), |env| {
        vec2prompt_search::Searcher::with_sources(env, None, None, Some(generator))
    }) else {
        return;
    };
    let r = s.post(
        "/v1/embeddings",
        &serde_json::json!({"model": "m", "input": "A short story about a lighthouse keeper and a storm."}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let target = r.json()["data"][0]["embedding"].clone();
    // Eight targets with a budget: beams and samples for each, seconds of decoding.
    let body = serde_json::json!({
        "embeddings": vec![target.clone(); 8],
        "options": {"budget": 4},
    });
    let llm_before = forward_passes(&s);
    let after_hang_up =
        hang_up_once_counted(&s, "/generate_prompts_batch", &body, GENERATOR_PASSES);
    assert_eq!(
        forward_passes(&s),
        llm_before,
        "the LLM answered an abandoned search"
    );
    // The next search is answered in full, its prompts from the generator.
    let r = s.post(
        "/generate_prompts_batch",
        &serde_json::json!({"embeddings": [target], "options": {"budget": 1}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(counter(&s, GENERATOR_PASSES) > after_hang_up);
}

/// The shipped prompt optimizer merged for inference, on the real base model.
fn shipped_optimizer() -> Option<std::sync::Arc<vec2prompt_optimizer::service::Optimizer>> {
    let base = vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct")?
        .join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/optimizer");
    let mut model = vec2prompt_optimizer::PromptOptimizer::load(&base, &dir).unwrap();
    model
        .merge_for_inference(vec2prompt_llm::WeightFormat::Q8_0)
        .unwrap();
    model.release_training_weights().unwrap();
    Some(std::sync::Arc::new(
        vec2prompt_optimizer::service::Optimizer {
            model,
            surrogate: None,
            head: None,
        },
    ))
}

const OPTIMIZER_PASSES: &str = "vec2prompt_optimizer_forward_passes_total";

#[test]
fn a_rewrite_whose_client_hangs_up_stops_the_optimizer_within_a_step() {
    let _turn = DECODING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(optimizer) = shipped_optimizer() else {
        return;
    };
    let state = vec2prompt_server::OptimizerState {
        optimizer: Some(optimizer),
        dir: None,
        feedback: None,
    };
    let Some(s) = TestServer::start_with(ServerConfig::default(), state) else {
        return;
    };
    // Eight structured rewrites of up to 512 tokens: seconds of decoding.
    let body = serde_json::json!({
        "raw_prompt": "write poem autumn pls",
        "style": "structured",
        "num_return_sequences": 8,
        "max_length": 512,
    });
    // What the whole rewrite costs (seeded sampling: the same passes every time).
    let before = counter(&s, OPTIMIZER_PASSES);
    let r = s.post("/optimize", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let full = counter(&s, OPTIMIZER_PASSES) - before;
    let llm_before = forward_passes(&s);
    let before = counter(&s, OPTIMIZER_PASSES);
    let after_hang_up = hang_up_once_counted(&s, "/optimize", &body, OPTIMIZER_PASSES);
    let used = after_hang_up - before;
    eprintln!("the abandoned rewrite ran {used} of the {full} forward passes of a whole one");
    assert!(
        used < full,
        "the rewrite was not cut ({used} of {full} passes)"
    );
    assert_eq!(
        forward_passes(&s),
        llm_before,
        "the LLM ran for an abandoned rewrite"
    );
    // The next rewrite is answered in full.
    let r = s.post(
        "/optimize",
        &serde_json::json!({"raw_prompt": "write poem autumn pls"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(counter(&s, OPTIMIZER_PASSES) > after_hang_up);
}

#[test]
fn slow_headers_and_bodies_time_out() {
    let Some(s) = TestServer::start(ServerConfig {
        header_timeout_ms: 500,
        body_timeout_ms: 500,
        ..ServerConfig::default()
    }) else {
        return;
    };
    // Half a header: the connection is closed without a response.
    let started = Instant::now();
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let r = read_reply(&mut c);
    let took = started.elapsed();
    assert_eq!(r.status, 0, "{r:?}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // An idle keep-alive connection is closed too.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_reply(&mut c);
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Half a body: 408 in the API's shape.
    let started = Instant::now();
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(
        b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"input\": ",
    )
    .unwrap();
    let r = read_reply(&mut c);
    r.assert_error(408, "request_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let Some(s) = TestServer::start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    }) else {
        return;
    };
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = s.get("/health");
    r.assert_error(503, "unavailable");
    assert!(r.head.contains("retry-after:"), "{}", r.head);
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.get("/health").status, 200);
}

#[test]
fn slow_clients_cannot_delay_shutdown_past_its_deadline() {
    let config = ServerConfig {
        header_timeout_ms: 60_000,
        body_timeout_ms: 60_000,
        shutdown_timeout_ms: 1000,
        ..ServerConfig::default()
    };
    let Some(s) = TestServer::start(config.clone()) else {
        return;
    };
    // One client stops halfway through its header, another halfway through its body.
    let mut half_header = TcpStream::connect(s.addr).unwrap();
    half_header
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut half_body = TcpStream::connect(s.addr).unwrap();
    half_body
        .write_all(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"input\": ",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let report = s.shutdown();
    let took = started.elapsed();
    eprintln!("shutdown took {took:?}: {report:?}");
    assert!(report.deadline_passed, "{report:?}");
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    // Without slow clients, shutdown is immediate and nothing is abandoned.
    let Some(s) = TestServer::start(config) else {
        return;
    };
    assert_eq!(s.get("/health").status, 200);
    let started = Instant::now();
    let report = s.shutdown();
    assert!(!report.deadline_passed, "{report:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop((half_header, half_body));
}
