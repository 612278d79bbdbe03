//! The training loop shared by every model: shuffled batches, AdamW with warmup and cosine
//! decay, a checkpoint every few minutes and at each epoch's end (resumable after a kill),
//! validation each epoch, the best weights kept, early stopping, a progress bar.

use crate::kit::checkpoint::{self, EpochLog, TrainState};
use crate::kit::optim::AdamW;
use crate::kit::{Schedule, candle_err, descend};
use candle_core::Tensor;
use candle_nn::VarMap;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use vec2prompt_core::{Error, Result};
use vec2prompt_latent::params::{named_vars, seeded_init, weights};

/// A model plus its data, as the loop sees it.
pub trait Task {
    /// Number of training examples.
    fn train_len(&self) -> usize;
    /// Mean loss over the train examples `batch` (graph kept for backward) and the number
    /// of tokens (or examples) it covered.
    fn train_loss(&self, batch: &[usize]) -> candle_core::Result<(Tensor, usize)>;
    /// Mean validation loss.
    fn val_loss(&self) -> candle_core::Result<f64>;
    /// Reorders a shuffled epoch (e.g. to group similar lengths); identity by default.
    fn order(&self, shuffled: Vec<usize>, _batch_size: usize) -> Vec<usize> {
        shuffled
    }
}

/// Optimization settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup: usize,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    /// Seed of initialization and shuffling.
    pub seed: u64,
    /// Seconds between mid-epoch checkpoints.
    pub checkpoint_seconds: f64,
    /// Stop after this many steps in this run (tests, time-boxed runs); the run resumes
    /// from its checkpoint next time.
    pub max_steps: Option<usize>,
    /// End the run at its checkpoint: close the current epoch where it stands, validate,
    /// keep the weights if best, and mark the run finished (time-boxed training).
    #[serde(skip)]
    pub finish_now: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            lr: 1e-3,
            warmup: 200,
            weight_decay: 0.01,
            patience: 2,
            seed: 0,
            checkpoint_seconds: 120.0,
            max_steps: None,
            finish_now: false,
        }
    }
}

/// Trains `task`'s variables (`varmap`) with checkpoints under `dir`, resuming from the last
/// checkpoint there. Returns the final state; the best weights are in `dir/best.safetensors`.
pub fn train(
    task: &dyn Task,
    varmap: &VarMap,
    dir: &Path,
    config: &TrainConfig,
    show_progress: bool,
) -> Result<TrainState> {
    train_from(task, varmap, dir, config, show_progress, &|_| Ok(()))
}

/// [`train`], with `init` applied after the seeded initialization of a fresh run (a warm
/// start from another model's weights); a resumed run takes its checkpoint instead.
pub fn train_from(
    task: &dyn Task,
    varmap: &VarMap,
    dir: &Path,
    config: &TrainConfig,
    show_progress: bool,
    init: &dyn Fn(&VarMap) -> candle_core::Result<()>,
) -> Result<TrainState> {
    let mut adam = AdamW::new(named_vars(varmap), config.weight_decay).map_err(candle_err)?;
    let mut state = TrainState::default();
    let saved = checkpoint::resume(dir, &mut adam)?;
    if saved.is_none() {
        seeded_init(varmap, config.seed).map_err(candle_err)?;
        init(varmap).map_err(candle_err)?;
    }
    if let Some((saved, tensors)) = saved {
        for (name, var) in named_vars(varmap) {
            let t = tensors.get(&name).ok_or_else(|| {
                Error::model(
                    dir,
                    format!("checkpoint lacks {name}"),
                    "delete the run directory",
                )
            })?;
            var.set(t).map_err(candle_err)?;
        }
        state = saved;
        // Always said, even without a progress bar: a resumed run must never be mistaken
        // for a fresh one.
        eprintln!(
            "resuming {} at step {} (epoch {}, batch {})",
            dir.display(),
            state.step,
            state.epoch,
            state.batch_in_epoch
        );
    }
    let n = task.train_len();
    let batches = n.div_ceil(config.batch_size.max(1));
    let total_steps = batches * config.epochs;
    let mut last_save = Instant::now();
    let mut steps_this_run = 0usize;
    let schedule = Schedule {
        peak: config.lr,
        warmup: config.warmup,
        decay_steps: Some(total_steps),
    };
    let save = |state: &mut TrainState, adam: &AdamW| -> Result<()> {
        checkpoint::save_run(dir, varmap, adam, Vec::new(), state)
    };
    while !state.finished && state.epoch < config.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(
            config.seed ^ ((state.epoch as u64 + 1) * 0x9E37),
        ));
        let order = task.order(order, config.batch_size);
        let bar = if show_progress {
            let b = ProgressBar::new(batches as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(format!("{}/{}", state.epoch + 1, config.epochs));
            b.set_position(state.batch_in_epoch as u64);
            b
        } else {
            ProgressBar::hidden()
        };
        let done_batches = |state: &TrainState| {
            if config.finish_now {
                state.batch_in_epoch.max(1)
            } else {
                batches
            }
        };
        while state.batch_in_epoch < done_batches(&state) {
            if config.max_steps.is_some_and(|m| steps_this_run >= m) {
                save(&mut state, &adam)?;
                bar.abandon();
                return Ok(state);
            }
            let t0 = Instant::now();
            let b = state.batch_in_epoch;
            let idx = &order[b * config.batch_size..((b + 1) * config.batch_size).min(n)];
            let (loss, tokens) = task.train_loss(idx).map_err(candle_err)?;
            let value = descend(&loss, &mut adam, schedule.at(state.step), dir, state.step)?;
            let dt = t0.elapsed().as_secs_f64();
            state.record_step(value, tokens, dt);
            steps_this_run += 1;
            if state.step % 10 == 0 {
                state.losses.push((state.step, value));
            }
            bar.set_position(state.batch_in_epoch as u64);
            bar.set_message(format!("loss {value:.4} {:.0} tok/s", tokens as f64 / dt));
            if last_save.elapsed().as_secs_f64() >= config.checkpoint_seconds {
                save(&mut state, &adam)?;
                last_save = Instant::now();
            }
        }
        bar.finish_and_clear();
        let t0 = Instant::now();
        let val = task.val_loss().map_err(candle_err)?;
        state.wall_seconds += t0.elapsed().as_secs_f64();
        let train_loss = state.epoch_loss_sum / state.batch_in_epoch.max(1) as f64;
        state.history.push(EpochLog {
            epoch: state.epoch,
            step: state.step,
            train_loss,
            val_loss: val,
            wall_seconds: state.wall_seconds,
        });
        if show_progress {
            eprintln!(
                "epoch {}: train loss {train_loss:.4}, validation loss {val:.4} ({:.0} s so far)",
                state.epoch + 1,
                state.wall_seconds
            );
        }
        if state.best_val.is_none_or(|b| val < b) {
            state.best_val = Some(val);
            state.bad_epochs = 0;
            let best = dir.join("best.safetensors");
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            vec2prompt_core::write_atomic_with(&best, |tmp| {
                candle_core::safetensors::save(&weights(varmap), tmp).map_err(candle_err)
            })?;
        } else {
            state.bad_epochs += 1;
        }
        state.epoch += 1;
        state.batch_in_epoch = 0;
        state.epoch_loss_sum = 0.0;
        if state.bad_epochs >= config.patience.max(1)
            || state.epoch >= config.epochs
            || config.finish_now
        {
            state.finished = true;
        }
        save(&mut state, &adam)?;
        last_save = Instant::now();
    }
    Ok(state)
}
