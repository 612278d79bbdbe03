//! A projection by a frozen weight matrix whose backward pass computes only the gradient
//! of its input.
//!
//! candle's `matmul` backward always computes the gradient of both operands, even when one
//! is a constant; for a frozen base model that is a third of every training step spent on
//! gradients nobody reads (and for the tied output head, a vocabulary-sized matmul). This
//! op holds the weight inside itself, so the autograd graph sees a one-input op whose
//! gradient is `grad · W`.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `x · Wᵀ` for a frozen `W` (`out × in`), differentiable in `x` only.
#[derive(Debug, Clone)]
pub struct FrozenLinear {
    /// The frozen `(out, in)` matrix.
    weight: Tensor,
}

impl FrozenLinear {
    /// Wraps `weight` (`out × in`, f32); it is detached so no graph ever reaches it.
    pub fn new(weight: Tensor) -> Result<Self> {
        let weight = weight.detach().contiguous()?;
        weight.dims2()?;
        Ok(Self { weight })
    }

    /// The frozen matrix.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    /// `x (…, in)` → `(…, out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !x.track_op() {
            // Inference: a plain matmul, no custom-op copies.
            return plain(x, &self.weight);
        }
        x.apply_op1(self.clone())
    }
}

/// `x · Wᵀ` over the last axis of `x`.
fn plain(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let k = *dims.last().unwrap_or(&1);
    let rows = x.elem_count() / k.max(1);
    let mut out_dims = dims;
    if let Some(last) = out_dims.last_mut() {
        *last = w.dims()[0];
    }
    x.contiguous()?
        .reshape((rows, k))?
        .matmul(&w.t()?)?
        .reshape(out_dims)
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = match storage {
            CpuStorage::F32(v) => match layout.contiguous_offsets() {
                Some((a, b)) => v[a..b].to_vec(),
                None => candle_core::bail!("frozen-linear needs a contiguous input"),
            },
            _ => candle_core::bail!("frozen-linear supports f32 only"),
        };
        let x = Tensor::from_vec(x, layout.shape(), self.weight.device())?;
        let y = plain(&x, &self.weight)?;
        let shape = y.shape().clone();
        let values = y.flatten_all()?.to_vec1::<f32>()?;
        Ok((CpuStorage::F32(values), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        // d(x·Wᵀ)/dx = grad · W; the weight's gradient is never formed.
        let dims = grad_res.dims().to_vec();
        let n = *dims.last().unwrap_or(&1);
        let rows = grad_res.elem_count() / n.max(1);
        let mut in_dims = dims;
        if let Some(last) = in_dims.last_mut() {
            *last = self.weight.dims()[1];
        }
        let g = grad_res
            .contiguous()?
            .reshape((rows, n))?
            .matmul(&self.weight)?
            .reshape(in_dims)?;
        Ok(Some(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_and_input_gradient_match_a_plain_matmul() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (5, 3), &dev).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 4, 3), &dev).unwrap()).unwrap();
        let lin = FrozenLinear::new(w.clone()).unwrap();
        let y = lin.forward(x.as_tensor()).unwrap();
        let reference = x.as_tensor().broadcast_matmul(&w.t().unwrap()).unwrap();
        let diff = (&y - &reference).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
        let g1 = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = reference
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (a, b) = (
            g1.get(x.as_tensor()).unwrap(),
            g2.get(x.as_tensor()).unwrap(),
        );
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
    }
}
