//! The generator in the product, end to end on the real models: with nothing ingested, the
//! search proposes the shipped generator's prompts and checks them with the real LLM; a
//! wrong adapter directory is a clear error.

mod common;

use common::{bin, link_models, models_present, shipped_generator};

const TARGET: &str = "Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep.";

#[test]
fn generate_without_a_dataset_proposes_from_the_generator() {
    if !models_present() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    link_models(home.path());
    let out = bin()
        .env("VEC2PROMPT_HOME", home.path())
        .env("VEC2PROMPT_GENERATOR", shipped_generator())
        .args(["generate", "--json", "--budget", "2", "--variants", "8"])
        .args(["--target-text", TARGET])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["dataset"].is_null(), "{v}");
    assert!(v["generator"].as_str().is_some(), "{v}");
    let result = &v["result"];
    assert!(result["llm_calls"].as_u64().unwrap() <= 2, "{result}");
    let candidates = result["candidates"].as_array().unwrap();
    assert!(
        candidates.iter().any(|c| c["source"] == "generator"),
        "{candidates:?}"
    );
    // The chosen prompt was checked with the real LLM and is a readable instruction.
    let best = &result["best"];
    assert!(best["similarity"].as_f64().is_some(), "{best}");
    let prompt = best["prompt"].as_str().unwrap();
    assert!(prompt.split_whitespace().count() >= 2, "{prompt:?}");
    assert!(!prompt.contains("<|"), "special tokens leaked: {prompt:?}");
}

#[test]
fn a_missing_or_foreign_adapter_is_a_clear_error() {
    if !models_present() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    link_models(home.path());
    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .env("VEC2PROMPT_HOME", home.path())
        .env("VEC2PROMPT_GENERATOR", empty.path())
        .args(["generate", "--budget", "0", "--target-text", TARGET])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot load the generator") && err.contains("generator.json"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
