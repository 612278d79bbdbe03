//! The optimizer on a tiny random llama written by the test (real tokenizer, chat
//! template and weights in a GGUF file; no model download): gradients, frozen weights,
//! learning on a handful of pairs, and resuming a phase.

use candle_core::Tensor;
use vec2prompt_latent::generator::Base;
use vec2prompt_latent::generator_model::GeneratorConfig;
use vec2prompt_optimizer::{OptimizerConfig, OptimizerManifest, PromptOptimizer, Style};
use vec2prompt_train::kit::optim::AdamW;
use vec2prompt_train::optimizer::train::{Example, RunLimits, batch_loss, train_phase};
use vec2prompt_train::optimizer::{OptimizerTrainConfig, Phase};

const DIM: usize = 6;

fn optimizer(dir: &std::path::Path) -> PromptOptimizer {
    let path = dir.join("tiny.gguf");
    vec2prompt_llm::tiny::write_gguf(&path, &vec2prompt_llm::tiny::Opts::default()).unwrap();
    let base = Base::load(&path).unwrap();
    let config = OptimizerConfig {
        generator: GeneratorConfig {
            condition: DIM,
            soft_tokens: 2,
            projector_hidden: 8,
            lora_rank: 2,
            lora_alpha: 4.0,
            system: "s".into(),
            user: "{soft}".into(),
        },
        intent_hidden: 8,
        dropout: 0.1,
        precise_user: "{soft}{raw}".into(),
        structured_user: "{soft}S {raw}".into(),
        max_raw_chars: 12,
    };
    let manifest = OptimizerManifest {
        config,
        base_name: base.name.clone(),
        base_sha256: base.sha256.clone(),
        embedder: "test".into(),
        embedder_dim: DIM,
    };
    PromptOptimizer::with_base(base, manifest).unwrap()
}

fn vector(seed: usize) -> Vec<f32> {
    (0..DIM)
        .map(|i| (((seed * 7 + i * 3) % 11) as f32 - 5.0) / 5.0)
        .collect()
}

fn examples() -> Vec<Example> {
    [
        ("hi", "hello world", Style::Precise),
        ("w", "user", Style::Precise),
        ("x", "hello", Style::Structured),
    ]
    .iter()
    .enumerate()
    .map(|(i, (raw, target, style))| Example {
        raw: raw.to_string(),
        e_raw: vector(i),
        target: target.to_string(),
        e_target: vector(i + 10),
        style: *style,
        negatives: vec![vector(i + 20)],
    })
    .collect()
}

fn config() -> OptimizerTrainConfig {
    OptimizerTrainConfig {
        batch_size: 3,
        lr: 2e-2,
        warmup: 1,
        distill_steps: 40,
        contrastive_steps: 40,
        max_target_tokens: 8,
        max_structured_tokens: 8,
        checkpoint_steps: 5,
        eval_steps: 10,
        val_examples: 3,
        ..OptimizerTrainConfig::default()
    }
}

fn snapshot(ts: &[&Tensor]) -> Vec<Vec<f32>> {
    ts.iter()
        .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

#[test]
fn every_trainable_tensor_gets_a_gradient_and_frozen_ones_stay_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let o = optimizer(tmp.path());
    let frozen = snapshot(&o.base.weights().unwrap().tensors());
    let vars = o.varmap.data().lock().unwrap().clone();
    // Intent network (2 weights, 2 biases), projector (same), A and B of q and v in 2 blocks.
    assert_eq!(
        vars.len(),
        4 + 4 + 2 * 4,
        "{:?}",
        vars.keys().collect::<Vec<_>>()
    );
    let ex = examples();
    let batch: Vec<&Example> = ex.iter().collect();
    let c = config();
    let mut adam = AdamW::new(vars.clone(), 0.0).unwrap();
    for phase in [Phase::Distill, Phase::Contrastive] {
        // LoRA's B starts at zero, so A's gradient is zero before the first step: take one.
        let (loss, _) = batch_loss(&o, &batch, phase, &c, false).unwrap();
        adam.step(&loss.backward().unwrap(), 1e-2).unwrap();
        let (loss, terms) = batch_loss(&o, &batch, phase, &c, false).unwrap();
        assert!(
            terms.ce > 0.0 && terms.kl >= 0.0 && terms.aux > 0.0,
            "{terms:?}"
        );
        let grads = loss.backward().unwrap();
        for (name, var) in &vars {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name} has no gradient ({phase:?})"));
            let norm = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "{name} has a zero gradient ({phase:?})");
        }
        adam.step(&grads, 1e-2).unwrap();
    }
    assert_eq!(
        frozen,
        snapshot(&o.base.weights().unwrap().tensors()),
        "the base model changed"
    );
}

#[test]
fn distillation_learns_a_handful_of_pairs_and_a_resumed_run_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let o = optimizer(tmp.path());
    let ex = examples();
    let c = config();
    let run_dir = tmp.path().join("run");
    let first = train_phase(
        &o,
        Phase::Distill,
        &ex,
        &ex,
        &c,
        &run_dir,
        None,
        &RunLimits {
            max_steps: Some(20),
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(first.state.step, 20);
    assert!(!first.state.finished);
    // A new process would start from nothing but the run directory.
    let o2 = optimizer(tmp.path());
    let second = train_phase(
        &o2,
        Phase::Distill,
        &ex,
        &ex,
        &c,
        &run_dir,
        None,
        &RunLimits {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(second.state.step, 40);
    assert!(second.state.finished);
    assert_eq!(second.terms.len(), 40, "the curves survive the resume");
    let ce: Vec<f64> = second.terms.iter().map(|(_, t)| t.ce).collect();
    let (start, end) = (
        ce[..3].iter().sum::<f64>() / 3.0,
        ce[37..].iter().sum::<f64>() / 3.0,
    );
    assert!(end < 0.5 * start, "cross-entropy {start:.3} → {end:.3}");
    let h = &second.state.history;
    assert!(
        h.last().unwrap().val_loss < h.first().unwrap().val_loss,
        "{h:?}"
    );
    // The trained model starts its target for a training raw prompt.
    let out = o2
        .optimize("hi", &vector(0), Style::Precise, 1, &Default::default())
        .unwrap();
    assert!(
        out.first().is_some_and(|p| p.starts_with("hello")),
        "{out:?}"
    );
}

#[test]
fn a_saved_optimizer_loads_with_the_same_outputs_and_refuses_another_base() {
    let tmp = tempfile::tempdir().unwrap();
    let o = optimizer(tmp.path());
    vec2prompt_latent::params::seeded_init(&o.varmap, 3).unwrap();
    let dir = tmp.path().join("saved");
    o.save(&dir).unwrap();
    let loaded = PromptOptimizer::load(&tmp.path().join("tiny.gguf"), &dir).unwrap();
    let a = o.intents(&[vector(1)]).unwrap();
    let b = loaded.intents(&[vector(1)]).unwrap();
    for (x, y) in a[0].iter().zip(&b[0]) {
        assert!((x - y).abs() < 1e-2, "f16 round trip: {x} vs {y}");
    }
    let other = tmp.path().join("other.gguf");
    vec2prompt_llm::tiny::write_gguf(
        &other,
        &vec2prompt_llm::tiny::Opts {
            tied: true,
            ..Default::default()
        },
    )
    .unwrap();
    let e = PromptOptimizer::load(&other, &dir)
        .err()
        .expect("another base is refused")
        .to_string();
    assert!(e.contains("trained on"), "{e}");
    let e = o.intents(&[vec![0.0; DIM + 1]]).unwrap_err().to_string();
    assert!(e.contains("6-dimensional"), "{e}");

    // Merged in f32 and released for inference, the loaded optimizer rewrites as before.
    let mut loaded = loaded;
    let rewrite = |o: &PromptOptimizer| {
        o.optimize("hi", &vector(1), Style::Precise, 1, &Default::default())
            .unwrap()
    };
    let before = rewrite(&loaded);
    assert!(
        loaded.release_training_weights().is_err(),
        "nothing merged yet"
    );
    loaded
        .merge_for_inference(vec2prompt_llm::WeightFormat::F32)
        .unwrap();
    loaded.release_training_weights().unwrap();
    assert_eq!(rewrite(&loaded), before);
    assert!(loaded.model().is_err() && loaded.reference().is_err());
    assert!(loaded.unmerge().is_err());
}

#[test]
fn a_decode_longer_than_the_context_stops_at_the_context() {
    use vec2prompt_latent::generator_decode::{DecodeOptions, Strategy};
    let tmp = tempfile::tempdir().unwrap();
    let o = optimizer(tmp.path());
    vec2prompt_latent::params::seeded_init(&o.varmap, 5).unwrap();
    let context = vec2prompt_llm::tiny::CONTEXT;
    for strategy in [
        Strategy::Greedy,
        Strategy::Sample {
            temperature: 1.0,
            top_p: 1.0,
            seed: 1,
        },
        Strategy::Beam { width: 2 },
    ] {
        let options = DecodeOptions {
            strategy: strategy.clone(),
            max_tokens: 10 * context,
            no_repeat_ngram: 0,
            repetition_penalty: 1.0,
            scaffold: None,
            greedy_first: None,
        };
        let out = o
            .optimize("hi", &vector(2), Style::Precise, 2, &options)
            .unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
        assert!(!out.is_empty(), "{strategy:?}");
    }
}

#[test]
fn a_structured_rewrite_has_every_section_in_order_and_drafts_keep_words_first() {
    use vec2prompt_latent::generator_decode::DecodeOptions;
    use vec2prompt_optimizer::structured::{SECTIONS, sections};
    let tmp = tempfile::tempdir().unwrap();
    let o = optimizer(tmp.path());
    vec2prompt_latent::params::seeded_init(&o.varmap, 3).unwrap();
    // The frame in the base's tokens: each head decodes back to its text, and exactly
    // the tokens holding a line break end a line.
    let frame = o.frame().unwrap();
    for (ids, text) in frame
        .heads
        .iter()
        .zip(vec2prompt_optimizer::structured::FRAME)
    {
        assert_eq!(o.base.tokenizer.decode(ids).unwrap(), text);
    }
    let newline = o.base.tokenizer.encode("\n").unwrap();
    assert!(newline.iter().all(|&t| frame.line_end[t as usize]));
    let letter = o.base.tokenizer.encode("a").unwrap()[0];
    assert!(!frame.line_end[letter as usize]);
    // Even an untrained model writes the headers in order, as far as the tiny context
    // (64 positions, bytes for tokens) lets it: the decoder writes them, not the model.
    let short = vec2prompt_latent::generator_decode::Scaffold::new(
        frame.heads.clone(),
        frame.line_end.clone(),
        1,
    )
    .unwrap();
    let options = DecodeOptions {
        max_tokens: 200,
        scaffold: Some(std::sync::Arc::new(short)),
        ..DecodeOptions::default()
    };
    let out = o
        .optimize("hi", &vector(4), Style::Structured, 1, &options)
        .unwrap();
    let found: Vec<&str> = sections(&out[0]).into_iter().map(|(h, _)| h).collect();
    assert!(found.len() >= 2, "{}", out[0]);
    assert_eq!(found, SECTIONS[..found.len()].to_vec(), "{}", out[0]);
    // Drafts: at most `want`, distinct, and none that keeps the user's words after one
    // that does not.
    for want in [1, 3] {
        let d = o
            .drafts_until("hi there", &vector(5), Style::Precise, want, 12, 7, &|| {
                false
            })
            .unwrap();
        assert!(!d.is_empty() && d.len() <= want, "{d:?}");
        let drifts: Vec<bool> = d
            .iter()
            .map(|t| vec2prompt_optimizer::judge::drifts("hi there", t))
            .collect();
        assert!(drifts.windows(2).all(|w| w[0] <= w[1]), "{d:?} {drifts:?}");
        let mut unique = d.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), d.len());
    }
}

/// With an answer head, a budget's answers are ranked against the head's prediction for
/// the whole raw prompt (its input included), not the instruction alone; a user's target
/// replaces it, and without a budget nothing is predicted.
#[test]
fn the_answer_head_is_the_default_goal_of_a_budget() {
    use candle_nn::{VarBuilder, VarMap};
    use vec2prompt_optimizer::answer_head::{AnswerHead, AnswerHeadManifest};
    use vec2prompt_optimizer::service::{
        GoalKind, OptimizeRequest, Optimizer, RawEmbedding, UserTarget,
    };
    let dir = tempfile::tempdir().unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &candle_core::Device::Cpu);
    let manifest = AnswerHeadManifest {
        model: vec2prompt_latent::SurrogateConfig {
            dim: DIM,
            hidden: 8,
            loss: "cosine".into(),
        },
        embedder: "test".into(),
        embedder_dim: DIM,
        target: "test".into(),
        families: Vec::new(),
        validation: Vec::new(),
    };
    vec2prompt_latent::Surrogate::new(&manifest.model, vb).unwrap();
    let head =
        AnswerHead::from_tensors(manifest, &vec2prompt_latent::params::weights(&varmap)).unwrap();
    let service = Optimizer {
        model: optimizer(dir.path()),
        surrogate: None,
        head: Some(head.clone()),
    };
    let mut request = OptimizeRequest {
        raw_prompt: "sum up\n\nthe text".into(),
        max_length: 6,
        num_return_sequences: 2,
        style: Style::Precise,
        budget: 2,
        target: None,
    };
    assert_eq!(
        request.texts_to_embed(),
        vec!["sum up", "sum up\n\nthe text"]
    );
    let e = RawEmbedding::from_vectors(vec![vector(1), vector(2)]);
    let d = service.draft(&request, &e).unwrap();
    let want = head.predict(&[vector(2)]).unwrap().remove(0);
    assert_eq!(
        d.predicted.as_ref(),
        Some(&want),
        "the whole prompt's prediction"
    );
    // The first answer lands on the prediction, the second opposite: ranked in that order.
    let opposite: Vec<f32> = want.iter().map(|x| -x).collect();
    let first = d.candidates[0].clone();
    let ranked = service.rank(
        d,
        &request,
        &["a".to_string(), "b".to_string()],
        &[want.clone(), opposite],
    );
    assert_eq!(ranked.candidates[0], first);
    assert!((ranked.scores[0].unwrap() - 1.0).abs() < 1e-4);
    // A user's target takes its place.
    request.target =
        Some(UserTarget::from_vector(GoalKind::TargetEmbedding, vector(3), vec![]).unwrap());
    assert_eq!(service.draft(&request, &e).unwrap().predicted, None);
    // Without a budget nothing is compared, so nothing is predicted.
    request.target = None;
    request.budget = 0;
    assert_eq!(service.draft(&request, &e).unwrap().predicted, None);
}
