//! Training checkpoints that survive `kill -9`: the weights and optimizer moments go to a
//! new `checkpoint-<step>.safetensors` (written to a temporary name, synced, renamed), then
//! `state.json` is atomically replaced to point at it; older files are removed last. A
//! crash at any moment leaves a consistent (state, weights) pair on disk.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Result};
use vec2prompt_core::{write_atomic, write_atomic_with};

/// One epoch's record in the training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epoch number (0-based).
    pub epoch: usize,
    /// Optimizer steps taken by its end.
    pub step: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Validation loss at its end.
    pub val_loss: f64,
    /// Wall seconds of training so far.
    pub wall_seconds: f64,
}

/// Everything besides tensors needed to resume a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps taken.
    pub step: usize,
    /// Current epoch.
    pub epoch: usize,
    /// Batches of the current epoch already done.
    pub batch_in_epoch: usize,
    /// Sum of the current epoch's batch losses so far.
    pub epoch_loss_sum: f64,
    /// Best validation loss so far (none before the first validation).
    pub best_val: Option<f64>,
    /// Epochs since the best validation loss.
    pub bad_epochs: usize,
    /// Whether training has finished (epochs done or stopped early).
    pub finished: bool,
    /// Wall seconds spent training, over all runs.
    pub wall_seconds: f64,
    /// Tokens (or examples) processed.
    pub tokens: u64,
    /// (step, loss) of every logged batch, for the loss curve.
    pub losses: Vec<(usize, f64)>,
    /// Per-epoch history.
    pub history: Vec<EpochLog>,
    /// File of the weights and moments this state belongs to.
    pub weights: String,
}

impl Default for TrainState {
    fn default() -> Self {
        Self {
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            epoch_loss_sum: 0.0,
            best_val: None,
            bad_epochs: 0,
            finished: false,
            wall_seconds: 0.0,
            tokens: 0,
            losses: Vec::new(),
            history: Vec::new(),
            weights: String::new(),
        }
    }
}

impl TrainState {
    /// Counts one optimization step of `loss` over `tokens` tokens (or examples) that took
    /// `seconds`.
    pub fn record_step(&mut self, loss: f64, tokens: usize, seconds: f64) {
        self.step += 1;
        self.batch_in_epoch += 1;
        self.epoch_loss_sum += loss;
        self.tokens += tokens as u64;
        self.wall_seconds += seconds;
    }
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// A checkpoint file that candle cannot write or read.
fn damaged(path: &Path, e: candle_core::Error) -> Error {
    Error::model(
        path,
        e.to_string(),
        "delete the run directory to start over",
    )
}

/// Saves `tensors` and `state` (its `weights` field is set here) under `dir`.
pub fn save(dir: &Path, tensors: &HashMap<String, Tensor>, state: &mut TrainState) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = format!("checkpoint-{}.safetensors", state.step);
    let path = dir.join(&name);
    write_atomic_with(&path, |tmp| {
        candle_core::safetensors::save(tensors, tmp).map_err(|e| damaged(tmp, e))
    })?;
    let previous = std::mem::replace(&mut state.weights, name);
    let json =
        serde_json::to_vec_pretty(state).map_err(|e| Error::invalid("state", e.to_string()))?;
    write_atomic(&state_path(dir), &json)?;
    if !previous.is_empty() && previous != state.weights {
        let _ = std::fs::remove_file(dir.join(previous));
    }
    Ok(())
}

/// Loads the last saved state and its tensors, or `None` if `dir` has no checkpoint.
pub fn load(dir: &Path, device: &Device) -> Result<Option<(TrainState, HashMap<String, Tensor>)>> {
    let sp = state_path(dir);
    if !sp.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&sp).map_err(|e| Error::io(&sp, e))?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::model(&sp, e.to_string(), "delete the run directory to start over"))?;
    let path = dir.join(&state.weights);
    let tensors = candle_core::safetensors::load(&path, device).map_err(|e| damaged(&path, e))?;
    Ok(Some((state, tensors)))
}

/// Saves a run's checkpoint: the variables of `varmap`, the moments of `adam`, and `extra`
/// tensors (curves kept beside the weights), then `state`.
pub fn save_run(
    dir: &Path,
    varmap: &candle_nn::VarMap,
    adam: &crate::kit::optim::AdamW,
    extra: Vec<(&str, Tensor)>,
    state: &mut TrainState,
) -> Result<()> {
    let mut tensors = vec2prompt_latent::params::weights(varmap);
    tensors.extend(adam.state());
    tensors.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
    save(dir, &tensors, state)
}

/// The last checkpoint under `dir` with `adam`'s moments and step restored from it, or
/// `None` for a fresh run. The caller sets its variables from the returned tensors (each
/// model has its own names and checks).
pub fn resume(
    dir: &Path,
    adam: &mut crate::kit::optim::AdamW,
) -> Result<Option<(TrainState, HashMap<String, Tensor>)>> {
    let Some((state, tensors)) = load(dir, &Device::Cpu)? else {
        return Ok(None);
    };
    adam.load_state(&tensors).map_err(crate::kit::candle_err)?;
    adam.step = state.step;
    Ok(Some((state, tensors)))
}
