//! The scaffolding every trainer shares, written once: the learning-rate schedule
//! ([`Schedule`]), the guarded optimization step ([`descend`]), AdamW with savable
//! moments ([`optim`]), crash-safe checkpoints with resume ([`checkpoint`]), model cards
//! ([`card`]), invocation limits ([`RunLimits`]) and the error adaptor for candle
//! ([`candle_err`]). Loss curves are drawn with
//! `vec2prompt_core::chart`.

pub mod card;
pub mod checkpoint;
pub mod optim;

use candle_core::Tensor;
use optim::AdamW;
use std::path::Path;
use std::time::Instant;
use vec2prompt_core::{Error, Result};

pub use card::Card;
pub use checkpoint::{EpochLog, TrainState};

/// A candle error met while training, as the project's model error (the models' own
/// adaptor, `vec2prompt_latent::candle_err`, saying "training").
pub fn candle_err(e: candle_core::Error) -> Error {
    vec2prompt_latent::candle_err("training")(e)
}

/// Limits of one invocation (the run resumes where it stopped next time).
#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// Stop after this many minutes of training in this invocation.
    pub max_minutes: Option<f64>,
    /// Stop after this many steps in this invocation.
    pub max_steps: Option<usize>,
    /// No progress lines.
    pub quiet: bool,
}

impl RunLimits {
    /// Whether an invocation that started at `started` and has taken `steps` steps must
    /// stop here.
    pub fn reached(&self, started: Instant, steps: usize) -> bool {
        let out_of_time = self
            .max_minutes
            .is_some_and(|m| started.elapsed().as_secs_f64() >= m * 60.0);
        out_of_time || self.max_steps.is_some_and(|m| steps >= m)
    }
}

/// Linear warmup to `peak` over `warmup` steps, then, with `decay_steps`, cosine decay to
/// a tenth of the peak at step `decay_steps` (held there after); without, the peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Linear warmup steps.
    pub warmup: usize,
    /// The step where the cosine decay ends; `None` keeps the peak after warmup.
    pub decay_steps: Option<usize>,
}

impl Schedule {
    /// The learning rate of step `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup.max(1) as f64;
        }
        let Some(total) = self.decay_steps else {
            return self.peak;
        };
        let progress =
            (step - self.warmup) as f64 / total.saturating_sub(self.warmup).max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
        self.peak * (0.1 + 0.9 * cosine)
    }
}

/// Fails when an objective `value` of step `step` is not finite: the run stops before a
/// NaN reaches the weights or a checkpoint.
pub fn ensure_finite(value: f64, what: &str, dir: &Path, step: usize) -> Result<()> {
    if value.is_finite() {
        return Ok(());
    }
    Err(Error::model(
        dir,
        format!("{what} became {value} at step {step}"),
        "lower the learning rate",
    ))
}

/// One optimization step on a scalar `loss` (its graph kept): reads its value, stops on a
/// non-finite one, back-propagates and steps `adam` at learning rate `lr`. Returns the
/// loss value.
pub fn descend(loss: &Tensor, adam: &mut AdamW, lr: f64, dir: &Path, step: usize) -> Result<f64> {
    let value = loss.to_scalar::<f32>().map_err(candle_err)? as f64;
    ensure_finite(value, "loss", dir, step)?;
    let grads = loss.backward().map_err(candle_err)?;
    adam.step(&grads, lr).map_err(candle_err)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_decays_to_a_tenth_and_holds_without_decay() {
        let s = Schedule {
            peak: 1.0,
            warmup: 4,
            decay_steps: Some(14),
        };
        assert_eq!(s.at(0), 0.25);
        assert_eq!(s.at(3), 1.0);
        assert_eq!(s.at(4), 1.0);
        assert!((s.at(9) - 0.55).abs() < 1e-12);
        assert!((s.at(14) - 0.1).abs() < 1e-12);
        assert!((s.at(100) - 0.1).abs() < 1e-12);
        let flat = Schedule {
            decay_steps: None,
            ..s
        };
        assert_eq!(flat.at(2), 0.75);
        assert_eq!(flat.at(50), 1.0);
        let none = Schedule {
            peak: 2.0,
            warmup: 0,
            decay_steps: None,
        };
        assert_eq!(none.at(0), 2.0);
    }

    #[test]
    fn a_non_finite_objective_is_an_error_that_names_the_step() {
        let dir = Path::new("run");
        assert!(ensure_finite(0.5, "loss", dir, 3).is_ok());
        let e = ensure_finite(f64::NAN, "loss", dir, 7).unwrap_err();
        assert!(e.to_string().contains("loss became NaN at step 7"), "{e}");
        assert!(ensure_finite(f64::INFINITY, "the objective", dir, 1).is_err());
    }
}
