//! Training the optimizer in two phases, each time-boxed and resumable like the other
//! trainers (a checkpoint of weights, AdamW moments, data position and curves every few
//! steps; `kill -9` at any moment leaves a consistent pair):
//!
//! 1. **Distillation** on (vague → precise or structured) pairs: cross-entropy of the
//!    teacher prompt's tokens, plus the squared distance between the intent and the
//!    teacher prompt's embedding.
//! 2. **Contrastive** on success/failure pairs (human or simulated feedback): InfoNCE on
//!    the intent vectors (pulled towards the successful prompt's embedding, pushed from
//!    the failed one's and from the batch's other positives), plus cross-entropy of the
//!    successful prompt. Phase 2 starts from phase 1's weights.
//!
//! Both add the KL penalty `KL(adapted ‖ base)` on the written tokens (the base model
//! reading the same conversation without soft tokens), which keeps the text readable.

use super::losses::{info_nce, kl_penalty};
use crate::generator::target_sequence;
use crate::kit::checkpoint::{self, EpochLog, TrainState};
use crate::kit::optim::AdamW;
use crate::kit::{Schedule, candle_err as merr, descend};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;
use vec2prompt_core::{Error, Result};
use vec2prompt_optimizer::families::RawFamily;
use vec2prompt_optimizer::model::{PromptOptimizer, Style};

/// One training example.
#[derive(Debug, Clone)]
pub struct Example {
    /// What the optimizer reads (a vague prompt).
    pub raw: String,
    /// E(raw).
    pub e_raw: Vec<f32>,
    /// What it should write.
    pub target: String,
    /// E(target prompt): the intent's teacher (phase 1) or positive (phase 2).
    pub e_target: Vec<f32>,
    /// Which style's conversation.
    pub style: Style,
    /// E(prompts that failed for this raw prompt): phase 2's own negatives.
    pub negatives: Vec<Vec<f32>>,
}

/// The training phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cross-entropy + intent distillation.
    Distill,
    /// Cross-entropy + InfoNCE on feedback.
    Contrastive,
}

impl Phase {
    /// Run directory name.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Distill => "phase1-distill",
            Phase::Contrastive => "phase2-contrastive",
        }
    }
}

/// Settings of `train optimizer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerTrainConfig {
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup: usize,
    /// Planned steps of phase 1.
    pub distill_steps: usize,
    /// Planned steps of phase 2.
    pub contrastive_steps: usize,
    /// Weight of the intent's squared distance to the teacher embedding (phase 1).
    pub distill_weight: f64,
    /// Weight of InfoNCE (phase 2).
    pub contrastive_weight: f64,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Weight of the KL penalty.
    pub kl_weight: f64,
    /// Longest precise target in tokens.
    pub max_target_tokens: usize,
    /// Longest structured target in tokens.
    pub max_structured_tokens: usize,
    /// Steps between checkpoints.
    pub checkpoint_steps: usize,
    /// Steps between validation losses.
    pub eval_steps: usize,
    /// Validation examples in each validation loss.
    pub val_examples: usize,
    /// Train examples of the `precise` style built from the dataset.
    pub precise_pairs: usize,
    /// Rule-seeded `structured` pairs.
    pub structured_pairs: usize,
    /// The raw families the training pairs are written in (their names); the benchmark's
    /// held-out family must not be among them.
    pub families: Vec<String>,
    /// Seed of data order and dropout-free initialization.
    pub seed: u64,
}

impl OptimizerTrainConfig {
    /// The training families, checked.
    pub fn raw_families(&self) -> Result<Vec<RawFamily>> {
        self.families
            .iter()
            .map(|name| {
                RawFamily::parse(name).ok_or_else(|| {
                    Error::invalid(
                        "optimizer.train.families",
                        format!(
                            "{name:?} is not a raw family; use some of: {}",
                            RawFamily::ALL.map(|f| f.name()).join(", ")
                        ),
                    )
                })
            })
            .collect()
    }
}

impl Default for OptimizerTrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 4,
            lr: 1e-3,
            warmup: 10,
            distill_steps: 1000,
            contrastive_steps: 300,
            distill_weight: 1.0,
            contrastive_weight: 1.0,
            temperature: 0.1,
            kl_weight: 0.01,
            max_target_tokens: 48,
            max_structured_tokens: 160,
            checkpoint_steps: 10,
            eval_steps: 50,
            val_examples: 16,
            precise_pairs: 4000,
            structured_pairs: 500,
            families: RawFamily::INTENT_KEEPING
                .iter()
                .chain(&[RawFamily::FormatStripped])
                .map(|f| f.name().to_string())
                .collect(),
            seed: 0,
        }
    }
}

/// Limits of one invocation: the generator trainer's (minutes, steps, quiet).
pub use crate::generator::RunLimits;

fn schedule(c: &OptimizerTrainConfig, planned: usize) -> Schedule {
    Schedule {
        peak: c.lr,
        warmup: c.warmup,
        decay_steps: Some(planned),
    }
}

/// The per-step loss terms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Terms {
    /// Mean cross-entropy per written token.
    pub ce: f64,
    /// Mean KL per written token.
    pub kl: f64,
    /// Distillation distance (phase 1) or InfoNCE (phase 2).
    pub aux: f64,
}

/// The losses of `batch` in `phase`: `(total, terms)`; `train` turns dropout on.
pub fn batch_loss(
    o: &PromptOptimizer,
    batch: &[&Example],
    phase: Phase,
    c: &OptimizerTrainConfig,
    train: bool,
) -> Result<(Tensor, Terms)> {
    let e_raw = o.rows(&batch.iter().map(|e| e.e_raw.clone()).collect::<Vec<_>>())?;
    let intents = o.intent.forward(&e_raw, train).map_err(merr)?;
    let mut total: Option<Tensor> = None;
    let mut terms = Terms::default();
    for (i, ex) in batch.iter().enumerate() {
        let layout = o.layout(&ex.raw, ex.style)?;
        let max = match ex.style {
            Style::Precise => c.max_target_tokens,
            Style::Structured => c.max_structured_tokens,
        };
        let seq = target_sequence(o.base.encode(&ex.target)?, layout.end, max);
        let cond = intents.narrow(0, i, 1).map_err(merr)?;
        let (logp, targets, _) = o
            .model()?
            .token_distributions(&layout, &cond, std::slice::from_ref(&seq))
            .map_err(merr)?;
        let n = targets.len();
        let idx = Tensor::from_vec(targets, (n, 1), &Device::Cpu).map_err(merr)?;
        let ce = logp
            .gather(&idx, 1)
            .and_then(|t| t.mean_all())
            .and_then(|t| t.neg())
            .map_err(merr)?;
        let reference = o
            .reference()?
            .plain_distributions(&PromptOptimizer::plain_context(&layout), &seq)
            .map_err(merr)?;
        let kl = kl_penalty(&logp, &reference).map_err(merr)?;
        terms.ce += ce.to_scalar::<f32>().map_err(merr)? as f64 / batch.len() as f64;
        terms.kl += kl.to_scalar::<f32>().map_err(merr)? as f64 / batch.len() as f64;
        let term = (ce + (kl * c.kl_weight).map_err(merr)?).map_err(merr)?;
        total = Some(match total {
            None => term,
            Some(t) => (t + term).map_err(merr)?,
        });
    }
    let total = total.ok_or_else(|| Error::invalid("batch", "is empty"))?;
    let total = (total / batch.len() as f64).map_err(merr)?;
    let targets = o.rows(&batch.iter().map(|e| e.e_target.clone()).collect::<Vec<_>>())?;
    let aux = match phase {
        Phase::Distill => (intents - targets)
            .and_then(|d| d.sqr())
            .and_then(|d| d.sum(1))
            .and_then(|d| d.mean_all())
            .map_err(merr)?,
        Phase::Contrastive => {
            let m = batch.iter().map(|e| e.negatives.len()).min().unwrap_or(0);
            let negatives = if m > 0 {
                let flat: Vec<f32> = batch
                    .iter()
                    .flat_map(|e| e.negatives[..m].iter().flatten().copied())
                    .collect();
                Some(
                    Tensor::from_vec(
                        flat,
                        (batch.len(), m, o.manifest.embedder_dim),
                        &Device::Cpu,
                    )
                    .map_err(merr)?,
                )
            } else {
                None
            };
            info_nce(&intents, &targets, negatives.as_ref(), c.temperature).map_err(merr)?
        }
    };
    terms.aux = aux.to_scalar::<f32>().map_err(merr)? as f64;
    let weight = match phase {
        Phase::Distill => c.distill_weight,
        Phase::Contrastive => c.contrastive_weight,
    };
    let total = (total + (aux * weight).map_err(merr)?).map_err(merr)?;
    Ok((total, terms))
}

/// Mean validation cross-entropy per example (no dropout).
pub fn validation_loss(
    o: &PromptOptimizer,
    val: &[Example],
    phase: Phase,
    c: &OptimizerTrainConfig,
) -> Result<f64> {
    let val = &val[..c.val_examples.min(val.len())];
    if val.is_empty() {
        return Ok(f64::NAN);
    }
    let mut sum = 0.0;
    for chunk in val.chunks(c.batch_size.max(1)) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let (_, t) = batch_loss(o, &refs, phase, c, false)?;
        sum += t.ce * chunk.len() as f64;
    }
    Ok(sum / val.len() as f64)
}

/// What a phase's run recorded: its state and the loss terms of every step.
pub struct PhaseRun {
    /// Steps, history, timing.
    pub state: TrainState,
    /// (step, terms) of every step taken, all invocations.
    pub terms: Vec<(usize, Terms)>,
}

fn terms_tensor(terms: &[(usize, Terms)]) -> candle_core::Result<Tensor> {
    let flat: Vec<f64> = terms
        .iter()
        .flat_map(|(s, t)| [*s as f64, t.ce, t.kl, t.aux])
        .collect();
    Tensor::from_vec(flat, (terms.len(), 4), &Device::Cpu)
}

fn terms_from(t: &Tensor) -> candle_core::Result<Vec<(usize, Terms)>> {
    Ok(t.to_vec2::<f64>()?
        .into_iter()
        .map(|r| {
            (
                r[0] as usize,
                Terms {
                    ce: r[1],
                    kl: r[2],
                    aux: r[3],
                },
            )
        })
        .collect())
}

/// Trains `phase` under `dir` (resuming its checkpoint); a fresh phase 2 starts from
/// `start` (phase 1's weights).
#[allow(clippy::too_many_arguments)]
pub fn train_phase(
    o: &PromptOptimizer,
    phase: Phase,
    train: &[Example],
    val: &[Example],
    c: &OptimizerTrainConfig,
    dir: &Path,
    start: Option<&HashMap<String, Tensor>>,
    limits: &RunLimits,
) -> Result<PhaseRun> {
    if train.is_empty() {
        return Err(Error::invalid(
            "optimizer data",
            format!("{} has no training examples", phase.name()),
        ));
    }
    let planned = match phase {
        Phase::Distill => c.distill_steps,
        Phase::Contrastive => c.contrastive_steps,
    };
    let vars = o
        .varmap
        .data()
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    let mut adam = AdamW::new(vars, 0.0).map_err(merr)?;
    let mut state = TrainState::default();
    let mut terms: Vec<(usize, Terms)> = Vec::new();
    match checkpoint::resume(dir, &mut adam)? {
        None => match start {
            Some(t) => o
                .set_weights(t)
                .map_err(|e| Error::model(dir, e, "retrain phase 1"))?,
            None => vec2prompt_latent::params::seeded_init(&o.varmap, c.seed).map_err(merr)?,
        },
        Some((saved, tensors)) => {
            o.set_weights(&tensors)
                .map_err(|e| Error::model(dir, e, "delete the run directory to start over"))?;
            if let Some(t) = tensors.get("curve.terms") {
                terms = terms_from(t).map_err(merr)?;
            }
            state = saved;
            if !limits.quiet {
                eprintln!("resuming {} at step {}", dir.display(), state.step);
            }
        }
    }
    let save = |state: &mut TrainState, adam: &AdamW, terms: &[(usize, Terms)]| -> Result<()> {
        let mut extra = Vec::new();
        if !terms.is_empty() {
            extra.push(("curve.terms", terms_tensor(terms).map_err(merr)?));
        }
        checkpoint::save_run(dir, &o.varmap, adam, extra, state)
    };
    let bs = c.batch_size.max(1);
    let batches = train.len().div_ceil(bs);
    let started = Instant::now();
    let mut taken = 0usize;
    let mut order: Vec<usize> = Vec::new();
    let mut order_epoch = usize::MAX;
    while state.step < planned {
        if limits.reached(started, taken) {
            break;
        }
        if state.batch_in_epoch >= batches {
            state.epoch += 1;
            state.batch_in_epoch = 0;
        }
        if order_epoch != state.epoch {
            order = (0..train.len()).collect();
            order.shuffle(&mut StdRng::seed_from_u64(
                c.seed ^ ((state.epoch as u64 + 1) * 0x9E37),
            ));
            order_epoch = state.epoch;
        }
        let t0 = Instant::now();
        let b = state.batch_in_epoch;
        let batch: Vec<&Example> = order[b * bs..((b + 1) * bs).min(train.len())]
            .iter()
            .map(|&i| &train[i])
            .collect();
        let (loss, t) = batch_loss(o, &batch, phase, c, true)?;
        let lr = schedule(c, planned).at(state.step);
        let value = descend(&loss, &mut adam, lr, dir, state.step)?;
        let dt = t0.elapsed().as_secs_f64();
        // The optimizer's curves count steps, not tokens.
        state.record_step(value, 0, dt);
        taken += 1;
        state.losses.push((state.step, value));
        terms.push((state.step, t));
        if !limits.quiet {
            eprintln!(
                "{} step {}/{planned}: loss {value:.4} (ce {:.3}, kl {:.4}, {} {:.4}), {dt:.1} s",
                phase.name(),
                state.step,
                t.ce,
                t.kl,
                if phase == Phase::Distill {
                    "distill"
                } else {
                    "infonce"
                },
                t.aux
            );
        }
        let eval_now = state.step % c.eval_steps.max(1) == 0 || state.step == planned;
        if eval_now && !val.is_empty() {
            let t1 = Instant::now();
            let v = validation_loss(o, val, phase, c)?;
            let since = state.history.last().map_or(0, |h| h.step);
            state.history.push(EpochLog {
                epoch: state.history.len(),
                step: state.step,
                train_loss: state.epoch_loss_sum / (state.step - since).max(1) as f64,
                val_loss: v,
                wall_seconds: state.wall_seconds,
            });
            state.epoch_loss_sum = 0.0;
            state.best_val = Some(state.best_val.map_or(v, |b: f64| b.min(v)));
            state.wall_seconds += t1.elapsed().as_secs_f64();
            if !limits.quiet {
                eprintln!(
                    "{} step {}: validation cross-entropy {v:.4}",
                    phase.name(),
                    state.step
                );
            }
        }
        if state.step % c.checkpoint_steps.max(1) == 0 || eval_now {
            save(&mut state, &adam, &terms)?;
        }
    }
    state.finished = state.step >= planned;
    save(&mut state, &adam, &terms)?;
    Ok(PhaseRun { state, terms })
}
