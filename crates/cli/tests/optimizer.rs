//! End-to-end tests of the prompt optimizer with the real base model and embedder: a
//! short time-boxed training (both phases, feedback simulated by the real reward), the
//! `optimize` command, `/optimize` with and without a budget, and the feedback log
//! surviving a real `kill -9` of the server in the middle of writes.

mod common;

use common::{Served, TOPICS, bin, link_models, models_present};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A synthetic instruction dataset in JSONL (Alpaca fields), `n` rows.
fn write_data(path: &Path, n: usize) {
    let mut s = String::new();
    for i in 0..n {
        let topic = TOPICS[i % TOPICS.len()];
        let row = json!({
            "instruction": format!("Write a short, cheerful poem about {topic}, in four lines."),
            "input": if i % 4 == 0 { format!("Mention the colour {}.", ["red", "blue", "green"][i % 3]) } else { String::new() },
            "output": format!("A poem about {topic}: bright and kind, it shines all day, number {i}."),
        });
        s.push_str(&row.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

const CONFIG: &str = "optimizer:
  train:
    batch_size: 2
    distill_steps: 4
    contrastive_steps: 2
    val_examples: 2
    eval_steps: 2
    checkpoint_steps: 1
    precise_pairs: 8
    structured_pairs: 2
    max_target_tokens: 24
    max_structured_tokens: 48
  answer_head:
    pairs: 40
    val_pairs: 8
    train:
      epochs: 2
      batch_size: 8
      warmup: 1
";

fn run(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

/// Trains a tiny-budget optimizer on the real base into `dir/opt` (phase 1 in two
/// invocations, resumed; phase 2 on simulated feedback).
fn train(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data.jsonl");
    write_data(&data, 130);
    let config = dir.join("optimizer.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let out = dir.join("opt");
    let (d, c, o) = (
        data.to_str().unwrap(),
        config.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let first = run(&[
        "train",
        "optimizer",
        "--dataset",
        d,
        "--train-config",
        c,
        "--out",
        o,
        "--max-steps",
        "2",
        "--quiet",
    ]);
    assert!(first.contains("step 2 of 4"), "{first}");
    let second = run(&[
        "train",
        "optimizer",
        "--dataset",
        d,
        "--train-config",
        c,
        "--out",
        o,
        "--quiet",
    ]);
    assert!(
        second.contains("step 4 of 4 (finished)"),
        "the second run resumes: {second}"
    );
    let card = std::fs::read_to_string(out.join("phase1/optimizer-card.md")).unwrap();
    assert!(card.contains("steps: 4 of 4"), "{card}");
    assert!(
        std::fs::read_to_string(out.join("optimizer-loss.svg"))
            .unwrap()
            .contains("<svg")
    );
    let sim = dir.join("simulated.jsonl");
    let s = sim.to_str().unwrap();
    run(&[
        "simulate-feedback",
        "--dataset",
        d,
        "--records",
        "2",
        "--variants",
        "2",
        "--optimizer",
        o,
        "--out",
        s,
        // Every verdict flipped: the untrained optimizer's variants land below the raw
        // prompt, and flipped they give phase 2 successes to learn from.
        "--flip",
        "1",
    ]);
    let fb = vec2prompt_optimizer::feedback::read_feedback(&sim).unwrap();
    assert!(!fb.is_empty(), "the simulation stored feedback");
    assert!(
        fb.iter().all(|f| f
            .comment
            .as_deref()
            .is_some_and(|c| c.contains("against the raw prompt's") && c.contains("flipped"))),
        "every verdict is judged against the raw prompt and flipped"
    );
    let again = run(&[
        "simulate-feedback",
        "--dataset",
        d,
        "--records",
        "2",
        "--variants",
        "2",
        "--optimizer",
        o,
        "--out",
        s,
        "--flip",
        "1",
    ]);
    assert!(again.contains("appended 0 simulated"), "{again}");
    assert_eq!(
        vec2prompt_optimizer::feedback::read_feedback(&sim)
            .unwrap()
            .len(),
        fb.len(),
        "a rerun writes nothing twice"
    );
    assert!(
        fb.iter()
            .all(|f| f.source.as_deref() == Some("simulated") && f.verdict().is_some())
    );
    let p2 = run(&[
        "train",
        "optimizer",
        "--dataset",
        d,
        "--train-config",
        c,
        "--out",
        o,
        "--feedback",
        s,
        "--quiet",
    ]);
    assert!(p2.contains("phase2-contrastive: step 2 of 2"), "{p2}");
    assert!(out.join("phase2/optimizer.safetensors").exists());
    // The answer head beside it: the serving tests below rank a budget's answers
    // against its prediction.
    let head = run(&[
        "train",
        "answer-head",
        "--dataset",
        d,
        "--train-config",
        c,
        "--out",
        o,
        "--quiet",
    ]);
    assert!(head.contains("answer head written"), "{head}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("answer-head.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["validation"][0][0], "answer head", "{manifest}");
    assert!(manifest["validation"][0][1].as_f64().unwrap() > 0.0);
    let card = std::fs::read_to_string(out.join("answer-head-card.md")).unwrap();
    assert!(card.contains("40 train-split pairs"), "{card}");
    out
}

#[test]
fn trains_optimizes_serves_and_keeps_feedback_through_kill_9() {
    if !models_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let opt = train(tmp.path());
    let o = opt.to_str().unwrap();

    let text = run(&[
        "optimize",
        "create function",
        "--optimizer",
        o,
        "-n",
        "2",
        "--json",
    ]);
    let json_start = text.find('{').unwrap();
    let v: serde_json::Value = serde_json::Deserializer::from_str(&text[json_start..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let prompts = v["optimized_prompts"].as_array().unwrap();
    assert!(!prompts.is_empty() && prompts.len() <= 2, "{v}");
    assert!(
        prompts
            .iter()
            .all(|p| !p["prompt"].as_str().unwrap().trim().is_empty()),
        "{v}"
    );

    remote_llm_and_the_optimizer(tmp.path(), &opt);

    let log = tmp.path().join("feedback.jsonl");
    let served = Served::start(&["--optimizer", o, "--feedback-log", log.to_str().unwrap()]);
    // The documented example request, as written.
    let (status, v) = served.post(
        "/optimize",
        &json!({"raw_prompt": "Create a function", "max_length": 200, "num_return_sequences": 1}),
    );
    assert_eq!(status, 200, "{v}");
    assert!(!v["optimized_prompt"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["llm_calls"], 0);
    let (status, v) = served.post("/optimize", &json!({"raw_prompt": "summarize\n\nThe cat sat on the mat all day.", "num_return_sequences": 2, "budget": 2}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["llm_calls"], 2, "{v}");
    let best = &v["optimized_prompts"][0];
    assert!(
        best["score"].is_number() && best["answer"].is_string(),
        "{v}"
    );
    assert!(
        v["optimized_prompt"]
            .as_str()
            .unwrap()
            .ends_with("The cat sat on the mat all day."),
        "the input is kept: {v}"
    );
    // With a budget the raw prompt is one of the measured candidates (one of the two
    // calls), and it comes back as the best prompt unless a rewrite measured better by
    // the margin.
    let raw_score = v["raw_score"]
        .as_f64()
        .expect("the raw prompt was measured");
    let first = &v["optimized_prompts"][0];
    match v["improved"].as_bool() {
        Some(false) => {
            assert_eq!(
                v["optimized_prompt"], "summarize\n\nThe cat sat on the mat all day.",
                "not improved: the raw prompt comes back: {v}"
            );
            assert_eq!(first["source"], "raw", "{v}");
        }
        Some(true) => {
            assert_eq!(first["source"], "optimizer", "{v}");
            assert!(first["measured"] == true, "{v}");
            assert!(first["score"].as_f64().unwrap() > raw_score + 0.02, "{v}");
        }
        None => panic!("a measured request says whether it improved: {v}"),
    }
    // The user's own target: example answers, measured with the budget.
    let (status, v) = served.post(
        "/optimize",
        &json!({"raw_prompt": "tips staying healthy give", "budget": 2, "num_return_sequences": 2,
                "target_examples": ["Eat a balanced diet, sleep eight hours and walk every day.",
                                    "Drink water, exercise and see your doctor for check-ups."]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["goal"], "target_examples", "{v}");
    assert_eq!(v["llm_calls"], 2, "{v}");
    assert!(v["raw_score"].is_number(), "{v}");
    assert!(v["refused_copies"].is_number(), "{v}");
    let (status, v) = served.post("/optimize", &json!({"raw_prompt": "Create a function"}));
    assert_eq!(
        (status, v["goal"].as_str()),
        (200, Some("predicted_answer")),
        "{v}"
    );
    let (status, v) = served.post(
        "/optimize",
        &json!({"raw_prompt": "x", "style": "structured", "max_length": 24}),
    );
    assert_eq!(
        (status, v["style"].as_str()),
        (200, Some("structured")),
        "{v}"
    );

    // Feedback while the server is killed with SIGKILL: every acknowledged record is on
    // disk, and nothing torn is ever read back.
    let acked = Arc::new(AtomicUsize::new(0));
    let url = served.url.clone();
    let counter = acked.clone();
    let writer = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        for i in 0.. {
            let body = json!({"raw_prompt": format!("raw {i}"), "optimized_prompt": format!("optimized prompt number {i} with some length to it"), "rating": 1 + i % 5});
            match agent
                .post(&format!("{url}/feedback"))
                .header("content-type", "application/json")
                .send(body.to_string())
            {
                Ok(r) if r.status() == 200 => {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                _ => break,
            }
        }
    });
    let start = std::time::Instant::now();
    while acked.load(Ordering::SeqCst) < 30 && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(served); // kill -9 (SIGKILL) and wait
    writer.join().unwrap();
    let acknowledged = acked.load(Ordering::SeqCst);
    assert!(
        acknowledged >= 30,
        "only {acknowledged} feedback writes were acknowledged"
    );
    let stored = vec2prompt_optimizer::feedback::read_feedback(&log).unwrap();
    assert!(
        stored.len() >= acknowledged,
        "{} stored < {acknowledged} acknowledged",
        stored.len()
    );
    for (i, f) in stored.iter().enumerate() {
        assert_eq!(
            f.raw_prompt,
            format!("raw {i}"),
            "records are whole and in order"
        );
    }
    // Reopening cuts a torn tail, if the kill left one, and appends after it.
    let reopened = vec2prompt_optimizer::FeedbackLog::open(&log, 1 << 20).unwrap();
    let rec = stored[0].clone();
    let (n, _) = reopened.append(&rec).unwrap();
    assert_eq!(n, stored.len() + 1);
}

/// With an OpenAI-compatible LLM the optimizer (trained on the local GGUF) cannot run: one
/// merely found in the default place is left out with a warning, one asked for by name
/// is a clear error.
fn remote_llm_and_the_optimizer(dir: &Path, opt: &Path) {
    let home = dir.join("home");
    link_models(&home);
    std::os::unix::fs::symlink(opt, home.join("optimizer")).unwrap();
    let remote = [
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
        "--llm-model",
        "remote",
    ];
    let served = Served::start_in(Some(&home), &remote);
    let text = ureq::get(&format!("{}/health", served.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(health["optimizer"].is_null(), "{health}");
    let log = served.log.lock().unwrap().join("\n");
    assert!(
        log.contains("not serving /optimize") && log.contains("needs a local LLM"),
        "{log}"
    );
    drop(served);

    let out = bin()
        .env("VEC2PROMPT_HOME", &home)
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--optimizer"])
        .arg(opt)
        .args(remote)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("needs a local LLM"), "{stderr}");
}

/// The shipped optimizer's structured style on the real base model: every section in
/// order and filled, for requests of several kinds (the decoder writes the headers; the
/// model writes every line). Whether a line repeats the raw prompt or another is the
/// model's doing, measured as a share by `eval-optimizer` (it happens: the task line of
/// "explain photosynthesis simple words" is the raw prompt capitalized).
#[test]
fn the_shipped_optimizer_writes_every_structured_section() {
    if !models_present() {
        return;
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/optimizer");
    for raw in [
        "write story dragon",
        "python function reverse string",
        "explain photosynthesis simple words",
    ] {
        let text = run(&[
            "optimize",
            "--style",
            "structured",
            raw,
            "--optimizer",
            shipped.to_str().unwrap(),
            "--json",
        ]);
        let json_start = text.find('{').unwrap();
        let v: serde_json::Value = serde_json::Deserializer::from_str(&text[json_start..])
            .into_iter()
            .next()
            .unwrap()
            .unwrap();
        let prompt = v["optimized_prompt"].as_str().unwrap();
        let found: Vec<&str> = vec2prompt_optimizer::structured::sections(prompt)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(
            found,
            vec2prompt_optimizer::structured::SECTIONS.to_vec(),
            "{prompt}"
        );
        let s = vec2prompt_optimizer::structured::structure(prompt, raw);
        assert!(
            s.missing.is_empty() && s.empty.is_empty(),
            "{s:?}\n{prompt}"
        );
    }
}
