//! Stage 2 of the generator: policy-gradient training on the real reward.
//!
//! Each step takes a few train targets, samples a group of prompts for each from the
//! current policy, asks a reward function (in the product: the real LLM answers each
//! prompt and the reward is the cosine of its answer's embedding to the target) and moves
//! the policy towards the prompts that scored above their group's mean (a group baseline,
//! as in RLOO/GRPO: no value network). A KL penalty to the stage-1 generator, the frozen
//! reference, keeps the prompts readable:
//!
//! `loss = −Σ_i A_i · mean_t log π(y_it) / n + β · mean_it k3(π, π_ref)`
//!
//! with `A_i = (r_i − mean of its group) / (std of the step's rewards)` and the
//! low-variance estimator `k3 = exp(log π_ref − log π) − (log π_ref − log π) − 1` on the
//! sampled tokens (non-negative, its expectation the KL). Samples are drawn with the
//! decoding controls of `vec2prompt_latent::generator_decode` (special tokens masked, no repeated
//! 3-gram), so the sampler is the policy restricted to readable prompts; the
//! log-probabilities are the model's own.
//!
//! The loop is time-boxed and resumable like stage 1: targets come in a seeded order and
//! each step's samples have their own seed, so a run interrupted at any point (even by
//! `kill -9`) and resumed reaches the weights of an uninterrupted one.

use crate::generator::RunLimits;
use crate::kit::checkpoint::{self, TrainState};
use crate::kit::optim::AdamW;
use crate::kit::{Schedule, candle_err as model_err, ensure_finite};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use vec2prompt_core::{Error, Result};
use vec2prompt_latent::generator::set_vars;
use vec2prompt_latent::generator_decode::{DecodeOptions, Decoded, Strategy, decode};
use vec2prompt_latent::generator_model::{GeneratorModel, Layout};

/// Stage-2 settings (the `rl` section of the training config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlConfig {
    /// Targets per step.
    pub targets_per_step: usize,
    /// Prompts sampled per target (the group its baseline is the mean of).
    pub group: usize,
    /// Learning rate (after warmup, constant).
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup: usize,
    /// Planned steps (the run is finished after them).
    pub steps: usize,
    /// Weight β of the KL penalty to the stage-1 generator.
    pub kl: f64,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus mass kept when sampling.
    pub top_p: f32,
    /// Longest prompt sampled, in tokens.
    pub max_tokens: usize,
    /// Sampled prompts per forward and backward pass; a step's gradient is accumulated
    /// over its micro-batches (the activations of a whole step of 64 prompts would not
    /// fit in 24 GiB).
    pub micro_batch: usize,
    /// Steps between checkpoints.
    pub checkpoint_steps: usize,
    /// Held-out validation targets whose greedy prompts are scored before and after.
    pub eval_targets: usize,
    /// Seed of the target order and of the samples.
    pub seed: u64,
    /// What scores the sampled prompts during training (the held-out check before and
    /// after always uses the real LLM).
    pub reward: RewardSource,
}

/// What scores stage 2's sampled prompts during training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardSource {
    /// The configured LLM answers each prompt; the reward is the cosine of the answer's
    /// embedding to the target (the real reward; a step of 16 prompts took about two
    /// minutes on 2 CPU cores, answers and learning together).
    #[default]
    Llm,
    /// The learned surrogate predicts the answer's embedding from the prompt's; the
    /// reward is its cosine to the target (about 12 ms per prompt there, so many more
    /// steps fit a time box; it can be exploited where the surrogate is wrong, which the
    /// held-out check with the real LLM measures).
    Surrogate,
}

impl RewardSource {
    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Surrogate => "surrogate",
        }
    }
}

impl Default for RlConfig {
    fn default() -> Self {
        Self {
            targets_per_step: 4,
            group: 4,
            lr: 2e-4,
            warmup: 5,
            steps: 500,
            kl: 0.05,
            temperature: 0.8,
            top_p: 0.95,
            max_tokens: 48,
            micro_batch: 8,
            checkpoint_steps: 5,
            eval_targets: 64,
            seed: 0,
            reward: RewardSource::Llm,
        }
    }
}

/// The reward of sampled prompts: token ids (without the end id) and, for each, the row
/// of its target in [`RlData::conditions`]; one reward per prompt.
pub type RewardFn<'a> = dyn FnMut(&[Vec<u32>], &[usize]) -> Result<Vec<f32>> + 'a;

/// Targets as stage 2 needs them.
pub struct RlData {
    /// Target vectors, row-major.
    pub conditions: Vec<f32>,
    /// Their width.
    pub dim: usize,
    /// Rows trained on (train targets).
    pub train: Vec<usize>,
}

impl RlData {
    /// The rows `rows` as a `(rows, dim)` tensor.
    pub fn tensor(&self, rows: &[usize]) -> candle_core::Result<Tensor> {
        let d = self.dim;
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.conditions[r * d..(r + 1) * d].iter().copied())
            .collect();
        Tensor::from_vec(flat, (rows.len(), d), &Device::Cpu)
    }
}

/// One logged step of stage 2.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RlStep {
    /// Step number (1-based).
    pub step: usize,
    /// Mean reward of the step's samples.
    pub reward: f64,
    /// Mean per-token KL estimate to the reference.
    pub kl: f64,
    /// Share of the step's samples that were distinct within their group.
    pub distinct: f64,
}

fn schedule(c: &RlConfig) -> Schedule {
    Schedule {
        peak: c.lr,
        warmup: c.warmup,
        decay_steps: None,
    }
}

/// The target order of pass `pass`: a function of the seed alone.
fn pass_order(data: &RlData, seed: u64, pass: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed ^ ((pass as u64 + 1) * 0xA24B_AED4));
    let mut order = data.train.clone();
    order.shuffle(&mut rng);
    order
}

/// A sampled prompt as the sequence the policy scores: its ids, then the end id when the
/// model ended its turn.
fn sequence(d: &Decoded, end: u32) -> Vec<u32> {
    let mut s = d.ids.clone();
    if d.finished || s.is_empty() {
        s.push(end);
    }
    s
}

/// Group-baseline advantages: each reward minus its group's mean, divided by the standard
/// deviation of all rewards of the step (floored, so a step of near-equal rewards does not
/// amplify noise).
pub fn advantages(rewards: &[f32], group: usize) -> Vec<f32> {
    let n = rewards.len().max(1) as f32;
    let mean = rewards.iter().sum::<f32>() / n;
    let var = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / n;
    let scale = var.sqrt().max(0.02);
    rewards
        .chunks(group.max(1))
        .flat_map(|g| {
            let m = g.iter().sum::<f32>() / g.len() as f32;
            g.iter().map(move |r| (r - m) / scale)
        })
        .collect()
}

/// The stage-2 objective of one batch of sampled `sequences` (with their `conditions`)
/// with advantages `adv`: returns (loss to differentiate, mean per-token KL estimate).
pub fn objective(
    policy: &GeneratorModel,
    reference: &GeneratorModel,
    layout: &Layout,
    conditions: &Tensor,
    sequences: &[Vec<u32>],
    adv: &[f32],
    beta: f64,
) -> candle_core::Result<(Tensor, f64)> {
    let tokens = sequences.iter().map(Vec::len).sum();
    let step = StepSize {
        sequences: sequences.len(),
        tokens,
    };
    objective_part(
        policy, reference, layout, conditions, sequences, adv, beta, step,
    )
}

/// The size of a whole step, which normalizes each micro-batch's share of its objective.
#[derive(Debug, Clone, Copy)]
pub struct StepSize {
    /// Sampled prompts in the step.
    pub sequences: usize,
    /// Their tokens (the end id included where scored).
    pub tokens: usize,
}

/// A micro-batch's share of a step's [`objective`]: normalized by the whole `step`'s
/// counts, so the shares of its micro-batches sum to the step's loss and KL (and their
/// gradients to its gradient). Returns (loss share, KL share).
#[allow(clippy::too_many_arguments)]
pub fn objective_part(
    policy: &GeneratorModel,
    reference: &GeneratorModel,
    layout: &Layout,
    conditions: &Tensor,
    sequences: &[Vec<u32>],
    adv: &[f32],
    beta: f64,
    step: StepSize,
) -> candle_core::Result<(Tensor, f64)> {
    let (logp, rows) = policy.token_logprobs(layout, conditions, sequences)?;
    // The reference's graph is dropped at the end of this block: only its values stay.
    let ref_logp = {
        let (r, _) = reference.token_logprobs(layout, conditions, sequences)?;
        r.detach()
    };
    let n_seq = step.sequences.max(1) as f32;
    let weights: Vec<f32> = rows
        .iter()
        .map(|&r| adv[r] / sequences[r].len() as f32 / n_seq)
        .collect();
    let n = weights.len();
    let w = Tensor::from_vec(weights, n, &Device::Cpu)?;
    let pg = (&logp * &w)?.sum_all()?.neg()?;
    // k3: exp(d) − d − 1 with d = log π_ref − log π.
    let d = (&ref_logp - &logp)?;
    let k3 = ((d.exp()? - &d)? - 1.0)?;
    let kl = (k3.sum_all()? / step.tokens.max(1) as f64)?;
    let kl_value = kl.to_scalar::<f32>()? as f64;
    Ok(((pg + (kl * beta)?)?, kl_value))
}

/// Adds `part`'s gradients of the `trained` variables into `sum`.
fn accumulate(
    mut sum: GradStore,
    part: &GradStore,
    trained: &[Var],
) -> candle_core::Result<GradStore> {
    for var in trained {
        let Some(g) = part.get(var.as_tensor()) else {
            continue;
        };
        let total = match sum.get(var.as_tensor()) {
            Some(prev) => (prev + g)?,
            None => g.clone(),
        };
        sum.insert(var.as_tensor(), total);
    }
    Ok(sum)
}

/// Samples `config.group` prompts for each of `rows`' targets with the step's seed.
pub fn sample_groups(
    policy: &GeneratorModel,
    layout: &Layout,
    banned: &[u32],
    data: &RlData,
    rows: &[usize],
    config: &RlConfig,
    seed: u64,
) -> Result<Vec<Vec<Decoded>>> {
    let options = DecodeOptions {
        strategy: Strategy::Sample {
            temperature: config.temperature,
            top_p: config.top_p,
            seed,
        },
        max_tokens: config.max_tokens,
        // The policy's own distribution, but never a loop or a special token.
        repetition_penalty: 1.0,
        ..DecodeOptions::default()
    };
    let conds = data.tensor(rows).map_err(model_err)?;
    decode(
        policy,
        layout,
        &conds,
        config.group.max(1),
        &options,
        banned,
    )
    .map_err(model_err)
}

/// Trains `policy`'s variables (`varmap`) against `reward` under `dir`, resuming from
/// its checkpoint; `reference` is the frozen stage-1 generator. Returns the state and
/// every logged step.
#[allow(clippy::too_many_arguments)]
pub fn train_rl(
    policy: &GeneratorModel,
    varmap: &VarMap,
    reference: &GeneratorModel,
    layout: &Layout,
    banned: &[u32],
    data: &RlData,
    config: &RlConfig,
    dir: &Path,
    limits: &RunLimits,
    reward: &mut RewardFn,
) -> Result<(TrainState, Vec<RlStep>)> {
    if data.train.is_empty() {
        return Err(Error::invalid("RL data", "no train targets"));
    }
    if config.group < 2 {
        return Err(Error::invalid(
            "rl.group",
            "needs at least 2 samples per target for a group baseline",
        ));
    }
    let vars = varmap.data().lock().map(|d| d.clone()).unwrap_or_default();
    let trained: Vec<Var> = vars.values().cloned().collect();
    let mut adam = AdamW::new(vars, 0.0).map_err(model_err)?;
    let mut state = TrainState::default();
    let mut log: Vec<RlStep> = Vec::new();
    if let Some((saved, tensors)) = checkpoint::resume(dir, &mut adam)? {
        set_vars(varmap, &tensors)
            .map_err(|e| Error::model(dir, e, "delete the run directory to start over"))?;
        if let Some(t) = tensors.get("rl.log") {
            let flat = t.to_vec1::<f64>().map_err(model_err)?;
            log = flat
                .chunks_exact(4)
                .map(|c| RlStep {
                    step: c[0] as usize,
                    reward: c[1],
                    kl: c[2],
                    distinct: c[3],
                })
                .collect();
        }
        state = saved;
        if !limits.quiet {
            eprintln!("resuming {} at step {}", dir.display(), state.step);
        }
    }
    let save = |state: &mut TrainState, adam: &AdamW, log: &[RlStep]| -> Result<()> {
        let mut extra = Vec::new();
        if !log.is_empty() {
            let flat: Vec<f64> = log
                .iter()
                .flat_map(|s| [s.step as f64, s.reward, s.kl, s.distinct])
                .collect();
            let n = flat.len();
            extra.push((
                "rl.log",
                Tensor::from_vec(flat, n, &Device::Cpu).map_err(model_err)?,
            ));
        }
        checkpoint::save_run(dir, varmap, adam, extra, state)
    };
    let started = Instant::now();
    let per = config.targets_per_step.max(1);
    let mut steps_this_run = 0usize;
    let mut order_pass = usize::MAX;
    let mut order: Vec<usize> = Vec::new();
    while state.step < config.steps {
        if limits.reached(started, steps_this_run) {
            break;
        }
        if (state.batch_in_epoch + 1) * per > data.train.len() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
        }
        if order_pass != state.epoch {
            order = pass_order(data, config.seed, state.epoch);
            order_pass = state.epoch;
        }
        let t0 = Instant::now();
        let b = state.batch_in_epoch;
        let rows: Vec<usize> = order[b * per..((b + 1) * per).min(order.len())].to_vec();
        let seed = config
            .seed
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(state.step as u64 * 1_000_003);
        let groups = sample_groups(policy, layout, banned, data, &rows, config, seed)?;
        let sampled_s = t0.elapsed().as_secs_f64();
        let mut ids: Vec<Vec<u32>> = Vec::new();
        let mut seqs: Vec<Vec<u32>> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        let mut distinct = 0usize;
        for (&row, group) in rows.iter().zip(&groups) {
            for (j, d) in group.iter().enumerate() {
                if !group[..j].iter().any(|o| o.ids == d.ids) {
                    distinct += 1;
                }
                ids.push(d.ids.clone());
                seqs.push(sequence(d, layout.end));
                owners.push(row);
            }
        }
        let rewards = reward(&ids, &owners)?;
        let scored_s = t0.elapsed().as_secs_f64();
        if rewards.len() != ids.len() || rewards.iter().any(|r| !r.is_finite()) {
            return Err(Error::invalid(
                "reward",
                format!("{} finite rewards expected, got {rewards:?}", ids.len()),
            ));
        }
        let adv = advantages(&rewards, config.group);
        let size = StepSize {
            sequences: seqs.len(),
            tokens: seqs.iter().map(Vec::len).sum(),
        };
        let (mut value, mut kl) = (0.0f64, 0.0f64);
        let mut grads: Option<GradStore> = None;
        let micro = config.micro_batch.max(1);
        for start in (0..seqs.len()).step_by(micro) {
            let end = (start + micro).min(seqs.len());
            let conds = data.tensor(&owners[start..end]).map_err(model_err)?;
            let (loss, kl_part) = objective_part(
                policy,
                reference,
                layout,
                &conds,
                &seqs[start..end],
                &adv[start..end],
                config.kl,
                size,
            )
            .map_err(model_err)?;
            value += loss.to_scalar::<f32>().map_err(model_err)? as f64;
            kl += kl_part;
            let part = loss.backward().map_err(model_err)?;
            grads = Some(match grads {
                None => part,
                Some(sum) => accumulate(sum, &part, &trained).map_err(model_err)?,
            });
        }
        ensure_finite(value, "the objective", dir, state.step)?;
        let Some(grads) = grads else {
            return Err(Error::invalid("RL step", "no sampled prompt to learn from"));
        };
        adam.step(&grads, schedule(config).at(state.step))
            .map_err(model_err)?;
        let mean_reward = rewards.iter().map(|&r| r as f64).sum::<f64>() / rewards.len() as f64;
        state.step += 1;
        steps_this_run += 1;
        state.batch_in_epoch += 1;
        state.tokens += seqs.iter().map(|s| s.len() as u64).sum::<u64>();
        let dt = t0.elapsed().as_secs_f64();
        state.wall_seconds += dt;
        state.losses.push((state.step, value));
        log.push(RlStep {
            step: state.step,
            reward: mean_reward,
            kl,
            distinct: distinct as f64 / ids.len().max(1) as f64,
        });
        if !limits.quiet {
            eprintln!(
                "rl step {}/{}: reward {mean_reward:.4}, KL {kl:.4}, {} distinct of {}, {dt:.1} s (sampling {:.1}, reward {:.1}, learning {:.1})",
                state.step,
                config.steps,
                distinct,
                ids.len(),
                sampled_s,
                scored_s - sampled_s,
                dt - scored_s
            );
        }
        if state.step % config.checkpoint_steps.max(1) == 0 {
            save(&mut state, &adam, &log)?;
        }
    }
    state.finished = state.step >= config.steps;
    save(&mut state, &adam, &log)?;
    Ok((state, log))
}

/// The reward of each target's greedy prompt (`rows` of `data`), e.g. for held-out
/// targets before and after training; returns the prompts' ids and their rewards.
pub fn greedy_rewards(
    model: &GeneratorModel,
    layout: &Layout,
    banned: &[u32],
    data: &RlData,
    rows: &[usize],
    max_tokens: usize,
    reward: &mut RewardFn,
) -> Result<(Vec<Vec<u32>>, Vec<f32>)> {
    let options = DecodeOptions {
        max_tokens,
        ..DecodeOptions::default()
    };
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(16) {
        let conds = data.tensor(chunk).map_err(model_err)?;
        let decoded = decode(model, layout, &conds, 1, &options, banned).map_err(model_err)?;
        ids.extend(
            decoded
                .into_iter()
                .map(|mut g| g.pop().map(|d| d.ids).unwrap_or_default()),
        );
    }
    let rewards = reward(&ids, rows)?;
    Ok((ids, rewards))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantages_center_each_group_and_share_one_scale() {
        let a = advantages(&[1.0, 0.0, 0.5, 0.5], 2);
        assert!((a[0] + a[1]).abs() < 1e-6 && a[0] > 0.0);
        assert_eq!(a[2], 0.0);
        assert_eq!(a[3], 0.0);
        // Near-equal rewards are not blown up into unit advantages.
        let small = advantages(&[0.501, 0.5], 2);
        assert!(small[0] < 0.1, "{small:?}");
    }

    #[test]
    fn the_shipped_rl_configs_parse() {
        let file: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../configs/rl.yaml")).unwrap();
        let c: RlConfig = serde_yaml::from_value(file["rl"].clone()).unwrap();
        assert!(c.group >= 2);
        assert_eq!(c.reward, RewardSource::Llm);
        let file: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../configs/rl-surrogate.yaml")).unwrap();
        let c: RlConfig = serde_yaml::from_value(file["rl"].clone()).unwrap();
        assert!(c.group >= 2);
        assert_eq!(c.reward, RewardSource::Surrogate);
    }

    #[test]
    fn the_reward_source_is_named_in_the_config() {
        let c: RlConfig = serde_yaml::from_str("reward: surrogate").unwrap();
        assert_eq!(c.reward, RewardSource::Surrogate);
        assert_eq!(c.reward.name(), "surrogate");
        assert_eq!(RlConfig::default().reward, RewardSource::Llm);
        assert!(serde_yaml::from_str::<RlConfig>("reward: oracle").is_err());
    }
}
