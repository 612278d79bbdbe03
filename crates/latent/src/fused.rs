//! Fused CPU kernels with a backward pass, for training on a frozen pretrained decoder.
//!
//! candle composes RMS norm, softmax, log-softmax and the rotary embedding from a handful
//! of elementwise and reduction ops when gradients are needed (its fused versions have no
//! backward pass). Each composed op allocates a full-size tensor in the forward pass and
//! again in the backward pass, so outside the matmuls a training step mostly moves memory.
//! The ops here do each of those in one pass over the data, forward and backward, with
//! rows split over the rayon pool. All work on contiguous f32 tensors; the wrappers make
//! their input contiguous first.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows handed to one rayon task: enough work per task that scheduling stays cheap.
const ROWS_PER_TASK: usize = 16;

/// The contiguous f32 values of a custom op's input.
fn values<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => match l.contiguous_offsets() {
            Some((a, b)) => Ok(&v[a..b]),
            None => candle_core::bail!("{op} needs a contiguous input"),
        },
        _ => candle_core::bail!("{op} supports f32 only"),
    }
}

/// Last-axis width of `l`'s shape (1 for a scalar).
fn last_dim(l: &Layout) -> usize {
    l.shape().dims().last().copied().unwrap_or(1).max(1)
}

/// Applies `f(row_index, input_row, output_row)` to every row of width `d`, in parallel.
fn map_rows(x: &[f32], d: usize, f: impl Fn(usize, &[f32], &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .enumerate()
        .for_each(|(task, (o, i))| {
            for (r, (orow, irow)) in o.chunks_mut(d).zip(i.chunks(d)).enumerate() {
                f(task * ROWS_PER_TASK + r, irow, orow);
            }
        });
    out
}

/// [`map_rows`] over two inputs of the same shape.
fn map_rows2(
    a: &[f32],
    b: &[f32],
    d: usize,
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(a.par_chunks(d * ROWS_PER_TASK))
        .zip(b.par_chunks(d * ROWS_PER_TASK))
        .for_each(|((o, ai), bi)| {
            for ((orow, arow), brow) in o.chunks_mut(d).zip(ai.chunks(d)).zip(bi.chunks(d)) {
                f(arow, brow, orow);
            }
        });
    out
}

/// Checks that two custom-op inputs have the same shape.
fn same_shape(l1: &Layout, l2: &Layout, op: &str) -> Result<()> {
    if l1.shape() != l2.shape() {
        candle_core::bail!("{op}: shapes {:?} and {:?} differ", l1.shape(), l2.shape());
    }
    Ok(())
}

// ---------------------------------------------------------------- RMS norm

/// `x / rms(x) · w` over the last axis, for a frozen weight `w`; differentiable in `x`.
#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Vec<f32>,
    eps: f32,
}

/// The gradient of [`RmsNorm`]: inputs `(x, grad_y)`.
struct RmsNormBackward<'a>(&'a RmsNorm);

/// `x / sqrt(mean(x²) + eps) · weight` over the last axis of `x`, where `weight` is a
/// frozen vector (no gradient reaches it). Forward and backward are one pass each.
pub fn rms_norm_frozen(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    let weight = weight.flatten_all()?.to_vec1::<f32>()?;
    if x.dims().last() != Some(&weight.len()) {
        candle_core::bail!(
            "rms norm: input width {:?} against a weight of {}",
            x.dims().last(),
            weight.len()
        );
    }
    x.contiguous()?.apply_op1(RmsNorm { weight, eps })
}

fn inv_rms(x: &[f32], eps: f32) -> f32 {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    1.0 / (ms + eps).sqrt()
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l, self.name())?;
        let w = &self.weight;
        let y = map_rows(x, w.len(), |_, x, y| {
            let r = inv_rms(x, self.eps);
            for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                *y = x * r * w;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&g, &RmsNormBackward(self))?))
    }
}

impl CustomOp2 for RmsNormBackward<'_> {
    fn name(&self) -> &'static str {
        "fused-rms-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_shape(l1, l2, self.name())?;
        let (x, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let w = &self.0.weight;
        let d = w.len();
        // y = x·r·w with r = (mean(x²) + eps)^-½, so
        // dx = r·(g·w) − x · r³ · Σ(g·w·x) / d.
        let dx = map_rows2(x, g, d, |x, g, dx| {
            let r = inv_rms(x, self.0.eps);
            let dot: f32 = x.iter().zip(g).zip(w).map(|((x, g), w)| x * g * w).sum();
            let k = r * r * r * dot / d as f32;
            for (((dx, x), g), w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                *dx = r * g * w - x * k;
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

// ---------------------------------------------------------------- softmax

/// Softmax over the last axis, differentiable.
#[derive(Debug, Clone, Copy)]
struct Softmax {
    log: bool,
}

/// The gradient of [`Softmax`]: inputs `(output, grad_output)`.
struct SoftmaxBackward {
    log: bool,
}

/// Softmax over the last axis of `x`, one pass forward and one backward.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax { log: false })
}

/// Log-softmax over the last axis of `x`, one pass forward and one backward.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax { log: true })
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        if self.log {
            "fused-log-softmax"
        } else {
            "fused-softmax"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l, self.name())?;
        let log = self.log;
        let y = map_rows(x, last_dim(l), |_, x, y| {
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (y, x) in y.iter_mut().zip(x) {
                *y = (x - max).exp();
                sum += *y;
            }
            if log {
                let shift = max + sum.ln();
                for (y, x) in y.iter_mut().zip(x) {
                    *y = x - shift;
                }
            } else {
                let inv = 1.0 / sum;
                y.iter_mut().for_each(|y| *y *= inv);
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        let op = SoftmaxBackward { log: self.log };
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&g, &op)?))
    }
}

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "fused-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_shape(l1, l2, self.name())?;
        let (y, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let dx = if self.log {
            // y = log p: dx = g − p · Σg.
            map_rows2(y, g, last_dim(l1), |y, g, dx| {
                let total: f32 = g.iter().sum();
                for ((dx, y), g) in dx.iter_mut().zip(y).zip(g) {
                    *dx = g - y.exp() * total;
                }
            })
        } else {
            // y = p: dx = p · (g − Σ g·p).
            map_rows2(y, g, last_dim(l1), |y, g, dx| {
                let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
                for ((dx, y), g) in dx.iter_mut().zip(y).zip(g) {
                    *dx = y * (g - dot);
                }
            })
        };
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

// ---------------------------------------------------------------- rotary embedding

/// The interleaved rotary embedding (pairs `(x₂ᵢ, x₂ᵢ₊₁)` rotated by the position's angle)
/// of `x (B, H, L, D)` with tables `(L, D/2)`; differentiable in `x`.
#[derive(Debug, Clone)]
struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    len: usize,
    /// Rotate by minus the angle (the backward pass of the forward rotation).
    inverse: bool,
}

/// The interleaved rotary embedding of `x (B, H, L, D)` with `cos` and `sin` tables of
/// shape `(L, D/2)` (the same convention as `candle_nn::rotary_emb::rope_i`), with a
/// backward pass (the rotation by the opposite angle).
pub fn rope_interleaved(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (_, _, l, d) = x.dims4()?;
    if d % 2 != 0 || cos.dims() != [l, d / 2] || sin.dims() != [l, d / 2] {
        candle_core::bail!(
            "rope: input {:?} needs tables ({l}, {}), got {:?} and {:?}",
            x.dims(),
            d / 2,
            cos.dims(),
            sin.dims()
        );
    }
    let op = Rope {
        cos: cos.flatten_all()?.to_vec1::<f32>()?,
        sin: sin.flatten_all()?.to_vec1::<f32>()?,
        len: l,
        inverse: false,
    };
    x.contiguous()?.apply_op1(op)
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope-interleaved"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l, self.name())?;
        let d = last_dim(l);
        let half = d / 2;
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let y = map_rows(x, d, |row, x, y| {
            let t = row % self.len;
            let (cos, sin) = (
                &self.cos[t * half..(t + 1) * half],
                &self.sin[t * half..(t + 1) * half],
            );
            for i in 0..half {
                let (c, s) = (cos[i], sign * sin[i]);
                let (a, b) = (x[2 * i], x[2 * i + 1]);
                y[2 * i] = a * c - b * s;
                y[2 * i + 1] = a * s + b * c;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // A rotation's transpose is the rotation by the opposite angle.
        let mut back = self.clone();
        back.inverse = !self.inverse;
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}

// ---------------------------------------------------------------- SwiGLU

/// `silu(a) · b` for `x = [a | b]` split in halves along the last axis.
#[derive(Debug, Clone, Copy)]
struct SwiGlu;

/// The gradient of [`SwiGlu`]: inputs `(x, grad_y)`, output shaped like `x`.
struct SwiGluBackward;

/// `silu(a) · b` where `a` and `b` are the two halves of `x`'s last axis (a fused gate
/// and up projection); differentiable, one pass each way.
pub fn swiglu(x: &Tensor) -> Result<Tensor> {
    let w = x.dims().last().copied().unwrap_or(0);
    if w % 2 != 0 {
        candle_core::bail!("swiglu needs an even last axis, got {w}");
    }
    x.contiguous()?.apply_op1(SwiGlu)
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

impl CustomOp1 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l, self.name())?;
        let w = last_dim(l);
        let half = w / 2;
        let rows = x.len() / w;
        let mut y = vec![0f32; rows * half];
        y.par_chunks_mut(half * ROWS_PER_TASK)
            .zip(x.par_chunks(w * ROWS_PER_TASK))
            .for_each(|(y, x)| {
                for (y, x) in y.chunks_mut(half).zip(x.chunks(w)) {
                    let (a, b) = x.split_at(half);
                    for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
                        *y = a * sigmoid(*a) * b;
                    }
                }
            });
        let mut dims = l.shape().dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = half;
        }
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&g, &SwiGluBackward)?))
    }
}

impl CustomOp2 for SwiGluBackward {
    fn name(&self) -> &'static str {
        "fused-swiglu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let w = last_dim(l1);
        let half = w / 2;
        if g.len() * 2 != x.len() || last_dim(l2) != half {
            candle_core::bail!(
                "{}: gradient {:?} for input {:?}",
                self.name(),
                l2.shape(),
                l1.shape()
            );
        }
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(w * ROWS_PER_TASK)
            .zip(x.par_chunks(w * ROWS_PER_TASK))
            .zip(g.par_chunks(half * ROWS_PER_TASK))
            .for_each(|((dx, x), g)| {
                for ((dx, x), g) in dx.chunks_mut(w).zip(x.chunks(w)).zip(g.chunks(half)) {
                    let (a, b) = x.split_at(half);
                    let (da, db) = dx.split_at_mut(half);
                    for i in 0..half {
                        let s = sigmoid(a[i]);
                        let silu = a[i] * s;
                        // d silu(a)/da = s · (1 + a · (1 − s)).
                        da[i] = g[i] * b[i] * s * (1.0 + a[i] * (1.0 - s));
                        db[i] = g[i] * silu;
                    }
                }
            });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Compares `fused` against `reference` on the same input: values, and the input
    /// gradient of a random linear function of the output (so every output element's
    /// gradient is distinct and exercised).
    fn check(
        shape: &[usize],
        fused: impl Fn(&Tensor) -> Result<Tensor>,
        reference: impl Fn(&Tensor) -> Result<Tensor>,
    ) {
        let x = Var::from_tensor(&randn(shape, 1)).unwrap();
        let (yf, yr) = (
            fused(x.as_tensor()).unwrap(),
            reference(x.as_tensor()).unwrap(),
        );
        assert_eq!(yf.dims(), yr.dims());
        assert!(
            max_diff(&yf, &yr) < 1e-4,
            "forward differs by {}",
            max_diff(&yf, &yr)
        );
        let probe = randn(yf.dims(), 2);
        let gf = (&yf * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gr = (&yr * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (gf, gr) = (
            gf.get(x.as_tensor()).unwrap(),
            gr.get(x.as_tensor()).unwrap(),
        );
        assert!(
            max_diff(gf, gr) < 1e-4,
            "gradient differs by {}",
            max_diff(gf, gr)
        );
    }

    #[test]
    fn rms_norm_matches_the_composed_op() {
        let w = randn(&[24], 3);
        check(
            &[3, 37, 24],
            |x| rms_norm_frozen(x, &w, 1e-5),
            |x| candle_nn::ops::rms_norm_slow(x, &w.detach(), 1e-5),
        );
    }

    #[test]
    fn softmax_and_log_softmax_match_the_composed_ops() {
        check(&[2, 5, 19, 33], softmax_last_dim, |x| {
            candle_nn::ops::softmax(x, D::Minus1)
        });
        check(&[41, 300], log_softmax_last_dim, |x| {
            candle_nn::ops::log_softmax(x, D::Minus1)
        });
    }

    #[test]
    fn rope_matches_the_composed_op() {
        let (cos, sin) = (randn(&[7, 8], 4), randn(&[7, 8], 5));
        check(
            &[2, 3, 7, 16],
            |x| rope_interleaved(x, &cos, &sin),
            |x| candle_nn::rotary_emb::rope_i_slow(x, &cos, &sin),
        );
    }

    #[test]
    fn swiglu_matches_the_composed_op() {
        check(&[3, 21, 2 * 40], swiglu, |x| {
            let half = x.dim(2)? / 2;
            x.narrow(2, 0, half)?.silu()? * x.narrow(2, half, half)?
        });
    }

    #[test]
    fn rejects_mismatched_shapes() {
        let x = randn(&[2, 6], 1);
        assert!(rms_norm_frozen(&x, &randn(&[5], 2), 1e-5).is_err());
        assert!(swiglu(&randn(&[2, 5], 1)).is_err());
        let t = randn(&[3, 2], 1);
        assert!(rope_interleaved(&randn(&[1, 1, 4, 4], 1), &t, &t).is_err());
    }
}
