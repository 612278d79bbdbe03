//! Every command with an embedder that is not the default: an OpenAI-compatible service
//! (the fault-injecting test server of the client tests) making 32-dimensional vectors,
//! and a tiny sentence-transformers directory of the same width written by the test.
//! `ingest` through the service under 429 with Retry-After, 5xx and dropped connections
//! resumes after a failure and loses nothing; the learned models are trained for the
//! embedder's width; a model trained for another embedder is refused; `generate` and
//! `serve` run on it.

mod common;
#[path = "../../openai/tests/support/mod.rs"]
mod support;
#[path = "../../embed/tests/support/tiny_st.rs"]
mod tiny_st;

use common::{Served, TOPICS, bin, models_present};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::{Reply, Request, TestServer};

const DIM: usize = 32;

fn fnv(text: &str, seed: u64) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The test service's embedding: a normalized bag of hashed words, so texts that share
/// words are near (the learned models have something to learn) and every vector is a
/// function of its text alone (a stored vector shows which text it was made from).
fn tiny_vector(text: &str) -> Vec<f32> {
    let mut v = [0f32; DIM];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = word.to_lowercase();
        let h = fnv(&w, 0);
        v[(h % DIM as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / norm).collect()
}

fn inputs(request: &Request) -> Vec<String> {
    request.body["input"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn embeddings(texts: &[String]) -> Reply {
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .rev() // out of order: the client must place each vector by its index
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": tiny_vector(t)}))
        .collect();
    Reply::json(
        200,
        json!({"object": "list", "data": data, "model": "tiny-32",
               "usage": {"prompt_tokens": 5, "total_tokens": 5}}),
    )
}

/// What the service did, and how it misbehaves.
#[derive(Default)]
struct Service {
    /// Answer every request with 500.
    broken: AtomicBool,
    /// Successful answers left before the service breaks (when set).
    ok_left: Mutex<Option<usize>>,
    /// Fail the first attempt of about three batches in four (429 with Retry-After,
    /// 503, a dropped connection), by the batch's content, so the faults do not depend
    /// on how parallel requests interleave.
    faults: AtomicBool,
    /// Attempts seen per batch.
    attempts: Mutex<HashMap<String, usize>>,
    /// Texts embedded in successful answers.
    embedded: AtomicUsize,
    /// Faults injected: (429, 5xx, drops).
    injected: Mutex<(usize, usize, usize)>,
}

impl Service {
    fn answer(&self, request: &Request) -> Reply {
        if request.path != "/v1/embeddings" {
            return Reply::json(404, json!({"error": {"message": "no such route"}}));
        }
        let texts = inputs(request);
        if self.broken.load(Ordering::SeqCst) {
            return Reply::raw(500, "down for maintenance");
        }
        let key = texts.join("\u{1}");
        let attempt = {
            let mut seen = self.attempts.lock().unwrap();
            let n = seen.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if self.faults.load(Ordering::SeqCst) && attempt == 1 {
            let mut injected = self.injected.lock().unwrap();
            match fnv(&key, 7) % 4 {
                0 => {
                    injected.0 += 1;
                    return Reply::json(429, json!({"error": {"message": "slow down"}}))
                        .with_header("retry-after", "1");
                }
                1 => {
                    injected.1 += 1;
                    return Reply::raw(503, "overloaded");
                }
                2 => {
                    injected.2 += 1;
                    return Reply::Drop;
                }
                _ => {}
            }
        }
        {
            let mut left = self.ok_left.lock().unwrap();
            if let Some(n) = left.as_mut() {
                if *n == 0 {
                    self.broken.store(true, Ordering::SeqCst);
                    return Reply::raw(500, "down for maintenance");
                }
                *n -= 1;
            }
        }
        self.embedded.fetch_add(texts.len(), Ordering::SeqCst);
        embeddings(&texts)
    }
}

fn start(service: Arc<Service>) -> TestServer {
    TestServer::start(move |_, r| service.answer(r))
}

/// `n` synthetic instruction rows (Alpaca fields) in JSONL.
fn write_jsonl(path: &Path, n: usize) {
    let mut s = String::new();
    for i in 0..n {
        let topic = TOPICS[i % TOPICS.len()];
        let row = json!({
            "instruction": format!("Write one sentence about {topic} (variant {i})."),
            "input": "",
            "output": format!("Here is a sentence about {topic}: it is remarkable, number {i}."),
        });
        s.push_str(&row.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn vectors(dataset: &Path, column: &str) -> Vec<Vec<f32>> {
    std::fs::read(dataset.join(format!("embeddings/{column}.f32")))
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect::<Vec<f32>>()
        .chunks_exact(DIM)
        .map(<[f32]>::to_vec)
        .collect()
}

/// The texts of a column, from the dataset's records.
fn texts(dataset: &Path, column: &str) -> Vec<String> {
    std::fs::read_to_string(dataset.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            let field = if column == "outputs" {
                "output"
            } else {
                "prompt"
            };
            r[field].as_str().unwrap().to_string()
        })
        .collect()
}

/// Every stored vector is the one of its own text, in order.
fn assert_exact(dataset: &Path, column: &str, expected: usize) {
    let stored = vectors(dataset, column);
    assert_eq!(stored.len(), expected, "{column}");
    for (i, (v, t)) in stored.iter().zip(texts(dataset, column)).enumerate() {
        assert_eq!(
            v,
            &tiny_vector(&t),
            "{column}[{i}] is not the vector of its text"
        );
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn ingest_through_a_faulty_remote_embedder_resumes_and_loses_nothing() {
    let service = Arc::new(Service::default());
    let server = start(service.clone());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    let n = 120;
    write_jsonl(&input, n);
    let dataset = dir.path().join("ds");
    let ingest = |extra: &[&str]| {
        bin()
            .args(["ingest", "--batch", "16", "--input"])
            .arg(&input)
            .arg("--dataset")
            .arg(&dataset)
            .args(["--embedder-base-url", &server.base_url()])
            .args(["--embedder-model", "tiny-32", "--embedder-dimensions", "32"])
            .args(["--embed-batch", "8", "--rate-limits", "tier_5"])
            .args(extra)
            .output()
            .unwrap()
    };

    // The service breaks after five answers; with two attempts per request the ingest
    // stops with a clear error, keeping only whole, correct batches.
    *service.ok_left.lock().unwrap() = Some(5);
    let out = ingest(&["--retry-attempts", "2"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("500") && err.contains("down for maintenance"),
        "{err}"
    );
    let partial = vectors(&dataset, "outputs").len();
    assert!(
        partial > 0 && partial < n && partial.is_multiple_of(16),
        "{partial}"
    );
    assert_exact(&dataset, "outputs", partial);

    // Back up, but faulty: every fault is retried (429 after its Retry-After) and the
    // rerun embeds exactly the missing texts, once each.
    service.broken.store(false, Ordering::SeqCst);
    *service.ok_left.lock().unwrap() = None;
    service.faults.store(true, Ordering::SeqCst);
    let before = service.embedded.load(Ordering::SeqCst);
    let out = ingest(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_exact(&dataset, "outputs", n);
    assert_exact(&dataset, "prompts", n);
    let embedded = service.embedded.load(Ordering::SeqCst) - before;
    assert_eq!(embedded, (n - partial) + n, "texts embedded by the rerun");
    let (too_many, unavailable, dropped) = *service.injected.lock().unwrap();
    assert!(
        too_many > 0 && unavailable > 0 && dropped > 0,
        "faults injected: {too_many} 429, {unavailable} 503, {dropped} drops"
    );
    // The 429s asked for a second's pause, and the client waited for it.
    let waited = server
        .requests()
        .windows(2)
        .any(|w| w[1].at - w[0].at >= std::time::Duration::from_millis(900));
    assert!(waited, "no pause after a Retry-After");

    // A third run has nothing to do.
    let before = service.embedded.load(Ordering::SeqCst);
    let out = ingest(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(service.embedded.load(Ordering::SeqCst), before);
}

const TINY_TRAIN: &str = "
surrogate:
  model: {dim: 384, hidden: 32}
  train: {epochs: 2, batch_size: 16, warmup: 2, checkpoint_seconds: 0}
inverter:
  {dim: 32, layers: 1, heads: 2, hidden: 32, prefix: 2, max_tokens: 24, vocab: 300,
   aux_fraction: 0.1, train: {epochs: 2, batch_size: 8, warmup: 2, checkpoint_seconds: 0}}
";

fn get(url: &str) -> Value {
    let mut r = ureq::get(url).call().unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn a_32_dimension_embedder_end_to_end() {
    if !models_present() {
        return;
    }
    let service = Arc::new(Service::default());
    let server = start(service.clone());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    write_jsonl(&input, 240);
    let dataset = dir.path().join("ds");
    let latent = dir.path().join("latent");
    // The embedder comes from a config file, its key from a file of its own; no
    // `dimensions`, so the client learns the width from a probe.
    let key = dir.path().join("key");
    std::fs::write(&key, "sk-test-key\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "backends:\n  embedder:\n    kind: openai\n    base_url: {}\n    model: tiny-32\n    \
             api_key_file: {}\n  rate_limits: tier_5\n",
            server.base_url(),
            key.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = bin()
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), stderr(&out), out.stdout)
    };
    let ds = dataset.to_str().unwrap();
    let lat = latent.to_str().unwrap();
    let (ok, err, _) = run(&[
        "ingest",
        "--input",
        input.to_str().unwrap(),
        "--dataset",
        ds,
    ]);
    assert!(ok, "{err}");
    assert_exact(&dataset, "outputs", 240);
    let auth = server.requests()[0]
        .header("authorization")
        .map(str::to_string);
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-key"));

    // Both learned models take their width from the dataset's embedder.
    let train_config = dir.path().join("train.yaml");
    std::fs::write(&train_config, TINY_TRAIN).unwrap();
    for model in ["surrogate", "inverter"] {
        let (ok, err, _) = run(&[
            "train",
            model,
            "--quiet",
            "--dataset",
            ds,
            "--out",
            lat,
            "--train-config",
            train_config.to_str().unwrap(),
        ]);
        assert!(ok, "{model}: {err}");
    }
    let shape: Value =
        serde_json::from_slice(&std::fs::read(latent.join("surrogate.json")).unwrap()).unwrap();
    assert_eq!(shape["dim"], DIM, "{shape}");
    let trained: Value =
        serde_json::from_slice(&std::fs::read(latent.join("embedder.json")).unwrap()).unwrap();
    assert_eq!(trained["name"], "tiny-32");
    assert_eq!(trained["dimension"], DIM);

    let generate = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--budget",
            "0",
            "--json",
            "--target-text",
            "a sentence about the ocean",
            "--latent",
            lat,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (ok, err, stdout) = generate(&["--dataset", ds]);
    assert!(ok, "{err}");
    let json: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(json["result"]["llm_calls"], 0);
    assert!(
        !json["result"]["best"]["prompt"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Models trained for this embedder are refused with another one: the local
    // 384-dimensional default, or another service's model of the same width.
    let nowhere = dir.path().join("no-dataset");
    let nowhere = nowhere.to_str().unwrap();
    let (ok, err, _) = generate(&["--embedder-kind", "local", "--dataset", nowhere]);
    assert!(!ok);
    assert!(
        err.contains("trained for 32-dimensional embeddings") && err.contains("384"),
        "{err}"
    );
    let (ok, err, _) = generate(&["--embedder-model", "other-32", "--dataset", nowhere]);
    assert!(!ok);
    assert!(
        err.contains("trained for the embedder tiny-32") && err.contains("other-32"),
        "{err}"
    );
    // Training into the directory with another embedder is refused too.
    let (ok, err, _) = run(&[
        "--embedder-kind",
        "local",
        "train",
        "surrogate",
        "--dataset",
        ds,
        "--out",
        lat,
    ]);
    assert!(!ok);
    assert!(err.contains("tiny-32"), "{err}");

    // The server states the configured width and serves it.
    let served = Served::start(&[
        "--config",
        config.to_str().unwrap(),
        "--latent",
        lat,
        "--dataset",
        ds,
    ]);
    let health = get(&format!("{}/health", served.url));
    assert_eq!(health["embedding_dimension"], DIM, "{health}");
    assert_eq!(health["embedder"]["backend"], "openai", "{health}");
    let doc = get(&format!("{}/api-doc/openapi.json", served.url));
    let target =
        &doc["components"]["schemas"]["GeneratePromptRequest"]["properties"]["target_embedding"];
    assert!(
        target.to_string().contains(&format!("\"minItems\":{DIM}")),
        "{target}"
    );
    let (status, body) = served.post(
        "/generate_prompt",
        &json!({"target_embedding": tiny_vector("a sentence about chess")}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body["prompt"].as_str().unwrap().is_empty(), "{body}");
    let (status, body) = served.post(
        "/generate_prompt",
        &json!({"target_embedding": vec![0.05f32; 384]}),
    );
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body["error"].as_str().unwrap().contains("32"), "{body}");
}

/// `n` rows written in the tiny BERT's vocabulary, so their embeddings differ.
fn write_tiny_vocabulary_rows(path: &Path, n: usize) {
    let animals = ["cat", "dog", "fox"];
    let colours = ["big", "red", "brown", "lazy", "quick"];
    let verbs = [
        "sat on the mat",
        "ran far away",
        "jumps over the dog",
        "sat",
    ];
    let mut s = String::new();
    for i in 0..n {
        let (a, c, v) = (animals[i % 3], colours[(i / 3) % 5], verbs[(i / 15) % 4]);
        let row = json!({
            "instruction": format!("hello the {c} {a} ?"),
            "input": "",
            "output": format!("the {c} {a} {v} and the world ."),
        });
        s.push_str(&row.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn a_small_sentence_transformers_directory_end_to_end() {
    if !models_present() {
        return; // `generate` answers with the real local LLM
    }
    let tiny = tiny_st::TinyDir::new(vec2prompt_core::Pooling::Mean, true);
    let embedder = tiny.dir.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    write_tiny_vocabulary_rows(&input, 240);
    let ds = dir.path().join("ds");
    let lat = dir.path().join("latent");
    let (ds, lat) = (ds.to_str().unwrap(), lat.to_str().unwrap());
    let run = |args: &[&str]| {
        let out = bin().args(args).output().unwrap();
        (out.status.success(), stderr(&out), out.stdout)
    };
    let with_tiny = |args: &[&str]| {
        let mut all = vec!["--embedder", embedder];
        all.extend_from_slice(args);
        run(&all)
    };
    let (ok, err, _) = with_tiny(&[
        "ingest",
        "--input",
        input.to_str().unwrap(),
        "--dataset",
        ds,
    ]);
    assert!(ok, "{err}");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(Path::new(ds).join("embeddings/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["embedder"]["dimension"], tiny_st::HIDDEN);
    let train_config = dir.path().join("train.yaml");
    std::fs::write(&train_config, TINY_TRAIN).unwrap();
    for model in ["surrogate", "inverter"] {
        let (ok, err, _) = with_tiny(&[
            "train",
            model,
            "--quiet",
            "--dataset",
            ds,
            "--out",
            lat,
            "--train-config",
            train_config.to_str().unwrap(),
        ]);
        assert!(ok, "{model}: {err}");
    }
    let trained: Value =
        serde_json::from_slice(&std::fs::read(Path::new(lat).join("embedder.json")).unwrap())
            .unwrap();
    assert_eq!(trained["name"], "tiny-bert");
    assert_eq!(trained["dimension"], tiny_st::HIDDEN);
    let generate = [
        "generate",
        "--budget",
        "0",
        "--json",
        "--target-text",
        "the red fox",
    ];
    let (ok, err, stdout) =
        with_tiny(&[&generate[..], &["--latent", lat, "--dataset", ds]].concat());
    assert!(ok, "{err}");
    let json: Value = serde_json::from_slice(&stdout).unwrap();
    assert!(
        !json["result"]["best"]["prompt"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // The default embedder (all-MiniLM-L6-v2, 384 dimensions) refuses both the dataset
    // and the models.
    let (ok, err, _) = run(&[&generate[..], &["--latent", lat, "--dataset", ds]].concat());
    assert!(!ok);
    assert!(
        err.contains("tiny-bert") && err.contains("all-MiniLM-L6-v2"),
        "{err}"
    );
    let nowhere = dir.path().join("no-dataset");
    let (ok, err, _) = run(&[
        &generate[..],
        &["--latent", lat, "--dataset", nowhere.to_str().unwrap()],
    ]
    .concat());
    assert!(!ok);
    assert!(
        err.contains("trained for 32-dimensional embeddings"),
        "{err}"
    );
}
