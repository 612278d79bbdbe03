//! End-to-end tests of the `vec2prompt` binary on the real default models.

mod common;

use common::{bin, models_present};

use std::io::Write;
use std::process::{Output, Stdio};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn eval_prompt_json_reports_answer_and_similarity() {
    if !models_present() {
        return;
    }
    let out = bin()
        .args(["eval-prompt", "--json", "--max-new-tokens", "48"])
        .args(["--prompt", "Give three tips for staying healthy."])
        .args([
            "--target-text",
            "Eat a balanced diet, exercise regularly and sleep well.",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sim = v["similarity"].as_f64().unwrap();
    // A relevant answer lands clearly closer than unrelated text would (~0.05).
    assert!(sim > 0.3 && sim <= 1.0, "similarity {sim}");
    assert!(!v["answer"].as_str().unwrap().is_empty());
    assert!(v["completion_tokens"].as_u64().unwrap() <= 48);
    assert!(v["timings_ms"]["generate"].as_f64().unwrap() > 0.0);
}

#[test]
fn embed_writes_jsonl_and_target_file_round_trips() {
    if !models_present() {
        return;
    }
    let mut child = bin()
        .arg("embed")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"The answer is Paris.\nSecond line\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[0]["embedding"].as_array().unwrap().len(), 384);

    // A JSONL line is a valid --target-file: the answer to a matching prompt scores high.
    let dir = tempfile::tempdir().unwrap();
    let vec_file = dir.path().join("v.json");
    std::fs::write(&vec_file, lines[0].to_string()).unwrap();
    let out = bin()
        .args(["eval-prompt", "--json", "--max-new-tokens", "32"])
        .args(["--prompt", "What is the capital of France?"])
        .arg("--target-file")
        .arg(&vec_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_input_gives_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "eval-prompt".into(),
                "--prompt".into(),
                " ".into(),
                "--target-text".into(),
                "x".into(),
            ],
            "empty",
        ),
        (
            vec!["eval-prompt".into(), "--prompt".into(), "hi".into()],
            "--target-text",
        ),
        (
            vec![
                "--llm".into(),
                "/nonexistent/model.gguf".into(),
                "eval-prompt".into(),
                "--prompt".into(),
                "hi".into(),
                "--target-file".into(),
                "/nonexistent.json".into(),
            ],
            "",
        ),
        (
            vec!["--llm-weights".into(), "int3".into(), "embed".into()],
            "native, q8_0 or f32",
        ),
    ];
    for (args, want) in cases {
        let out = bin().args(&args).stdin(Stdio::null()).output().unwrap();
        let err = stderr(&out);
        // A value the flag's type refuses is a usage error, exit status 2 as for any
        // other; a value that parses but does not work is exit status 1.
        let usage = args.iter().any(|a| a == "--llm-weights");
        let code = if usage { 2 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Invalid UTF-8 on stdin names the byte offset.
    let mut child = bin()
        .arg("embed")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ok\n\xff\xfe\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
    // A wrong-dimension or NaN target vector names the argument.
    if models_present() {
        for (content, want) in [
            ("[1, 2, 3]", "3 dimensions"),
            ("[1, NaN]", "not valid JSON"),
            ("{\"a\": 1}", "embedding"),
        ] {
            let f = dir.path().join("t.json");
            std::fs::write(&f, content).unwrap();
            let out = bin()
                .args(["eval-prompt", "--prompt", "hi", "--target-file"])
                .arg(&f)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(
                err.contains("--target-file") && err.contains(want),
                "{content}: {err}"
            );
        }
    }
    // A missing model says how to get it.
    let out = bin()
        .arg("--embedder")
        .arg(dir.path().join("nope"))
        .args(["eval-prompt", "--prompt", "hi", "--target-text", "x"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("vec2prompt models fetch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_file_sets_model_paths() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "backends:\n  embedder:\n    path: {}\n",
            dir.path().join("custom-embedder").display()
        ),
    )
    .unwrap();
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["eval-prompt", "--prompt", "hi", "--target-text", "x"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("custom-embedder"), "{}", stderr(&out));
    // The flag overrides the file.
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--embedder")
        .arg(dir.path().join("flag-embedder"))
        .args(["eval-prompt", "--prompt", "hi", "--target-text", "x"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("flag-embedder"), "{}", stderr(&out));
    std::fs::write(&cfg, "backends: {embeder: {path: typo}}\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["embed"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("invalid config file"),
        "{}",
        stderr(&out)
    );
}
