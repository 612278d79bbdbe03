//! End-to-end tests of walking the latent space and of the playground page: the real
//! binary serving the real models, `/interpolate` and centroid targets over HTTP, and the
//! page driven in headless Chromium through ChromeDriver (Debian's `chromium` and
//! `chromium-driver`). Without them the browser test fails with a clear message, unless
//! `VEC2PROMPT_SKIP_BROWSER=1` says to skip it.

mod common;

use base64::Engine;
use common::{Served, models_present};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FROM: &str = "Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep.";
const TO: &str = "Paris is the capital and largest city of France, on the river Seine.";

/// The server as a new user first meets it: the shipped learned model, no dataset (an
/// empty directory, so an ingested `$VEC2PROMPT_HOME/datasets/alpaca` is not picked up).
/// `VEC2PROMPT_PLAYGROUND_DATASET` serves a dataset instead (`make screenshot` uses it).
fn serve_without_dataset() -> Served {
    if let Some(d) = std::env::var_os("VEC2PROMPT_PLAYGROUND_DATASET") {
        return Served::start(&["--dataset", &d.to_string_lossy()]);
    }
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-dataset");
    std::fs::create_dir_all(&empty).unwrap();
    Served::start(&["--dataset", empty.to_str().unwrap()])
}

#[test]
fn interpolate_walks_between_two_texts_and_centroids_are_targets() {
    if !models_present() {
        return;
    }
    let s = serve_without_dataset();
    let (status, r) = s.post(
        "/interpolate",
        &json!({
            "from": {"text": FROM}, "to": {"text": TO}, "steps": 3,
            "evaluate_quality": true, "options": {"budget": 0, "return_vectors": true}
        }),
    );
    assert_eq!(status, 200, "{r}");
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    let ts: Vec<f64> = points.iter().map(|p| p["t"].as_f64().unwrap()).collect();
    assert_eq!(ts, vec![0.0, 0.5, 1.0]);
    for p in points {
        assert!(!p["prompt"].as_str().unwrap().is_empty());
        for k in ["similarity", "similarity_to_start", "similarity_to_end"] {
            let x = p[k].as_f64().unwrap_or_else(|| panic!("{k} measured: {p}"));
            assert!((-1.0..=1.0).contains(&x));
        }
        assert_eq!(p["vector"].as_array().unwrap().len(), 384);
        assert_eq!(p["llm_calls"], 0, "fast mode chooses without the LLM");
    }
    assert_eq!(r["llm_calls"], 0);
    assert_eq!(r["evaluation_llm_calls"], 3);
    assert_eq!(r["from_vector"].as_array().unwrap().len(), 384);
    // The first point is the start itself: its answer is at least as close to the start
    // as to the end, and the other way round at the end.
    let at = |i: usize, k: &str| points[i][k].as_f64().unwrap();
    assert!(
        at(0, "similarity_to_start") >= at(0, "similarity_to_end") - 0.05,
        "{r}"
    );
    assert!(
        at(2, "similarity_to_end") >= at(2, "similarity_to_start") - 0.05,
        "{r}"
    );

    // Without return_vectors no vector is sent.
    let (status, r) = s.post(
        "/interpolate",
        &json!({"from": {"text": FROM}, "to": {"texts": [TO, "The Eiffel Tower is in Paris."]}, "steps": 2, "path": "linear"}),
    );
    assert_eq!(status, 200, "{r}");
    assert!(r.get("from_vector").is_none() && r["points"][0].get("vector").is_none());
    assert!(
        r["points"][0]["similarity"].is_null(),
        "not measured without evaluate_quality"
    );

    // Bad requests are 422 with the API's error shape, naming the field.
    for (body, field) in [
        (
            json!({"from": {"text": FROM}, "to": {"text": TO}, "steps": 1}),
            "steps",
        ),
        (
            json!({"from": {"text": FROM, "embedding": [1.0]}, "to": {"text": TO}}),
            "from",
        ),
        (
            json!({"from": {"text": "  "}, "to": {"text": TO}}),
            "from.text",
        ),
        (
            json!({"from": {"embedding": [1.0, 2.0]}, "to": {"text": TO}}),
            "from.embedding",
        ),
        (
            json!({"from": {"text": FROM}, "to": {"text": TO, "weights": [1.0]}}),
            "to.weights",
        ),
    ] {
        let (status, r) = s.post("/interpolate", &body);
        assert_eq!(status, 422, "{body} -> {r}");
        assert_eq!(r["error_type"], "invalid_input", "{r}");
        assert!(
            r["error"].as_str().unwrap().contains(field),
            "{body} -> {r}"
        );
    }
    let (status, r) = s.post("/interpolate", &json!({"from": {"text": FROM}}));
    assert!((400..500).contains(&status), "{r}");

    // A centroid of texts, and of vectors, is accepted wherever a target is.
    let (status, r) = s.post(
        "/generate_prompt_from_text",
        &json!({"text": [FROM, "Drink water and walk every day."], "options": {"budget": 0}}),
    );
    assert_eq!(status, 200, "{r}");
    assert!(!r["prompt"].as_str().unwrap().is_empty());
    let (_, e) = s.post("/v1/embeddings", &json!({"input": [FROM, TO]}));
    let v = |i: usize| e["data"][i]["embedding"].clone();
    let (status, r) = s.post(
        "/generate_prompt",
        &json!({"target_embedding": [v(0), v(1)], "options": {"budget": 0}}),
    );
    assert_eq!(status, 200, "{r}");
    let (status, r) = s.post(
        "/generate_prompt",
        &json!({"target_embedding": [v(0), [1.0, 2.0]], "options": {"budget": 0}}),
    );
    assert_eq!(status, 422, "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("target_embedding[1]"),
        "{r}"
    );
}

/// A WebDriver session on ChromeDriver, over plain HTTP.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    p.exists().then_some(p)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    fn start() -> Browser {
        let hint = "install Debian's chromium and chromium-driver (apt-get install chromium \
                    chromium-driver; .ci/run does), point VEC2PROMPT_CHROMIUM / \
                    VEC2PROMPT_CHROMEDRIVER at them, or set VEC2PROMPT_SKIP_BROWSER=1 to skip \
                    the browser test";
        let chromium = tool("VEC2PROMPT_CHROMIUM", "/usr/bin/chromium")
            .unwrap_or_else(|| panic!("Chromium not found: {hint}"));
        let driver_bin = tool("VEC2PROMPT_CHROMEDRIVER", "/usr/bin/chromedriver")
            .unwrap_or_else(|| panic!("ChromeDriver not found: {hint}"));
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {hint}", driver_bin.display()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let started = Instant::now();
        while b.get("/status").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ChromeDriver did not answer on port {port}; {hint}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let profile = tempfile::tempdir().unwrap().keep();
        // The flags keep Chromium from reaching for the network at start (closed here).
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1200",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let r = b.post("/session", &caps);
        b.session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start ({r}); {hint}"))
            .to_string();
        b
    }

    fn get(&self, path: &str) -> Option<Value> {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .ok()?;
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
        Some(v["value"].clone())
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        v["value"].clone()
    }

    fn cmd(&self, path: &str, body: &Value) -> Value {
        self.post(&format!("/session/{}{path}", self.session), body)
    }

    fn go(&self, url: &str) {
        self.cmd("/url", &json!({"url": url}));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd("/execute/sync", &json!({"script": script, "args": []}))
    }

    fn element(&self, css: &str) -> String {
        let v = self.cmd("/element", &json!({"using": "css selector", "value": css}));
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd(&format!("/element/{id}/click"), &json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.cmd(&format!("/element/{id}/clear"), &json!({}));
        self.cmd(&format!("/element/{id}/value"), &json!({"text": text}));
    }

    /// Waits until the page says `done` or shows an error; returns the error text if any.
    fn wait_done(&self, limit: Duration) -> Option<String> {
        let started = Instant::now();
        loop {
            let state = self.js(
                "const e = document.getElementById('error');\
                 return [document.getElementById('progress').textContent, e.hidden ? '' : e.textContent];",
            );
            if let Some(err) = state[1].as_str().filter(|e| !e.is_empty()) {
                return Some(err.to_string());
            }
            if state[0] == "done" {
                return None;
            }
            assert!(
                started.elapsed() < limit,
                "the page never finished: {state}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn screenshot(&self) -> Vec<u8> {
        let v = self
            .get(&format!("/session/{}/screenshot", self.session))
            .expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("valid base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn playground_in_a_real_browser() {
    if std::env::var("VEC2PROMPT_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: playground browser test (VEC2PROMPT_SKIP_BROWSER=1)");
        return;
    }
    if !models_present() {
        return;
    }
    let s = serve_without_dataset();
    let b = Browser::start();
    b.go(&format!("{}/", s.url));
    // The status line comes from /health.
    let started = Instant::now();
    while !b
        .js("return document.getElementById('status').textContent")
        .as_str()
        .is_some_and(|t| t.contains("embedder"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no health status"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // An empty target is refused on the page, clearly.
    b.click("#run");
    let err = b.wait_done(Duration::from_secs(10)).expect("an error");
    assert!(err.contains("target text"), "{err}");

    // Fast mode, then one measured LLM call.
    b.type_into("#target-text", FROM);
    b.js("document.getElementById('budget').value = '0'");
    b.click("#run");
    assert_eq!(b.wait_done(Duration::from_secs(60)), None);
    let prompt = b.js("return document.getElementById('result-prompt').textContent");
    assert!(
        !prompt.as_str().unwrap_or_default().trim().is_empty(),
        "{prompt}"
    );
    let sim = b.js("return document.getElementById('result-similarity').textContent");
    assert!(
        sim.as_str().unwrap().contains("predicted similarity"),
        "{sim}"
    );
    // The word-list setting reaches the search: a non-default margin names itself.
    b.js("document.getElementById('content-margin').value = '2'");
    b.click("#run");
    assert_eq!(b.wait_done(Duration::from_secs(60)), None);
    let meta = b.js("return document.getElementById('result-meta').textContent");
    assert!(meta.as_str().unwrap().contains("fast-c2"), "{meta}");
    b.js("document.getElementById('content-margin').value = '0.1'");
    b.js("document.getElementById('budget').value = '1'");
    b.click("#run");
    assert_eq!(b.wait_done(Duration::from_secs(180)), None);
    let sim = b.js("return document.getElementById('result-similarity').textContent");
    assert!(
        sim.as_str().unwrap().contains("measured similarity"),
        "{sim}"
    );
    let rows = b.js("return document.querySelectorAll('#variants-table tbody tr').length");
    assert!(rows.as_u64().unwrap() >= 1, "{rows}");
    let answer = b.js("return document.getElementById('result-answer').textContent");
    assert!(!answer.as_str().unwrap().contains("no answer"), "{answer}");
    // The map drew the target, the predicted answers and the real answer.
    let drawn = b.js("return parseInt(document.getElementById('map').dataset.points, 10)");
    assert!(drawn.as_u64().unwrap() >= 3, "{drawn}");
    let png = b.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("playground.png");
    std::fs::write(&out, &png).unwrap();
    if let Some(p) = std::env::var_os("VEC2PROMPT_SCREENSHOT") {
        std::fs::write(&p, &png).unwrap();
    }

    // The interpolation tab: a path of 3 points, and the slider moves along it.
    b.click("#tab-interpolate");
    b.type_into("#from-text", FROM);
    b.type_into("#to-text", TO);
    b.js("document.getElementById('steps').value = '3'; document.getElementById('budget').value = '0'");
    b.click("#run");
    assert_eq!(b.wait_done(Duration::from_secs(60)), None);
    let max = b.js("return document.getElementById('slider').max");
    assert_eq!(max, "2");
    b.js("const s = document.getElementById('slider'); s.value = '2'; s.dispatchEvent(new Event('input'));");
    let label = b.js("return document.getElementById('slider-label').textContent");
    assert!(label.as_str().unwrap().starts_with("3 of 3"), "{label}");
    let drawn = b.js("return parseInt(document.getElementById('map').dataset.points, 10)");
    assert!(drawn.as_u64().unwrap() >= 5, "{drawn}");

    // With an API key on the server, the page loads without it, asks for it, and sends it.
    drop(s);
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-dataset");
    let keyed = Served::start(&["--dataset", empty.to_str().unwrap(), "--api-key", "s3cret"]);
    b.js("sessionStorage.clear()");
    b.go(&format!("{}/playground", keyed.url));
    let started = Instant::now();
    while b.js("return document.getElementById('auth').hidden") != json!(false) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the page never asked for the key"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.type_into("#target-text", FROM);
    b.js("document.getElementById('budget').value = '0'");
    b.click("#run");
    let err = b
        .wait_done(Duration::from_secs(30))
        .expect("refused without the key");
    assert!(err.contains("401"), "{err}");
    b.type_into("#api-key", "s3cret");
    b.click("#save-key");
    b.click("#run");
    assert_eq!(b.wait_done(Duration::from_secs(60)), None);
    assert_eq!(
        b.js("return document.getElementById('auth').hidden"),
        json!(true)
    );

    // The optimizer tab tells plainly when the server has no optimizer.
    b.click("#tab-optimize");
    b.type_into("#raw-prompt", "create function");
    b.click("#run");
    let shown = b.wait_done(Duration::from_secs(30));
    if let Some(e) = shown {
        assert!(e.contains("optimizer"), "{e}");
    }
}
