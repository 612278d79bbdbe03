//! A model's variables by name, and their seeded initialization: how a model is saved,
//! and how a fresh model (for training or a test) starts reproducibly.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;

/// The variables of `varmap` by name.
pub fn named_vars(varmap: &VarMap) -> HashMap<String, candle_core::Var> {
    varmap.data().lock().map(|d| d.clone()).unwrap_or_default()
}

/// The variables' current values by name.
pub fn weights(varmap: &VarMap) -> HashMap<String, Tensor> {
    named_vars(varmap)
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect()
}

/// Re-draws every randomly initialized variable from a generator seeded with `seed`
/// (candle's CPU initializers cannot be seeded), with the spread candle would use:
/// linear weights (out, in) uniform in ±1/√in, embedding tables and positions with a
/// standard deviation of 0.02, biases zero. Constant-initialized variables (norm scales)
/// are kept. This makes a run reproducible, which is what lets a resumed run be checked
/// against an uninterrupted one.
pub fn seeded_init(varmap: &VarMap, seed: u64) -> candle_core::Result<()> {
    use rand::Rng;
    let mut vars: Vec<(String, candle_core::Var)> = named_vars(varmap).into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, var) in vars {
        let t = var.as_tensor();
        let values: Vec<f32> = t.flatten_all()?.to_vec1()?;
        if values.iter().all(|&v| v == values[0]) {
            continue;
        }
        let half = if name.ends_with("bias") {
            0.0
        } else if name == "positions" || name.starts_with("tokens") {
            0.02 * 3f64.sqrt()
        } else {
            1.0 / (t.dims().last().copied().unwrap_or(1) as f64).sqrt()
        };
        let fresh: Vec<f32> = (0..values.len())
            .map(|_| {
                if half == 0.0 {
                    0.0
                } else {
                    rng.random_range(-half..half) as f32
                }
            })
            .collect();
        var.set(&Tensor::from_vec(fresh, t.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}
