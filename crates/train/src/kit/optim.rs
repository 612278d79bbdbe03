//! AdamW whose moments are plain tensors, so a checkpoint can save and restore them and a
//! resumed run continues exactly where the killed one stopped.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use std::collections::HashMap;

/// AdamW over named variables.
pub struct AdamW {
    /// The trained variables, sorted by name.
    vars: Vec<(String, Var)>,
    /// First moments, one per variable.
    m: Vec<Tensor>,
    /// Second moments, one per variable.
    v: Vec<Tensor>,
    /// Steps taken (bias correction).
    pub step: usize,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Largest global gradient norm; larger gradients are scaled down.
    pub clip_norm: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.98;
const EPS: f64 = 1e-8;

impl AdamW {
    /// An optimizer for `vars` (name → variable).
    pub fn new(vars: HashMap<String, Var>, weight_decay: f64) -> Result<Self> {
        let mut vars: Vec<(String, Var)> = vars.into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            step: 0,
            weight_decay,
            clip_norm: 1.0,
        })
    }

    /// Applies one update with learning rate `lr`; returns the gradient norm before
    /// clipping. Errors if a variable received no gradient.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<f64> {
        let mut gs = Vec::with_capacity(self.vars.len());
        let mut sq = 0f64;
        for (name, var) in &self.vars {
            let g = grads
                .get(var.as_tensor())
                .ok_or_else(|| candle_core::Error::Msg(format!("no gradient for {name}")))?;
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            gs.push(g.clone());
        }
        let norm = sq.sqrt();
        let scale = if norm > self.clip_norm {
            self.clip_norm / norm
        } else {
            1.0
        };
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - BETA1.powi(t);
        let c2 = 1.0 - BETA2.powi(t);
        for (i, ((_, var), g)) in self.vars.iter().zip(gs).enumerate() {
            let g = (g * scale)?;
            let m = ((&self.m[i] * BETA1)? + (&g * (1.0 - BETA1))?)?;
            let v = ((&self.v[i] * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let update = ((&m / c1)? / ((&v / c2)?.sqrt()? + EPS)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * self.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(norm)
    }

    /// The moments as named tensors (`adam.m.<var>`, `adam.v.<var>`).
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("adam.m.{name}"), self.m[i].clone());
            out.insert(format!("adam.v.{name}"), self.v[i].clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`]; `step` is restored by the caller.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            let get = |k: String| {
                tensors
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {k}")))
            };
            self.m[i] = get(format!("adam.m.{name}"))?;
            self.v[i] = get(format!("adam.v.{name}"))?;
        }
        Ok(())
    }
}
