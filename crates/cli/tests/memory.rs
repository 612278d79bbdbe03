//! `vec2prompt remember` end to end with the real LLM and embedder: killed with SIGKILL
//! mid-run and resumed, it ends with every record exactly once and the same answers as an
//! uninterrupted run; `--status` and `--limit` extension; no held-out prompt answered.

mod common;

use common::{TOPICS, bin, models_present};

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vec2prompt_dataset::{Split, read_records};
use vec2prompt_memory::{RememberedAnswers, train_order};

/// A synthetic instruction dataset in JSONL (Alpaca fields), `n` rows.
fn write_jsonl(path: &Path, n: usize) {
    let mut s = String::new();
    for i in 0..n {
        let topic = TOPICS[i % TOPICS.len()];
        let row = serde_json::json!({
            "instruction": format!("Name one fact about {topic} (number {i})."),
            "input": "",
            "output": format!("A fact about {topic}."),
        });
        s.push_str(&row.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn ingest(input: &Path, dataset: &Path) {
    ingest_with(input, dataset, &["--no-embed"]);
}

fn ingest_with(input: &Path, dataset: &Path, flags: &[&str]) {
    let out = bin()
        .arg("ingest")
        .args(flags)
        .arg("--input")
        .arg(input)
        .arg("--dataset")
        .arg(dataset)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Short answers keep the test fast; they are part of the memory's key.
const MAX_NEW_TOKENS: &str = "6";

fn remember(dataset: &Path, limit: usize) -> Command {
    let mut c = bin();
    c.args([
        "remember",
        "--batch",
        "4",
        "--max-new-tokens",
        MAX_NEW_TOKENS,
    ])
    .args(["--limit", &limit.to_string()])
    .arg("--dataset")
    .arg(dataset);
    c
}

fn llm_key() -> String {
    format!("SmolLM2-135M-Instruct.Q4_1 weights=Q8_0 max_new_tokens={MAX_NEW_TOKENS} greedy")
}

fn load(dataset: &Path, key: &str) -> RememberedAnswers {
    let records = read_records(&dataset.join("records.jsonl")).unwrap();
    RememberedAnswers::load(dataset, key, &records).unwrap()
}

#[test]
fn remember_resumes_after_kill_9_like_an_uninterrupted_run() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 220);
    let (killed, clean) = (dir.path().join("killed"), dir.path().join("clean"));
    ingest(&input, &killed);
    ingest(&input, &clean);
    let limit = 20;

    // Start, wait until two batches are on disk, SIGKILL.
    let mut child = remember(&killed, limit)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let memory_dir = vec2prompt_memory::memory_dir(&killed, &llm_key());
    let vectors = memory_dir.join("answers.f32");
    let started = Instant::now();
    while std::fs::metadata(&vectors).map_or(0, |m| m.len()) < 8 * 384 * 4 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "remember made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = load(&killed, &llm_key()).len();
    assert!(
        (8..limit).contains(&partial),
        "killed with {partial} of {limit} answers"
    );

    // Run again: it continues where it stopped.
    let out = remember(&killed, limit).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("{partial} of ")) && log.contains(&format!("building to {limit}")),
        "{log}"
    );
    let resumed = load(&killed, &llm_key());

    // Every record of the order's prefix exactly once, train only, in order.
    let records = read_records(&killed.join("records.jsonl")).unwrap();
    let order = train_order(&records, vec2prompt_memory::DEFAULT_ORDER_SEED);
    let ids: Vec<&str> = resumed.entries.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<&str> = order[..limit]
        .iter()
        .map(|&i| records[i].id.as_str())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), limit);
    assert!(
        resumed
            .records
            .iter()
            .all(|&i| records[i].split == Split::Train)
    );

    // The same answers and vectors as an uninterrupted run.
    let out = remember(&clean, limit).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = load(&clean, &llm_key());
    assert_eq!(reference.len(), limit);
    for (i, (a, b)) in resumed.entries.iter().zip(&reference.entries).enumerate() {
        assert_eq!(a.id, b.id);
        assert_eq!(a.answer, b.answer, "answer {i} differs from the clean run");
        assert!(!a.answer.trim().is_empty(), "answer {i} is empty");
        let c = vec2prompt_core::cosine(resumed.embedding(i), reference.embedding(i));
        assert!(c > 0.9999, "vector {i} differs from the clean run: cos {c}");
    }

    // --status says where it stands; a larger --limit extends the memory.
    let status = |dataset: &Path| {
        let out = bin()
            .args(["remember", "--status", "--max-new-tokens", MAX_NEW_TOKENS])
            .arg("--dataset")
            .arg(dataset)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let train = order.len();
    let s = status(&killed);
    assert!(
        s.contains(&format!("{limit} of {train} train records")),
        "{s}"
    );
    assert!(s.contains(&llm_key()), "{s}");
    let out = remember(&killed, limit + 4).output().unwrap();
    assert!(out.status.success());
    assert_eq!(load(&killed, &llm_key()).len(), limit + 4);
    let s = status(&killed);
    assert!(s.contains(&format!("{} of {train}", limit + 4)), "{s}");
    // Held-out prompts were never answered.
    let held_out: HashSet<&str> = records
        .iter()
        .filter(|r| r.split != Split::Train)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(held_out.len(), 6);
    assert!(
        load(&killed, &llm_key())
            .entries
            .iter()
            .all(|e| !held_out.contains(e.id.as_str()))
    );
}

#[test]
fn a_remote_llm_has_its_own_memory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 30);
    let dataset = dir.path().join("ds");
    ingest(&input, &dataset);
    // --status needs no model and no connection: it only names the memory of the
    // configured LLM.
    let status = |args: &[&str]| {
        let out = bin()
            .args(["remember", "--status"])
            .args(args)
            .arg("--dataset")
            .arg(&dataset)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let remote = status(&[
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
        "--llm-model",
        "some-chat-model",
    ]);
    assert!(
        remote.contains("some-chat-model at http://127.0.0.1:9/v1 max_new_tokens=128 greedy"),
        "{remote}"
    );
    assert!(remote.contains("none yet"), "{remote}");
    let local = status(&[]);
    assert!(
        local.contains("weights=Q8_0 max_new_tokens=128 greedy"),
        "{local}"
    );
    let dir_of = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("directory:"))
            .map(str::to_string)
            .unwrap()
    };
    assert_ne!(dir_of(&remote), dir_of(&local));
}

#[test]
fn generate_searches_with_the_memory_of_its_llm() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 30);
    let dataset = dir.path().join("ds");
    ingest_with(&input, &dataset, &[]);
    // The search answers with 128 new tokens: the memory of that configuration is its.
    let out = bin()
        .args(["remember", "--batch", "4", "--limit", "6", "--dataset"])
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["generate", "--json", "--budget", "0", "--variants", "40"])
        .args(["--target-text", "A fact about the ocean."])
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("environment memory: 6 remembered answers"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let candidates = v["result"]["candidates"].as_array().unwrap();
    let memory: Vec<_> = candidates
        .iter()
        .filter(|c| c["source"] == "memory")
        .collect();
    assert!(!memory.is_empty(), "{candidates:?}");
    // A remembered answer's similarity is known without an LLM call.
    assert_eq!(v["result"]["llm_calls"], 0);
    assert!(memory.iter().all(|c| c["similarity"].as_f64().is_some()));

    // `eval` uses a prefix of the same memory: memory-1 picks one of its prompts, and
    // the report says how large the memory was.
    let report = dir.path().join("report");
    let out = bin()
        .args(["eval", "--split", "validation", "--limit", "1", "--k", "2"])
        .args(["--budgets", "--memory", "4", "--out"])
        .arg(&report)
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(r["memory_answers"], 4);
    let remembered: HashSet<usize> = load(&dataset, &memory_key_128())
        .entries
        .iter()
        .take(4)
        .map(|e| e.index)
        .collect();
    let choices = r["per_target"][0]["choices"].as_array().unwrap();
    let pick = choices.iter().find(|c| c["method"] == "memory-1").unwrap();
    let row = pick["prompt_record"].as_u64().unwrap() as usize;
    assert!(remembered.contains(&row), "{row} not in {remembered:?}");
    assert!(choices.iter().any(|c| c["method"] == "fast"));
    // The baselines with the same information: memory-best-of-k picks among remembered
    // records only, and memory+knn-best-of-k is the better of memory-1 and knn-best-of-k.
    let choice = |m: &str| {
        choices
            .iter()
            .find(|c| c["method"] == m)
            .unwrap_or_else(|| panic!("no {m} in {choices:?}"))
    };
    let best_of = choice("memory-best-of-2")["prompt_record"]
        .as_u64()
        .unwrap() as usize;
    assert!(
        remembered.contains(&best_of),
        "{best_of} not in {remembered:?}"
    );
    let score = |m: &str| choice(m)["score"].as_f64().unwrap();
    assert_eq!(
        score("memory+knn-best-of-2"),
        score("memory-1").max(score("knn-best-of-2"))
    );
    let methods = r["methods"].as_array().unwrap();
    let remembered_of = |m: &str| {
        methods.iter().find(|x| x["method"] == m).unwrap()["remembered_per_target"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(remembered_of("memory-1"), 1.0);
    assert_eq!(remembered_of("memory-best-of-2"), 2.0);
    assert_eq!(remembered_of("knn-best-of-2"), 0.0);
    // Fast mode's pool holds remembered answers, and the report counts them.
    assert!(remembered_of("fast") >= 1.0, "{methods:?}");
    let paired = std::fs::read_to_string(report.with_extension("md")).unwrap();
    assert!(paired.contains("| remembered/target |"), "{paired}");
    // A memory larger than the one built is a warning, a malformed one an error.
    let out = bin()
        .args(["eval", "--split", "validation", "--limit", "1", "--k", "2"])
        .args(["--budgets", "--baselines-only", "--memory", "nine"])
        .arg("--dataset")
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`all`, `none` or a number"));
}

fn memory_key_128() -> String {
    "SmolLM2-135M-Instruct.Q4_1 weights=Q8_0 max_new_tokens=128 greedy".to_string()
}
