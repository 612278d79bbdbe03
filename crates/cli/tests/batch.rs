//! End-to-end tests of `vec2prompt batch` on the real models: a job killed with SIGKILL
//! resumes and writes every row exactly once, bad rows get error lines, .npy and Parquet
//! inputs split over shards cover every row, a wrong dimension stops before any work, and
//! a second `vec2prompt serve` works as the OpenAI-compatible LLM, and one with
//! `--requests-per-minute` refuses the request past its limit with 429 and `Retry-After`.

mod common;

use common::{Served, bin, link_models, models_present};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIM: usize = 384;

/// A random direction, as JSON numbers.
fn random_vector(seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..DIM)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}

/// The output's lines by row; fails on a row written twice.
fn lines_by_row(path: &Path) -> BTreeMap<u64, serde_json::Value> {
    let mut by_row = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let row = v["row"].as_u64().unwrap();
        assert!(by_row.insert(row, v).is_none(), "row {row} written twice");
    }
    by_row
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn a_killed_job_resumes_with_every_row_once_and_bad_rows_as_errors() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("users.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for i in 0..36u64 {
        let v = serde_json::json!({"id": format!("u{i}"), "embedding": random_vector(i)});
        writeln!(f, "{v}").unwrap();
    }
    writeln!(
        f,
        "{}",
        serde_json::json!({"id": "t1", "text": "How to bake bread at home"})
    )
    .unwrap();
    writeln!(
        f,
        "{}",
        serde_json::json!({"id": "short", "embedding": [1.0, 2.0]})
    )
    .unwrap();
    writeln!(
        f,
        "{}",
        serde_json::json!({"id": "u3", "text": "a repeated id"})
    )
    .unwrap();
    writeln!(f, "{{\"id\": \"broken\", \"embedding\": [1,").unwrap();
    drop(f);
    let out = dir.path().join("users.prompts.jsonl");
    // A home of its own: a dataset (or memory) in the user's home would change what fast
    // mode knows.
    let home = dir.path().join("home");
    link_models(&home);
    let job = || {
        let mut c = bin();
        c.env("VEC2PROMPT_HOME", &home);
        c.args(["batch", "--batch-size", "2"]).arg(&input);
        c
    };

    // Kill the job (SIGKILL) once a few lines are on disk, then cut its last line short
    // as a kill in the middle of a write would.
    let mut child = job()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&out).map_or(0, |s| s.lines().count()) < 6 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no lines written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = lines_by_row(&out).len();
    assert!(before < 40, "the job finished before the kill");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .unwrap()
        .write_all(b"{\"id\":\"u39\",\"row\":39,\"pro")
        .unwrap();

    let log = run_ok(&mut job());
    assert!(log.contains("dropped a cut-short last line"), "{log}");
    assert!(log.contains(&format!("{before} already in")), "{log}");
    let rows = lines_by_row(&out);
    assert_eq!(
        rows.keys().copied().collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
    for (row, v) in &rows {
        match *row {
            37..=39 => {
                assert_eq!(v["error_type"], "invalid_input", "{v}");
                assert!(v["prompt"].is_null(), "{v}");
            }
            _ => {
                let prompt = v["prompt"].as_str().unwrap_or_default();
                assert!(!prompt.trim().is_empty(), "{v}");
                assert_eq!(v["measured"], false, "{v}");
                assert_eq!(v["llm_calls"], 0, "{v}");
                assert!(v["similarity"].as_f64().unwrap().is_finite(), "{v}");
            }
        }
    }
    assert_eq!(rows[&36]["id"], "t1");
    assert!(
        rows[&37]["error"]
            .as_str()
            .unwrap()
            .contains("2 dimensions")
    );
    assert!(
        rows[&38]["error"]
            .as_str()
            .unwrap()
            .contains("duplicate id")
    );
    assert!(
        rows[&39]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    // Done is done: a third run writes nothing.
    let log = run_ok(&mut job());
    assert!(log.contains("0 to do"), "{log}");
    assert_eq!(lines_by_row(&out).len(), 40);
}

/// A float32 .npy matrix.
fn write_npy(path: &Path, rows: &[Vec<f32>]) {
    let dim = rows[0].len();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}",
        rows.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for r in rows {
        for x in r {
            bytes.extend(x.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn npy_and_parquet_shards_cover_every_row_and_a_wrong_dimension_stops_first() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vectors: Vec<Vec<f32>> = (0..6).map(|i| random_vector(100 + i)).collect();
    let npy = dir.path().join("v.npy");
    write_npy(&npy, &vectors);
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "a\nb\nc\nd\ne\nf\n").unwrap();
    let out = dir.path().join("o.jsonl");
    let mut seen = Vec::new();
    for shard in ["0/2", "1/2"] {
        let mut c = bin();
        c.args(["batch", "--shard", shard, "--ids"])
            .arg(&ids)
            .arg("--out")
            .arg(&out)
            .arg(&npy);
        run_ok(&mut c);
        let i = &shard[..1];
        let rows = lines_by_row(&dir.path().join(format!("o.shard-{i}-of-2.jsonl")));
        assert_eq!(rows.len(), 3);
        seen.extend(rows.values().map(|v| v["id"].as_str().unwrap().to_string()));
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c", "d", "e", "f"]);

    // Parquet, with the same vectors as list<float32>: the same prompts as the .npy rows.
    use arrow_array::builder::{Float32Builder, ListBuilder};
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    let mut list = ListBuilder::new(Float32Builder::new());
    for v in &vectors {
        list.values().append_slice(v);
        list.append(true);
    }
    let batch = RecordBatch::try_from_iter(vec![
        (
            "user",
            std::sync::Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e", "f"])) as ArrayRef,
        ),
        ("embedding", std::sync::Arc::new(list.finish()) as ArrayRef),
    ])
    .unwrap();
    let pq = dir.path().join("v.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&pq).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    run_ok(bin().args(["batch", "--id-field", "user"]).arg(&pq));
    let from_pq = lines_by_row(&dir.path().join("v.prompts.jsonl"));
    let from_npy = lines_by_row(&dir.path().join("o.shard-0-of-2.jsonl"));
    for (row, v) in &from_npy {
        assert_eq!(from_pq[row]["prompt"], v["prompt"], "row {row}");
    }

    // The content margin reaches every row's search (a non-default one names itself),
    // and one outside [0, 2] is refused before any row.
    let c0 = dir.path().join("c0.jsonl");
    run_ok(
        bin()
            .args([
                "batch",
                "--id-field",
                "user",
                "--content-margin",
                "0",
                "--out",
            ])
            .arg(&c0)
            .arg(&pq),
    );
    for (row, v) in lines_by_row(&c0) {
        assert_eq!(v["method"], "fast-c0", "row {row}: {v}");
    }
    let o = bin()
        .args(["batch", "--content-margin", "3"])
        .arg(&pq)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("3 is not in [0, 2]"), "{err}");

    // A file of vectors from another embedder stops before the first row.
    let small = dir.path().join("small.npy");
    write_npy(&small, &[vec![1.0, 0.0, 0.0]]);
    let o = bin().arg("batch").arg(&small).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("3 dimensions but the embedder produces 384"),
        "{err}"
    );
    assert!(
        !dir.path().join("small.prompts.jsonl").exists()
            || std::fs::read_to_string(dir.path().join("small.prompts.jsonl"))
                .unwrap()
                .is_empty()
    );
}

#[test]
fn a_second_server_is_the_openai_compatible_llm_of_a_measured_batch() {
    if !models_present() {
        return;
    }
    let served = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.jsonl");
    std::fs::write(
        &input,
        "{\"id\": 1, \"text\": \"Drink water, sleep eight hours and walk every day.\"}\n{\"id\": 2, \"text\": \"The capital of France is Paris.\"}\n",
    )
    .unwrap();
    let url = format!("{}/v1", served.url);
    run_ok(
        bin()
            .args(["--llm-base-url", &url, "--llm-model", "smollm2"])
            .args(["batch", "--budget", "1", "--answers"])
            .arg(&input),
    );
    let rows = lines_by_row(&dir.path().join("t.prompts.jsonl"));
    assert_eq!(rows.len(), 2);
    for v in rows.values() {
        assert_eq!(v["measured"], true, "{v}");
        assert_eq!(v["llm_calls"], 1, "{v}");
        assert!(!v["answer"].as_str().unwrap_or_default().is_empty(), "{v}");
    }
    assert_eq!(rows[&0]["id"], "1");
}

#[test]
fn a_server_with_requests_per_minute_refuses_the_next_with_retry_after() {
    if !models_present() {
        return;
    }
    let served = Served::start(&["--requests-per-minute", "2"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let embed = || {
        agent
            .post(&format!("{}/v1/embeddings", served.url))
            .header("content-type", "application/json")
            .send(r#"{"input": "a short text"}"#)
            .unwrap()
    };
    assert_eq!(embed().status(), 200);
    assert_eq!(embed().status(), 200);
    let mut refused = embed();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let body: serde_json::Value =
        serde_json::from_str(&refused.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error_type"], "overloaded", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("requests_per_minute"),
        "{body}"
    );
    // Health and metrics are not model requests.
    let health = agent.get(&format!("{}/health", served.url)).call().unwrap();
    assert_eq!(health.status(), 200);
}
