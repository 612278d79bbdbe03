//! End-to-end tests of the dataset pipeline with the real embedder and LLM: ingest,
//! resume after `kill -9`, search and a short evaluation.

mod common;

use common::{bin, ingest, ingested_dataset, kill_at_checkpoint, models_present, write_jsonl};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vectors(dataset: &Path, column: &str) -> Vec<f32> {
    std::fs::read(dataset.join(format!("embeddings/{column}.f32")))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn ingest_resumes_after_kill_9_with_exact_counts() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    let n = 1200;
    write_jsonl(&input, n);
    let killed: PathBuf = dir.path().join("killed");
    let clean: PathBuf = dir.path().join("clean");

    // Start, wait until some but not all output vectors are on disk, kill -9.
    let mut child = ingest(&input, &killed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let file = killed.join("embeddings/outputs.f32");
    let started = Instant::now();
    loop {
        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if len >= 100 * 384 * 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "ingest made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = std::fs::metadata(&file).unwrap().len() as usize / (384 * 4);
    assert!(
        partial >= 100 && partial < n,
        "killed with {partial} of {n} vectors"
    );

    // Run again: it continues and ends with exactly one vector per record and column.
    let out = ingest(&input, &killed).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("already stored"), "{log}");
    for column in ["outputs", "prompts"] {
        assert_eq!(
            std::fs::metadata(killed.join(format!("embeddings/{column}.f32")))
                .unwrap()
                .len(),
            (n * 384 * 4) as u64
        );
    }

    // Same vectors as an uninterrupted run: nothing shifted, lost or embedded twice.
    let out = ingest(&input, &clean).output().unwrap();
    assert!(out.status.success());
    for column in ["outputs", "prompts"] {
        let (a, b) = (vectors(&killed, column), vectors(&clean, column));
        for (i, (x, y)) in a.chunks_exact(384).zip(b.chunks_exact(384)).enumerate() {
            let c = vec2prompt_core::cosine(x, y);
            assert!(
                c > 0.9999,
                "{column} vector {i} differs from the clean run: cos {c}"
            );
        }
    }

    // A third run has nothing to do.
    let out = ingest(&input, &killed).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("{n} already stored, 0 embedded")),
        "{log}"
    );
}

/// `eval` on 3 targets with knn-best-of-2, writing `<report>.json` and `.md`.
/// The default learned model shipped with the sources.
fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/latent")
}

fn short_eval(dataset: &Path, report: &Path) -> std::process::Output {
    bin()
        .args([
            "eval",
            "--limit",
            "3",
            "--k",
            "2",
            "--max-new-tokens",
            "24",
            "--seed",
            "1",
            "--budgets",
            "2",
        ])
        .arg("--latent")
        .arg(shipped_model())
        .arg("--dataset")
        .arg(dataset)
        .arg("--out")
        .arg(report)
        .output()
        .unwrap()
}

#[test]
fn search_and_short_eval_on_a_small_dataset() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 300);
    let dataset = dir.path().join("ds");
    let out = ingest(&input, &dataset).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = bin()
        .args([
            "search",
            "--json",
            "-k",
            "3",
            "--text",
            "a sentence about honey bees",
        ])
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 3);
    assert!(
        hits[0]["output"].as_str().unwrap().contains("honey bees"),
        "{hits:?}"
    );
    assert_eq!(hits[0]["split"], "train");

    let report = dir.path().join("reports/lb");
    let out = short_eval(&dataset, &report);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.with_extension("json")).unwrap()).unwrap();
    let methods = json["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "random",
            "oracle",
            "knn-1",
            "knn-best-of-2",
            "inverter-greedy",
            "fast",
            "search-2"
        ]
    );
    assert_eq!(methods[4]["llm_calls_per_target"], 0.0);
    assert_eq!(methods[5]["llm_calls_per_target"], 0.0);
    assert!(methods[6]["llm_calls_per_target"].as_f64().unwrap() <= 2.0);
    for m in methods {
        for field in [
            "mean",
            "median",
            "normalized",
            "win_rate_vs_oracle",
            "llm_calls_per_target",
            "seconds_per_target",
            "prompt_tokens",
            "copy_rate",
        ] {
            assert!(m[field].is_number(), "{field} missing in {m}");
        }
        assert_eq!(m["ci95"].as_array().unwrap().len(), 2);
    }
    assert_eq!(methods[3]["llm_calls_per_target"], 2.0);
    assert_eq!(methods[1]["normalized"], 1.0);
    assert!(
        std::fs::read_to_string(report.with_extension("md"))
            .unwrap()
            .contains("| knn-best-of-2 |")
    );
    assert!(json["answers_generated"].as_u64().unwrap() > 0);

    // A re-run answers everything from the cache and reproduces the scores.
    let out = short_eval(&dataset, &report);
    assert!(out.status.success());
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.with_extension("json")).unwrap()).unwrap();
    assert_eq!(again["answers_generated"], 0);
    assert_eq!(again["methods"][2]["mean"], json["methods"][2]["mean"]);
}

const TINY_TRAIN: &str = "
surrogate:
  model: {dim: 384, hidden: 32}
  train: {epochs: 2, batch_size: 16, warmup: 2, checkpoint_seconds: 0}
inverter:
  {dim: 32, layers: 1, heads: 2, hidden: 32, prefix: 2, max_tokens: 24, vocab: 300,
   train: {epochs: 2, batch_size: 8, warmup: 2, checkpoint_seconds: 0}}
corrector:
  {dim: 32, layers: 1, heads: 2, hidden: 32, prefix: 2, max_tokens: 24, hypothesis_tokens: 8,
   inverter_hypotheses: 20, init_from_inverter: true,
   train: {epochs: 1, batch_size: 8, warmup: 2, checkpoint_seconds: 0}}
";

fn train(dataset: &Path, out: &Path, config: &Path, model: &str) -> Command {
    let mut c = bin();
    c.args(["train", model, "--quiet"])
        .arg("--dataset")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .arg("--train-config")
        .arg(config);
    c
}

/// Training survives `kill -9`: the resumed run ends with exactly the weights of an
/// uninterrupted one, and the exported model loads and generates.
#[test]
fn training_resumes_after_kill_9_and_matches_a_clean_run() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingested_dataset(dir.path(), 240);
    let config = dir.path().join("train.yaml");
    std::fs::write(&config, TINY_TRAIN).unwrap();

    let clean = dir.path().join("clean");
    for model in ["surrogate", "inverter"] {
        let out = train(&dataset, &clean, &config, model).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The corrector starts from the inverter and trains on its hypotheses, which are
    // decoded once and reused when the run resumes.
    let out = train(&dataset, &clean, &config, "corrector")
        .args(["--max-steps", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("corrector starts from the inverter"), "{err}");
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(clean.join("runs/corrector/hypotheses.json")).unwrap(),
    )
    .unwrap();
    let texts = saved["texts"].as_array().unwrap();
    assert!(texts.len() >= 20, "{} hypotheses", texts.len());
    let out = train(&dataset, &clean, &config, "corrector")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resuming") && err.contains("reusing"), "{err}");
    assert!(clean.join("corrector.safetensors").exists());
    assert!(clean.join("corrector-card.md").exists());

    // Kill the inverter's training once it has checkpointed a few steps, then resume.
    let killed = dir.path().join("killed");
    let out = train(&dataset, &killed, &config, "surrogate")
        .output()
        .unwrap();
    assert!(out.status.success());
    kill_at_checkpoint(
        train(&dataset, &killed, &config, "inverter"),
        &killed.join("runs/inverter/state.json"),
        3,
        Duration::from_secs(120),
    );
    let out = train(&dataset, &killed, &config, "inverter")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming"));
    for file in [
        "inverter.safetensors",
        "surrogate.safetensors",
        "tokenizer.json",
    ] {
        assert_eq!(
            std::fs::read(killed.join(file)).unwrap(),
            std::fs::read(clean.join(file)).unwrap(),
            "{file} differs between the resumed and the clean run"
        );
    }
    assert!(killed.join("inverter-card.md").exists());
    assert!(killed.join("inverter-loss.svg").exists());

    // The exported model drives `generate` in fast mode.
    let out = bin()
        .args([
            "generate",
            "--budget",
            "0",
            "--json",
            "--target-text",
            "the ocean",
        ])
        .arg("--latent")
        .arg(&killed)
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"]["llm_calls"], 0);
    assert!(
        !json["result"]["best"]["prompt"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn dataset_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["ingest", "--input", "/nonexistent/data.json", "--dataset"])
        .arg(dir.path().join("ds"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/data.json"), "{err}");
    let out = bin()
        .args(["eval", "--dataset"])
        .arg(dir.path().join("empty"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vec2prompt ingest") || err.contains("not found"),
        "{err}"
    );
}

/// The real Alpaca file: `$VEC2PROMPT_ALPACA`, or `shared/data/alpaca_data.json` beside
/// the repository (where this project keeps it; it is never committed).
fn alpaca() -> Option<PathBuf> {
    let from_env = std::env::var_os("VEC2PROMPT_ALPACA").map(PathBuf::from);
    let beside =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/alpaca_data.json");
    from_env.into_iter().chain([beside]).find(|p| p.is_file())
}

#[test]
fn pipeline_on_an_alpaca_slice() {
    if !models_present() {
        return;
    }
    let Some(data) = alpaca() else {
        eprintln!(
            "Alpaca data not found (set VEC2PROMPT_ALPACA): the synthetic pipeline test covers the code"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("alpaca");
    let out = bin()
        .args(["ingest", "--limit", "300", "--input"])
        .arg(&data)
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let records = std::fs::read_to_string(dataset.join("records.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(first["prompt"], "Give three tips for staying healthy.");
    // Rows 0..300 of the source; the few with an empty output are counted skips.
    let n = records.lines().count();
    assert!((290..=300).contains(&n), "{n} records");
    let out = bin()
        .args(["eval", "--limit", "3", "--k", "2", "--max-new-tokens", "48"])
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        md.contains("| oracle |") && md.contains("| knn-best-of-2 |"),
        "{md}"
    );
}
