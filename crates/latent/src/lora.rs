//! Low-rank adapters (LoRA): a trainable update `(α/r)·(x·Aᵀ)·Bᵀ` added to the output of a
//! frozen projection `x·Wᵀ`.
//!
//! `A` (`r × in`) starts random and `B` (`out × r`) at zero, so an untrained adapter leaves
//! the base model's output exactly as it was; only `A` and `B` are trained.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// The trainable low-rank update of one projection.
#[derive(Debug, Clone)]
pub struct Lora {
    /// Down projection `A`, `(r, in)`.
    a: Tensor,
    /// Up projection `B`, `(out, r)`, zero at initialization.
    b: Tensor,
    /// `α / r`.
    scale: f64,
}

impl Lora {
    /// An adapter for an `input → output` projection with rank `rank` and scaling
    /// `alpha`; `A` and `B` are created in `vb` as `a` and `b`.
    pub fn new(
        input: usize,
        output: usize,
        rank: usize,
        alpha: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        // A: uniform ±1/√in (also what the trainer's seeded re-initialization draws).
        let bound = 1.0 / (input as f64).sqrt();
        let a = vb.get_with_hints(
            (rank, input),
            "a",
            candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        let b = vb.get_with_hints((output, rank), "b", candle_nn::Init::Const(0.0))?;
        Ok(Self {
            a,
            b,
            scale: alpha / rank.max(1) as f64,
        })
    }

    /// The update as one matrix, `(α/r)·B·A` (`out × in`): added to the frozen weight it
    /// gives a single projection that computes base and update together.
    pub fn merged(&self) -> Result<Tensor> {
        self.b.detach().matmul(&self.a.detach())? * self.scale
    }

    /// The update for `x (…, in)` → `(…, out)`; with `grad` false the factors are
    /// detached, so inference builds no autograd graph.
    pub fn delta(&self, x: &Tensor, grad: bool) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let k = *dims.last().unwrap_or(&1);
        let rows = x.elem_count() / k.max(1);
        let mut out_dims = dims;
        if let Some(last) = out_dims.last_mut() {
            *last = self.b.dims()[0];
        }
        let (a, b) = if grad {
            (self.a.clone(), self.b.clone())
        } else {
            (self.a.detach(), self.b.detach())
        };
        let low = x.contiguous()?.reshape((rows, k))?.matmul(&a.t()?)?;
        (low.matmul(&b.t()?)? * self.scale)?.reshape(out_dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn starts_at_zero_and_b_gets_a_gradient() {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let lora = Lora::new(4, 6, 2, 4.0, vb).unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap();
        let d = lora.delta(&x, true).unwrap();
        assert_eq!(d.dims(), &[3, 6]);
        let max = d
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(max, 0.0, "B = 0 leaves the base projection unchanged");
        let grads = d.sum_all().unwrap().backward().unwrap();
        let gb = grads.get(&lora.b).expect("B gets a gradient");
        assert!(
            gb.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }
}
