//! Both stages of the generator's training survive `kill -9` on the real base model: a
//! run killed after a few checkpoints and started again ends with exactly the adapter of
//! an uninterrupted run. Stage 2 uses the surrogate's reward here (no LLM call while
//! training), so the test stays short; its held-out check still asks the real LLM.

mod common;

use common::{bin, ingested_dataset, kill_at_checkpoint, models_present};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CONFIG: &str = "\
generator:
  batch_size: 2
  lr: 0.001
  warmup: 1
  steps: 8
  checkpoint_steps: 1
  eval_steps: 100
  val_examples: 2
  max_prompt_tokens: 16
  loop_targets: 2
  seed: 0
rl:
  targets_per_step: 2
  group: 2
  lr: 0.001
  warmup: 1
  steps: 6
  kl: 0.05
  max_tokens: 8
  micro_batch: 3
  checkpoint_steps: 1
  eval_targets: 2
  seed: 0
  reward: surrogate
";

fn latent() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/latent")
}

fn train(stage: &str, dataset: &Path, config: &Path, out: &Path, from: Option<&Path>) -> Command {
    let mut c = bin();
    c.env("VEC2PROMPT_LATENT", latent())
        .env("CANDLE_NUM_THREADS", "1")
        .args(["train", stage, "--dataset"])
        .arg(dataset)
        .arg("--train-config")
        .arg(config)
        .arg("--out")
        .arg(out);
    if let Some(from) = from {
        c.arg("--from").arg(from);
    }
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// Kills the run of `c` (SIGKILL) once its checkpoint in `run_dir` has reached step 2.
fn kill_after_two_steps(c: Command, run_dir: &Path) {
    kill_at_checkpoint(c, &run_dir.join("state.json"), 2, Duration::from_secs(600));
}

#[test]
fn both_stages_resume_after_kill_9_to_the_uninterrupted_adapter() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingested_dataset(dir.path(), 240);
    let config = dir.path().join("train.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let weights = "generator.safetensors";

    // Stage 1.
    let clean = dir.path().join("clean");
    run_ok(train("generator", &dataset, &config, &clean, None));
    let killed = dir.path().join("killed");
    kill_after_two_steps(
        train("generator", &dataset, &config, &killed, None),
        &killed.join("runs/generator"),
    );
    let err = run_ok(train("generator", &dataset, &config, &killed, None));
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(
        std::fs::read(killed.join(weights)).unwrap(),
        std::fs::read(clean.join(weights)).unwrap(),
        "the resumed stage-1 adapter differs from the uninterrupted one"
    );
    assert!(killed.join("generator-card.md").exists());

    // Stage 2, from the stage-1 adapter.
    let clean_rl = dir.path().join("clean-rl");
    run_ok(train("rl", &dataset, &config, &clean_rl, Some(&clean)));
    let killed_rl = dir.path().join("killed-rl");
    kill_after_two_steps(
        train("rl", &dataset, &config, &killed_rl, Some(&clean)),
        &killed_rl.join("runs/rl"),
    );
    let err = run_ok(train("rl", &dataset, &config, &killed_rl, Some(&clean)));
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(
        std::fs::read(killed_rl.join(weights)).unwrap(),
        std::fs::read(clean_rl.join(weights)).unwrap(),
        "the resumed stage-2 adapter differs from the uninterrupted one"
    );
    // The adapter moved away from stage 1, and the report names the reward it trained on
    // and the real check's numbers.
    assert_ne!(
        std::fs::read(clean_rl.join(weights)).unwrap(),
        std::fs::read(clean.join(weights)).unwrap()
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(killed_rl.join("rl-report.json")).unwrap()).unwrap();
    assert_eq!(report["reward_source"], "surrogate", "{report}");
    assert_eq!(report["steps"], 6, "{report}");
    assert!(report["reward_before"].as_f64().is_some(), "{report}");
    assert!(report["predicted_after"].as_f64().is_some(), "{report}");
    let card = std::fs::read_to_string(killed_rl.join("rl-card.md")).unwrap();
    assert!(card.contains("surrogate"), "{card}");
    assert!(killed_rl.join("rl-curves.svg").exists());
}
