//! The generator on a tiny random llama (the real model's structure: grouped-query
//! attention, RoPE, RMS norm, SiLU MLP, tied embeddings) generated in the test.

#[path = "../../latent/tests/common/mod.rs"]
mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vec2prompt_latent::generator_decode::{DecodeOptions, Strategy, decode};
use vec2prompt_latent::generator_model::{BaseWeights, GeneratorConfig, GeneratorModel, Layout};
use vec2prompt_train::generator::{
    GeneratorData, GeneratorTrainConfig, RunLimits, evaluate, train_stage1,
};
use vec2prompt_train::kit::optim::AdamW;

const COND: usize = 6;

fn base() -> BaseWeights {
    BaseWeights::random(&common::tiny_llama(8), 48, 7).unwrap()
}

fn gen_config() -> GeneratorConfig {
    GeneratorConfig {
        condition: COND,
        soft_tokens: 3,
        projector_hidden: 16,
        lora_rank: 4,
        lora_alpha: 8.0,
        ..GeneratorConfig::default()
    }
}

fn layout() -> Layout {
    Layout {
        prefix: vec![1, 2],
        suffix: vec![3],
        end: 4,
    }
}

fn model(base: &BaseWeights) -> (GeneratorModel, VarMap) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let m = GeneratorModel::new(base, &gen_config(), vb).unwrap();
    (m, varmap)
}

/// Four examples: distinct conditions, token sequences without repeated 3-grams.
fn data() -> GeneratorData {
    let seqs: Vec<Vec<u32>> = vec![
        vec![10, 11, 12, 13, 4],
        vec![20, 21, 22, 4],
        vec![30, 31, 32, 33, 34, 4],
        vec![40, 12, 21, 4],
    ];
    GeneratorData {
        conditions: common::random_rows(4, COND, 3)
            .iter()
            .map(|v| v * 4.0)
            .collect(),
        dim: COND,
        train: seqs.iter().cloned().enumerate().collect(),
        val: seqs.into_iter().enumerate().collect(),
    }
}

fn cond(d: &GeneratorData) -> Tensor {
    Tensor::from_vec(d.conditions.clone(), (4, COND), &Device::Cpu).unwrap()
}

fn snapshot(ts: &[&Tensor]) -> Vec<Vec<f32>> {
    ts.iter()
        .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

#[test]
fn every_trainable_tensor_gets_a_gradient_and_the_base_stays_frozen() {
    let base = base();
    let before = snapshot(&base.tensors());
    let (m, varmap) = model(&base);
    let vars = varmap.data().lock().unwrap().clone();
    // Projector (2 weights, 2 biases) + A and B of q and v in each of 2 layers.
    assert_eq!(
        vars.len(),
        4 + 2 * 4,
        "{:?}",
        vars.keys().collect::<Vec<_>>()
    );
    let d = data();
    let seqs: Vec<Vec<u32>> = d.train.iter().map(|(_, s)| s.clone()).collect();
    let mut adam = AdamW::new(vars.clone(), 0.0).unwrap();
    // B starts at zero, so A's gradient is zero before the first step: take one.
    let loss = m.loss(&layout(), &cond(&d), &seqs).unwrap();
    adam.step(&loss.backward().unwrap(), 1e-2).unwrap();
    let loss = m.loss(&layout(), &cond(&d), &seqs).unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in &vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} has no gradient"));
        let norm = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(norm > 0.0, "{name} has a zero gradient");
    }
    adam.step(&grads, 1e-2).unwrap();
    assert_eq!(before, snapshot(&base.tensors()), "frozen weights changed");
    assert_eq!(before, snapshot(&base.tensors()));
}

#[test]
fn cached_decoding_computes_the_training_forward() {
    let base = base();
    let (m, varmap) = model(&base);
    vec2prompt_latent::params::seeded_init(&varmap, 1).unwrap();
    // Non-zero adapters, so the check covers them too.
    let vars = varmap.data().lock().unwrap().clone();
    for (name, var) in vars {
        if name.ends_with(".b") {
            let t = (Tensor::ones(var.dims(), DType::F32, &Device::Cpu).unwrap() * 0.05).unwrap();
            var.set(&t).unwrap();
        }
    }
    let d = data();
    let options = DecodeOptions {
        max_tokens: 6,
        ..DecodeOptions::default().uncontrolled()
    };
    // The prefix's keys and values are computed once and shared by the rows: a batch
    // gives each row what it gets alone.
    let (together, _) = m.start(&layout(), &cond(&d)).unwrap();
    for i in 0..4 {
        let (alone, _) = m
            .start(&layout(), &cond(&d).narrow(0, i, 1).unwrap())
            .unwrap();
        let diff = (together.narrow(0, i, 1).unwrap() - alone)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-4, "row {i} differs by {diff}");
    }
    let out = decode(&m, &layout(), &cond(&d), 1, &options, &[]).unwrap();
    for (i, ds) in out.iter().enumerate() {
        let dec = &ds[0];
        let mut seq = dec.ids.clone();
        if dec.finished {
            seq.push(layout().end);
        }
        // The first step bans the end id (never an empty prompt): score from the second.
        let c = cond(&d).narrow(0, i, 1).unwrap();
        let (logp, _) = m.token_logprobs(&layout(), &c, &[seq.clone()]).unwrap();
        let logp = logp.to_vec1::<f32>().unwrap();
        assert_eq!(logp.len(), seq.len());
        // Greedy picks the training forward's most likely token at every step after the
        // first; its log-probabilities agree with the training path's.
        let training: f32 = logp[1..].iter().sum();
        let mut first_and_rest = dec.logprob as f32;
        // Remove the first token's renormalized log-prob by recomputing it from the cache.
        let (logits, _) = m.start(&layout(), &c).unwrap();
        let mut row = logits.to_vec2::<f32>().unwrap().remove(0);
        row[layout().end as usize] = f32::NEG_INFINITY;
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
        first_and_rest -= row[seq[0] as usize] - lse;
        assert!(
            (training - first_and_rest).abs() < 1e-3,
            "row {i}: training forward {training}, cached {first_and_rest}"
        );
    }
}

#[test]
fn a_tiny_generator_overfits_and_greedy_and_beam_reproduce_the_prompts() {
    let base = base();
    let (m, varmap) = model(&base);
    let d = data();
    let config = GeneratorTrainConfig {
        model: gen_config(),
        batch_size: 4,
        lr: 2e-2,
        warmup: 5,
        steps: 120,
        checkpoint_steps: 1000,
        eval_steps: 1000,
        val_examples: 4,
        ..GeneratorTrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    vec2prompt_latent::params::seeded_init(&varmap, config.seed).unwrap();
    let (start, _) = evaluate(&m, &layout(), &d, &config).unwrap();
    let (state, shuffled) = train_stage1(
        &m,
        &varmap,
        &layout(),
        &d,
        &config,
        dir.path(),
        &RunLimits {
            quiet: true,
            ..RunLimits::default()
        },
    )
    .unwrap();
    assert!(state.finished);
    let (end, end_shuffled) = evaluate(&m, &layout(), &d, &config).unwrap();
    assert!(end < 0.1 * start, "loss {start} → {end}");
    assert!(end_shuffled > end + 1.0, "shuffled {end_shuffled} vs {end}");
    assert_eq!(shuffled.len(), 1, "one evaluation at the last step");
    let options = DecodeOptions {
        max_tokens: 8,
        ..DecodeOptions::default()
    };
    let greedy = decode(&m, &layout(), &cond(&d), 1, &options, &[0]).unwrap();
    let beam = DecodeOptions {
        strategy: Strategy::Beam { width: 3 },
        ..options.clone()
    };
    let beams = decode(&m, &layout(), &cond(&d), 2, &beam, &[0]).unwrap();
    let sampled = DecodeOptions {
        strategy: Strategy::Sample {
            temperature: 0.5,
            top_p: 0.9,
            seed: 3,
        },
        ..options.clone()
    };
    let samples = decode(&m, &layout(), &cond(&d), 3, &sampled, &[0]).unwrap();
    let again = decode(&m, &layout(), &cond(&d), 3, &sampled, &[0]).unwrap();
    assert_eq!(samples, again, "seeded sampling is reproducible");
    for (i, (_, seq)) in d.train.iter().enumerate() {
        let text = &seq[..seq.len() - 1];
        assert_eq!(greedy[i].len(), 1);
        assert_eq!(greedy[i][0].ids, text, "greedy {i}");
        assert!(greedy[i][0].finished);
        assert_eq!(beams[i].len(), 2);
        assert_eq!(beams[i][0].ids, text, "best beam {i}");
        assert_ne!(beams[i][0].ids, beams[i][1].ids);
        assert_eq!(samples[i].len(), 3);
    }
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights() {
    let base = base();
    let d = data();
    let config = GeneratorTrainConfig {
        model: gen_config(),
        batch_size: 3, // 4 examples: batches cross pass boundaries
        lr: 1e-2,
        warmup: 2,
        steps: 9,
        checkpoint_steps: 2,
        eval_steps: 4,
        val_examples: 4,
        ..GeneratorTrainConfig::default()
    };
    let quiet = RunLimits {
        quiet: true,
        ..RunLimits::default()
    };
    let whole = tempfile::tempdir().unwrap();
    let (m, varmap) = model(&base);
    let (s1, h1) = train_stage1(&m, &varmap, &layout(), &d, &config, whole.path(), &quiet).unwrap();
    let reference = vec2prompt_latent::params::weights(&varmap);

    let parts = tempfile::tempdir().unwrap();
    for limit in [3, 2, 100] {
        // A fresh model each time: nothing survives but the checkpoint on disk.
        let (m, varmap) = model(&base);
        let limits = RunLimits {
            max_steps: Some(limit),
            quiet: true,
            ..RunLimits::default()
        };
        train_stage1(&m, &varmap, &layout(), &d, &config, parts.path(), &limits).unwrap();
    }
    let (m, varmap) = model(&base);
    let (s2, h2) = train_stage1(&m, &varmap, &layout(), &d, &config, parts.path(), &quiet).unwrap();
    let resumed = vec2prompt_latent::params::weights(&varmap);
    assert_eq!(s1.step, 9);
    assert_eq!(s1.step, s2.step);
    // Losses pass through state.json, whose float parsing may move the last bit.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    assert_eq!(s1.losses.len(), s2.losses.len());
    for (a, b) in s1.losses.iter().zip(&s2.losses) {
        assert!(a.0 == b.0 && close(a.1, b.1), "{a:?} vs {b:?}");
    }
    assert_eq!(h1, h2);
    assert_eq!(s1.history.len(), s2.history.len());
    for (a, b) in s1.history.iter().zip(&s2.history) {
        assert!(
            a.step == b.step && close(a.train_loss, b.train_loss) && close(a.val_loss, b.val_loss)
        );
    }
    for (name, t) in &reference {
        let a = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = resumed[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b, "{name} differs after resuming");
    }
}

#[test]
fn sequence_log_probs_sum_the_tokens_and_a_policy_gradient_step_raises_them() {
    let base = base();
    let (m, varmap) = model(&base);
    vec2prompt_latent::params::seeded_init(&varmap, 2).unwrap();
    let d = data();
    let c = cond(&d).narrow(0, 0, 2).unwrap();
    let seqs = vec![vec![7u32, 8, 9, 4], vec![11u32, 4]];
    let (tokens, rows) = m.token_logprobs(&layout(), &c, &seqs).unwrap();
    assert_eq!(rows, [0, 0, 0, 0, 1, 1]);
    let tokens = tokens.to_vec1::<f32>().unwrap();
    let per_seq = m.sequence_logprobs(&layout(), &c, &seqs).unwrap();
    let per_seq = per_seq.to_vec1::<f32>().unwrap();
    assert!((per_seq[0] - tokens[..4].iter().sum::<f32>()).abs() < 1e-4);
    assert!((per_seq[1] - tokens[4..].iter().sum::<f32>()).abs() < 1e-4);
    // REINFORCE with advantages +1 / -1: the rewarded sequence becomes likelier, the
    // other less likely.
    let vars = varmap.data().lock().unwrap().clone();
    let mut adam = AdamW::new(vars, 0.0).unwrap();
    let adv = Tensor::new(&[1f32, -1.0], &Device::Cpu).unwrap();
    for _ in 0..5 {
        let lp = m.sequence_logprobs(&layout(), &c, &seqs).unwrap();
        let objective = (lp * &adv).unwrap().sum_all().unwrap().neg().unwrap();
        adam.step(&objective.backward().unwrap(), 1e-2).unwrap();
    }
    let after = m.sequence_logprobs(&layout(), &c, &seqs).unwrap();
    let after = after.to_vec1::<f32>().unwrap();
    assert!(after[0] > per_seq[0] + 0.1, "{per_seq:?} → {after:?}");
    assert!(after[1] < per_seq[1] - 0.1, "{per_seq:?} → {after:?}");
}

/// Stage 2 on the tiny model: the reward is the share of a prompt's tokens from the upper
/// half of the vocabulary (a known best action: write only those).
mod rl {
    use super::*;
    use vec2prompt_train::rl::{RlConfig, RlData, sample_groups, train_rl};

    fn low_share(ids: &[Vec<u32>], _rows: &[usize]) -> vec2prompt_core::Result<Vec<f32>> {
        Ok(ids
            .iter()
            .map(|s| s.iter().filter(|&&t| t >= 24).count() as f32 / s.len().max(1) as f32)
            .collect())
    }

    fn rl_data() -> RlData {
        let d = data();
        RlData {
            conditions: d.conditions,
            dim: COND,
            train: vec![0, 1, 2, 3],
        }
    }

    fn config() -> RlConfig {
        RlConfig {
            targets_per_step: 2,
            group: 4,
            lr: 2e-2,
            warmup: 1,
            steps: 30,
            kl: 0.01,
            max_tokens: 6,
            checkpoint_steps: 4,
            // Three passes per step of 8 prompts: the accumulated gradient is what learns.
            micro_batch: 3,
            ..RlConfig::default()
        }
    }

    /// The policy and a frozen copy of its starting point (the reference).
    fn pair(base: &BaseWeights) -> (GeneratorModel, VarMap, GeneratorModel) {
        let (policy, varmap) = model(base);
        vec2prompt_latent::params::seeded_init(&varmap, 5).unwrap();
        let (reference, ref_vars) = model(base);
        vec2prompt_latent::params::seeded_init(&ref_vars, 5).unwrap();
        (policy, varmap, reference)
    }

    fn expected_reward(m: &GeneratorModel, d: &RlData) -> f32 {
        let c = RlConfig {
            group: 16,
            ..config()
        };
        let groups = sample_groups(m, &layout(), &[0], d, &d.train, &c, 999).unwrap();
        let ids: Vec<Vec<u32>> = groups.into_iter().flatten().map(|g| g.ids).collect();
        let r = low_share(&ids, &[]).unwrap();
        r.iter().sum::<f32>() / r.len() as f32
    }

    #[test]
    fn the_policy_gradient_raises_the_reward_of_a_known_best_action() {
        let base = base();
        let (policy, varmap, reference) = pair(&base);
        let d = rl_data();
        let before = expected_reward(&policy, &d);
        let dir = tempfile::tempdir().unwrap();
        let quiet = RunLimits {
            quiet: true,
            ..RunLimits::default()
        };
        let (state, log) = train_rl(
            &policy,
            &varmap,
            &reference,
            &layout(),
            &[0],
            &d,
            &config(),
            dir.path(),
            &quiet,
            &mut low_share,
        )
        .unwrap();
        assert_eq!(state.step, 30);
        assert_eq!(log.len(), 30);
        let after = expected_reward(&policy, &d);
        assert!(after > before + 0.15, "reward {before} → {after}");
        // The reference stayed where it was; the KL estimate is non-negative.
        assert!((expected_reward(&reference, &d) - before).abs() < 1e-6);
        assert!(log.iter().all(|s| s.kl >= -1e-6), "{log:?}");
    }

    #[test]
    fn micro_batch_shares_sum_to_the_whole_objective_and_its_gradient() {
        use vec2prompt_train::rl::{StepSize, objective, objective_part};
        let base = base();
        let (policy, varmap, _) = pair(&base);
        // A reference that differs from the policy, so the KL term is not zero.
        let (reference, ref_vars) = model(&base);
        vec2prompt_latent::params::seeded_init(&ref_vars, 6).unwrap();
        let d = rl_data();
        let seqs: Vec<Vec<u32>> = vec![vec![30, 31, 1], vec![5, 40], vec![12, 13, 14, 1], vec![44]];
        let owners = [0usize, 1, 2, 3];
        let adv = [0.7f32, -0.2, 1.1, -1.6];
        let conds = d.tensor(&owners).unwrap();
        let (whole, whole_kl) =
            objective(&policy, &reference, &layout(), &conds, &seqs, &adv, 0.3).unwrap();
        let whole_grads = whole.backward().unwrap();
        let size = StepSize {
            sequences: 4,
            tokens: seqs.iter().map(Vec::len).sum(),
        };
        let (mut loss, mut kl) = (0f32, 0f64);
        let vars = varmap.all_vars();
        let mut sums: Vec<Option<Tensor>> = vec![None; vars.len()];
        for (a, b) in [(0usize, 3usize), (3, 4)] {
            let c = d.tensor(&owners[a..b]).unwrap();
            let (part, part_kl) = objective_part(
                &policy,
                &reference,
                &layout(),
                &c,
                &seqs[a..b],
                &adv[a..b],
                0.3,
                size,
            )
            .unwrap();
            loss += part.to_scalar::<f32>().unwrap();
            kl += part_kl;
            let g = part.backward().unwrap();
            for (sum, v) in sums.iter_mut().zip(&vars) {
                let gv = g.get(v.as_tensor()).unwrap().clone();
                *sum = Some(match sum.take() {
                    None => gv,
                    Some(t) => (t + gv).unwrap(),
                });
            }
        }
        assert!(whole_kl > 1e-4, "{whole_kl}");
        assert!((kl - whole_kl).abs() < 1e-5, "{kl} vs {whole_kl}");
        let w = whole.to_scalar::<f32>().unwrap();
        assert!((loss - w).abs() < 1e-4, "{loss} vs {w}");
        for (sum, v) in sums.iter().zip(&vars) {
            let a = sum
                .as_ref()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let b = whole_grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let scale = b.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
            let diff = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(diff <= 1e-4 * scale.max(1.0), "{diff} of {scale}");
        }
    }

    #[test]
    fn an_interrupted_rl_run_resumes_to_the_same_weights() {
        let base = base();
        let d = rl_data();
        let c = RlConfig {
            steps: 9,
            checkpoint_steps: 2,
            ..config()
        };
        let quiet = RunLimits {
            quiet: true,
            ..RunLimits::default()
        };
        let whole = tempfile::tempdir().unwrap();
        let (policy, varmap, reference) = pair(&base);
        let (_, log1) = train_rl(
            &policy,
            &varmap,
            &reference,
            &layout(),
            &[0],
            &d,
            &c,
            whole.path(),
            &quiet,
            &mut low_share,
        )
        .unwrap();
        let expected = vec2prompt_latent::params::weights(&varmap);
        let parts = tempfile::tempdir().unwrap();
        let mut log2 = Vec::new();
        for limit in [3, 1, 100] {
            // Nothing survives between invocations but the checkpoint on disk.
            let (policy, varmap, reference) = pair(&base);
            let limits = RunLimits {
                max_steps: Some(limit),
                quiet: true,
                ..RunLimits::default()
            };
            log2 = train_rl(
                &policy,
                &varmap,
                &reference,
                &layout(),
                &[0],
                &d,
                &c,
                parts.path(),
                &limits,
                &mut low_share,
            )
            .unwrap()
            .1;
            if limit == 100 {
                let resumed = vec2prompt_latent::params::weights(&varmap);
                for (name, t) in &expected {
                    let a = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let b = resumed[name]
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap();
                    assert_eq!(a, b, "{name} differs after resuming");
                }
            }
        }
        assert_eq!(log1, log2);
    }
}
