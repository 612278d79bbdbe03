//! Content candidates in the product, end to end on the real models: with nothing
//! ingested and no generator, `generate` names the target's topics, checks them with the
//! real LLM, and embeds the lexicon's words once per home; a missing lexicon tokenizer
//! is a clear error.

mod common;

use common::{bin, link_models, models_present};

const TARGET: &str = "Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep.";

#[test]
fn generate_names_the_targets_topics_and_builds_the_lexicon_once() {
    if !models_present() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    link_models(home.path());
    let run = || {
        bin()
            .env("VEC2PROMPT_HOME", home.path())
            .env_remove("VEC2PROMPT_LEXICON")
            .args(["generate", "--json", "--budget", "2", "--variants", "8"])
            .args(["--target-text", TARGET])
            .output()
            .unwrap()
    };
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("lexicon words embedded"), "{err}");
    let cached: Vec<_> = std::fs::read_dir(home.path().join("lexicon"))
        .unwrap()
        .collect();
    assert_eq!(cached.len(), 1, "one cache file of word vectors");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &v["result"];
    assert!(result["llm_calls"].as_u64().unwrap() <= 2, "{result}");
    let content: Vec<&str> = result["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "content")
        .filter_map(|c| c["prompt"].as_str())
        .collect();
    assert!(!content.is_empty(), "{result}");
    // Every request names some of what the target is about.
    let about = [
        "diet",
        "fruit",
        "vegetable",
        "exercise",
        "sleep",
        "eat",
        "healthy",
    ];
    for p in &content {
        assert!(about.iter().any(|w| p.to_lowercase().contains(w)), "{p:?}");
    }
    // Without a dataset or generator, the measured choice is one of them.
    assert_eq!(result["best"]["source"], "content", "{result}");
    assert!(result["best"]["similarity"].as_f64().is_some(), "{result}");

    // The second run reads the word vectors from the home.
    let again = run();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(!err.contains("lexicon words embedded"), "{err}");
}

#[test]
fn a_missing_lexicon_tokenizer_is_a_clear_error() {
    if !models_present() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    link_models(home.path());
    let out = bin()
        .env("VEC2PROMPT_HOME", home.path())
        .env(
            "VEC2PROMPT_LEXICON",
            home.path().join("no-such-tokenizer.json"),
        )
        .args(["generate", "--budget", "0", "--target-text", TARGET])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no-such-tokenizer.json") && err.contains("--lexicon none"),
        "{err}"
    );
}
