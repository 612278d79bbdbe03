//! A binary that stands alone: copied out of the build tree and run from another
//! directory, with a fresh `$VEC2PROMPT_HOME` that holds only the base models, it still
//! finds the default learned models (installed from the bytes embedded in it) and writes a
//! prompt with them.

mod common;

use std::process::Command;

#[cfg(feature = "embedded-latent")]
#[test]
fn a_copied_binary_finds_its_learned_models_from_another_directory() {
    if !common::models_present() {
        return;
    }
    let bin_dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let copied = bin_dir.path().join("vec2prompt");
    std::fs::copy(env!("CARGO_BIN_EXE_vec2prompt"), &copied).unwrap();
    common::link_models(home.path());
    let run = |args: &[&str]| {
        Command::new(&copied)
            .args(args)
            .current_dir(cwd.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VEC2PROMPT_HOME", home.path())
            .env("RAYON_NUM_THREADS", "2")
            // The content lexicon is tested in tests/content.rs; here it would only add
            // its first build's half minute.
            .env("VEC2PROMPT_LEXICON", "none")
            .output()
            .expect("the copied binary runs")
    };

    let out = run(&[
        "generate",
        "--target-text",
        "Paris is the capital of France.",
        "--budget",
        "0",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "generate failed: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let installed = home.path().join("models/latent");
    assert_eq!(
        json["learned_models"].as_str(),
        Some(installed.to_str().unwrap()),
        "{json}"
    );
    assert!(stderr.contains("from embedded"), "{stderr}");
    let prompt = json["result"]["best"]["prompt"].as_str().unwrap_or("");
    assert!(!prompt.trim().is_empty(), "{json}");
    assert_eq!(json["result"]["llm_calls"], 0);
    // No dataset, no memory and no lexicon in this home: the prompt can only come from a
    // learned model (the inverter embedded in the binary, or the generator adapter).
    let source = json["result"]["best"]["source"].as_str().unwrap_or("");
    assert!(
        ["inverter", "corrector", "generator"].contains(&source),
        "{json}"
    );

    // Installed once: `models fetch` (no download needed, the base models are present)
    // finds it in place.
    let fetch = run(&["models", "fetch"]);
    let stdout = String::from_utf8_lossy(&fetch.stdout);
    assert!(
        fetch.status.success(),
        "{}",
        String::from_utf8_lossy(&fetch.stderr)
    );
    assert!(
        stdout.contains(&format!("latent: ok ({})", installed.display())),
        "{stdout}"
    );
}
