//! Training-side guarantees on tiny random models: every trainable tensor receives a
//! gradient, the tokenizer round-trips text, and a resumed run ends exactly where an
//! uninterrupted one does.

#[path = "../../latent/tests/common/mod.rs"]
mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{random_rows, tiny_decoder};
use vec2prompt_latent::bpe::{BOS, EOS};
use vec2prompt_latent::{ConditionalDecoder, PromptTokenizer, Surrogate, SurrogateConfig};
use vec2prompt_train::sequences::{Condition, Example, SequenceTask, inverter_example};
use vec2prompt_train::surrogate_task::SurrogateTask;
use vec2prompt_train::{Task, TrainConfig, train};

fn examples(n: usize, corrector: bool) -> Vec<Example> {
    (0..n)
        .map(|i| {
            let ids: Vec<u32> = (0..(3 + i % 5))
                .map(|k| 4 + ((i * 7 + k * 3) % 36) as u32)
                .collect();
            if corrector {
                Example {
                    condition: Condition::Feedback {
                        target: i as u32,
                        current: ((i + 1) % n) as u32,
                    },
                    prefix: vec![BOS, 5, 6, 3],
                    target: ids.iter().copied().chain([EOS]).collect(),
                }
            } else {
                inverter_example(Condition::Vector(i as u32), &ids, 12)
            }
        })
        .collect()
}

/// Every variable of `varmap` must get a non-zero gradient from `loss`.
fn assert_all_grads(varmap: &VarMap, loss: &Tensor) {
    let grads = loss.backward().expect("backward");
    let vars = varmap.data().lock().expect("lock").clone();
    assert!(!vars.is_empty());
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} received no gradient"));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(norm > 0.0, "{name} received an all-zero gradient");
    }
}

#[test]
fn every_decoder_tensor_receives_a_gradient() {
    for corrector in [false, true] {
        let d = 8;
        let cfg = tiny_decoder(if corrector { 3 * d } else { d });
        let varmap = VarMap::new();
        let decoder = ConditionalDecoder::new(
            &cfg,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap();
        let table = random_rows(10, d, 1);
        let task = SequenceTask {
            decoder: &decoder,
            vectors: &table,
            dim: d,
            train: examples(10, corrector),
            val: examples(4, corrector),
        };
        let (loss, tokens) = task.train_loss(&[0, 1, 2, 3, 4, 5]).unwrap();
        assert!(tokens > 0);
        assert_all_grads(&varmap, &loss);
    }
}

#[test]
fn every_surrogate_tensor_receives_a_gradient() {
    for loss_kind in ["cosine", "mse"] {
        let cfg = SurrogateConfig {
            dim: 8,
            hidden: 16,
            loss: loss_kind.into(),
        };
        let varmap = VarMap::new();
        let model = Surrogate::new(
            &cfg,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap();
        let inputs = random_rows(12, 8, 2);
        let targets = random_rows(12, 8, 3);
        let task = SurrogateTask {
            model: &model,
            inputs: &inputs,
            targets: &targets,
            train: (0..10).collect(),
            val: vec![10, 11],
        };
        let (loss, _) = task.train_loss(&[0, 1, 2, 3]).unwrap();
        assert_all_grads(&varmap, &loss);
    }
}

#[test]
fn tokenizer_round_trips_prompts() {
    let corpus = [
        "Give three tips for staying healthy.",
        "Translate the following sentence into French.\n\nI like apples.",
        "Write a haiku about the sea — with an em dash, café and 漢字.",
        "Calculate 12 * 7 + 3.",
    ];
    let many: Vec<String> = (0..50)
        .flat_map(|_| corpus.iter().map(|s| s.to_string()))
        .collect();
    let tok = PromptTokenizer::train(many.iter().map(|s| s.as_str()), 300).unwrap();
    assert!(tok.vocab_size() <= 300 && tok.vocab_size() > 4);
    for text in corpus
        .iter()
        .copied()
        .chain(["unseen words: zygote, qoph, 🚀", "  two  spaces "])
    {
        let ids = tok.encode(text).unwrap();
        assert!(ids.iter().all(|&i| i > 3), "no special ids inside text");
        assert_eq!(tok.decode(&ids).unwrap(), text, "round trip of {text:?}");
    }
    // Saved and reloaded, it encodes identically.
    let again = PromptTokenizer::from_json(&tok.to_json().unwrap()).unwrap();
    assert_eq!(
        again.encode(corpus[1]).unwrap(),
        tok.encode(corpus[1]).unwrap()
    );
}

fn run_decoder(dir: &std::path::Path, max_steps: Option<usize>) -> Vec<f32> {
    run_decoder_with(dir, max_steps, false)
}

fn run_decoder_with(dir: &std::path::Path, max_steps: Option<usize>, finish_now: bool) -> Vec<f32> {
    let d = 8;
    let cfg = tiny_decoder(d);
    let varmap = VarMap::new();
    let decoder = ConditionalDecoder::new(
        &cfg,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let table = random_rows(24, d, 4);
    let task = SequenceTask {
        decoder: &decoder,
        vectors: &table,
        dim: d,
        train: examples(24, false),
        val: examples(6, false),
    };
    let config = TrainConfig {
        epochs: 3,
        batch_size: 4,
        lr: 3e-3,
        warmup: 2,
        patience: 5,
        max_steps,
        finish_now,
        ..TrainConfig::default()
    };
    train(&task, &varmap, dir, &config, false).unwrap();
    let w = varmap
        .data()
        .lock()
        .unwrap()
        .get("blocks.0.attn.qkv.weight")
        .unwrap()
        .clone();
    w.as_tensor().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn resumed_training_matches_an_uninterrupted_run() {
    let straight = tempfile::tempdir().unwrap();
    let expected = run_decoder(straight.path(), None);
    let resumed = tempfile::tempdir().unwrap();
    // Stop twice mid-epoch, then finish; fresh models each time load the checkpoint.
    let _ = run_decoder(resumed.path(), Some(5));
    let _ = run_decoder(resumed.path(), Some(4));
    let got = run_decoder(resumed.path(), None);
    assert_eq!(got, expected);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(resumed.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["step"], 18, "3 epochs × 6 batches");
    assert_eq!(state["finished"], true);
    assert!(resumed.path().join("best.safetensors").exists());
}

#[test]
fn two_straight_runs_agree() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    assert_eq!(run_decoder(a.path(), None), run_decoder(b.path(), None));
}

#[test]
fn finishing_early_validates_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let stopped = run_decoder(dir.path(), Some(4));
    let finished = run_decoder_with(dir.path(), None, true);
    assert_eq!(stopped, finished, "no step taken after the checkpoint");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["step"], 4);
    assert_eq!(state["finished"], true);
    assert_eq!(state["history"].as_array().unwrap().len(), 1);
    assert!(dir.path().join("best.safetensors").exists());
}
