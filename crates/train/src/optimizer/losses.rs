//! The optimizer's training objectives beyond cross-entropy: InfoNCE on intent vectors
//! and the KL penalty that keeps the adapted generator near the frozen base model.

use candle_core::{D, Result, Tensor};

fn unit_rows(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    x.broadcast_div(&norm)
}

/// InfoNCE with temperature `tau`: each anchor `(B, d)` is pulled towards its positive
/// (row `i` of `positives`, `(B, d)`) and pushed from every other row's positive (in-batch
/// negatives) and from its own `negatives` (`(B, M, d)`, e.g. prompts that failed), all
/// compared by cosine. Returns the mean over anchors of `−log softmax(logits)[positive]`.
pub fn info_nce(
    anchors: &Tensor,
    positives: &Tensor,
    negatives: Option<&Tensor>,
    tau: f64,
) -> Result<Tensor> {
    let (b, _) = anchors.dims2()?;
    let a = unit_rows(anchors)?;
    let p = unit_rows(positives)?;
    let mut logits = a.matmul(&p.t()?)?;
    if let Some(n) = negatives
        && n.dim(1)? > 0
    {
        let n = unit_rows(n)?;
        let own = a.unsqueeze(1)?.matmul(&n.transpose(1, 2)?)?.squeeze(1)?;
        logits = Tensor::cat(&[&logits, &own], 1)?;
    }
    let logp = candle_nn::ops::log_softmax(&(logits / tau)?, D::Minus1)?;
    let idx = Tensor::arange(0u32, b as u32, anchors.device())?.unsqueeze(1)?;
    logp.gather(&idx, 1)?.mean_all()?.neg()
}

/// KL(policy ‖ reference) per position, averaged over positions: both are next-token
/// log-distributions `(N, vocab)`; the reference carries no gradient.
pub fn kl_penalty(policy_logp: &Tensor, reference_logp: &Tensor) -> Result<Tensor> {
    let diff = (policy_logp - reference_logp.detach())?;
    (policy_logp.exp()? * diff)?.sum(D::Minus1)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t(v: &[f32], shape: (usize, usize)) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
    }

    fn scalar(x: &Tensor) -> f32 {
        x.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn info_nce_matches_its_formula_on_a_constructed_case() {
        // Two anchors equal to their positives, orthogonal to each other: each row's
        // logits are [1/τ, 0] (in-batch) → loss = log(1 + e^{-1/τ}).
        let a = t(&[1.0, 0.0, 0.0, 1.0], (2, 2));
        let tau = 0.5;
        let loss = scalar(&info_nce(&a, &a, None, tau).unwrap());
        let want = (1.0 + (-1.0f32 / tau as f32).exp()).ln();
        assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
        // An own negative equal to the anchor adds a logit of 1/τ: loss = log(2 + e^{-1/τ}).
        let neg = Tensor::stack(&[t(&[1.0, 0.0], (1, 2)), t(&[0.0, 1.0], (1, 2))], 0).unwrap();
        let loss = scalar(&info_nce(&a, &a, Some(&neg), tau).unwrap());
        let want = (2.0 + (-1.0f32 / tau as f32).exp()).ln();
        assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
    }

    #[test]
    fn info_nce_gradient_pulls_an_anchor_towards_its_positive() {
        let anchor = Var::from_tensor(&t(&[1.0, 1.0], (1, 2))).unwrap();
        let pos = t(&[1.0, 0.0], (1, 2));
        let neg = t(&[0.0, 1.0], (1, 2)).unsqueeze(0).unwrap();
        let before = scalar(&info_nce(anchor.as_tensor(), &pos, Some(&neg), 0.1).unwrap());
        for _ in 0..20 {
            let loss = info_nce(anchor.as_tensor(), &pos, Some(&neg), 0.1).unwrap();
            let g = loss.backward().unwrap();
            let grad = g.get(anchor.as_tensor()).unwrap();
            anchor
                .set(&(anchor.as_tensor() - (grad * 0.1).unwrap()).unwrap())
                .unwrap();
        }
        let after = scalar(&info_nce(anchor.as_tensor(), &pos, Some(&neg), 0.1).unwrap());
        assert!(after < before * 0.5, "{before} → {after}");
        let v = anchor.as_tensor().to_vec2::<f32>().unwrap();
        assert!(
            v[0][0] > v[0][1],
            "the anchor moved towards the positive: {v:?}"
        );
    }

    #[test]
    fn kl_is_zero_for_equal_distributions_and_matches_the_formula() {
        let p = candle_nn::ops::log_softmax(&t(&[1.0, 2.0, 3.0], (1, 3)), D::Minus1).unwrap();
        assert!(scalar(&kl_penalty(&p, &p).unwrap()).abs() < 1e-6);
        let q = candle_nn::ops::log_softmax(&t(&[3.0, 2.0, 1.0], (1, 3)), D::Minus1).unwrap();
        let pv = p.exp().unwrap().to_vec2::<f32>().unwrap()[0].clone();
        let qv = q.exp().unwrap().to_vec2::<f32>().unwrap()[0].clone();
        let want: f32 = pv.iter().zip(&qv).map(|(a, b)| a * (a / b).ln()).sum();
        let got = scalar(&kl_penalty(&p, &q).unwrap());
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        assert!(got > 0.0);
    }
}
