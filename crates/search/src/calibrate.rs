//! Learning from each measured answer within one search: an online residual calibration
//! of the surrogate, and a diverse choice of what to measure next.
//!
//! The surrogate predicts the answer embedding ê of a prompt from the prompt's embedding
//! p. Once some candidates of a target have been answered for real, their residuals
//! r_i = ê_i − ê_sur(p_i) say where the surrogate is wrong *in this environment, near
//! this target*. Prompts similar to a measured one tend to share its error (same task,
//! same wording the LLM reacts to), so each unmeasured prediction is moved by a kernel
//! average of the residuals, shrunk towards zero when few or only distant measurements
//! back it:
//!
//! ê_cal(p) = ê_sur(p) + Σ_i k(p, p_i) r_i / (λ + Σ_i k(p, p_i)),
//! k(p, p_i) = exp((cos(p, p_i) − 1) / τ).
//!
//! With no measurement it is the surrogate; next to a measured prompt it is (almost) that
//! prompt's real answer.

use vec2prompt_core::cosine;

/// Kernel width τ on the cosine scale: at cos(p, p_i) = 0.9 a measurement weighs
/// exp(−1) ≈ 0.37 of one at the same prompt.
pub const BANDWIDTH: f32 = 0.1;
/// Shrinkage λ: the weight of "the surrogate is right" against the measurements.
pub const SHRINK: f32 = 0.5;

/// One measured candidate: its prompt's embedding, the surrogate's prediction for it and
/// the embedding of its real answer.
#[derive(Debug, Clone)]
pub struct Measured {
    /// E(prompt).
    pub prompt: Vec<f32>,
    /// ê_sur(prompt).
    pub predicted: Vec<f32>,
    /// ê, the real answer's embedding.
    pub answer: Vec<f32>,
}

/// The residual calibration of one target's search.
#[derive(Debug, Clone)]
pub struct Calibration {
    points: Vec<(Vec<f32>, Vec<f32>)>,
    bandwidth: f32,
    shrink: f32,
}

impl Calibration {
    /// A calibration from the measured candidates (those with an empty answer vector, an
    /// empty answer, are left out: they say nothing about where answers land).
    pub fn fit(measured: &[Measured], bandwidth: f32, shrink: f32) -> Self {
        let points = measured
            .iter()
            .filter(|m| {
                !m.answer.is_empty()
                    && m.answer.len() == m.predicted.len()
                    && m.prompt.len() == m.predicted.len()
            })
            .map(|m| {
                let residual: Vec<f32> = m
                    .answer
                    .iter()
                    .zip(&m.predicted)
                    .map(|(a, p)| a - p)
                    .collect();
                (m.prompt.clone(), residual)
            })
            .collect();
        Self {
            points,
            bandwidth: bandwidth.max(1e-4),
            shrink: shrink.max(0.0),
        }
    }

    /// How many measurements back it.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no measurement backs it (then [`Calibration::correct`] is the identity).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The calibrated prediction ê_cal for a prompt embedding and its surrogate prediction.
    pub fn correct(&self, prompt: &[f32], predicted: &[f32]) -> Vec<f32> {
        let mut out = predicted.to_vec();
        if self.points.is_empty() || prompt.len() != predicted.len() {
            return out;
        }
        let weights: Vec<f32> = self
            .points
            .iter()
            .map(|(p, _)| {
                if p.len() == prompt.len() {
                    ((cosine(prompt, p) - 1.0) / self.bandwidth).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let total: f32 = weights.iter().sum::<f32>() + self.shrink;
        if total <= 0.0 {
            return out;
        }
        for (w, (_, r)) in weights.iter().zip(&self.points) {
            for (o, x) in out.iter_mut().zip(r) {
                *o += w / total * x;
            }
        }
        out
    }
}

/// Maximal marginal relevance: `k` indices of `scores` (the calibrated predicted cosines
/// of unmeasured candidates, `vectors[i]` their prompt embeddings), each chosen for its
/// score minus `1 − relevance` times its largest similarity to what is already measured
/// (`taken`) or chosen in this round, so a round does not spend its calls on near copies.
pub fn diverse_picks(
    scores: &[f32],
    vectors: &[&[f32]],
    taken: &[&[f32]],
    k: usize,
    relevance: f32,
) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    let mut left: Vec<usize> = (0..scores.len().min(vectors.len())).collect();
    while chosen.len() < k && !left.is_empty() {
        let value = |i: usize| {
            let near = taken
                .iter()
                .copied()
                .chain(chosen.iter().map(|&j| vectors[j]))
                .filter(|v| !v.is_empty() && v.len() == vectors[i].len())
                .map(|v| cosine(vectors[i], v))
                .fold(f32::NEG_INFINITY, f32::max);
            let near = if near.is_finite() { near } else { 0.0 };
            relevance * scores[i] - (1.0 - relevance) * near
        };
        let (pos, _) = left
            .iter()
            .enumerate()
            .map(|(pos, &i)| (pos, value(i)))
            .fold(
                (0, f32::NEG_INFINITY),
                |best, x| {
                    if x.1 > best.1 { x } else { best }
                },
            );
        chosen.push(left.remove(pos));
    }
    chosen
}

/// Spearman's rank correlation of two equally long lists (ties get their mean rank).
pub fn spearman(a: &[f32], b: &[f32]) -> f32 {
    fn ranks(x: &[f32]) -> Vec<f32> {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0.0f32; x.len()];
        let mut s = 0;
        while s < idx.len() {
            let mut e = s;
            while e + 1 < idx.len() && x[idx[e + 1]] == x[idx[s]] {
                e += 1;
            }
            let mean = (s + e) as f32 / 2.0;
            for &i in &idx[s..=e] {
                r[i] = mean;
            }
            s = e + 1;
        }
        r
    }
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (ra, rb) = (ranks(&a[..n]), ranks(&b[..n]));
    let mean = (n - 1) as f32 / 2.0;
    let (mut num, mut da, mut db) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in ra.iter().zip(&rb) {
        num += (x - mean) * (y - mean);
        da += (x - mean).powi(2);
        db += (y - mean).powi(2);
    }
    if da == 0.0 || db == 0.0 {
        0.0
    } else {
        num / (da * db).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        vec2prompt_core::l2_normalize(&mut v);
        v
    }

    fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
        unit((0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
    }

    #[test]
    fn without_measurements_it_is_the_surrogate() {
        let c = Calibration::fit(&[], BANDWIDTH, SHRINK);
        assert!(c.is_empty());
        let p = unit(vec![1.0, 2.0, 3.0]);
        assert_eq!(c.correct(&p, &[0.1, 0.2, 0.3]), vec![0.1, 0.2, 0.3]);
        // An empty (failed) answer is no measurement either.
        let empty = Measured {
            prompt: p.clone(),
            predicted: vec![0.1, 0.2, 0.3],
            answer: Vec::new(),
        };
        assert!(Calibration::fit(&[empty], BANDWIDTH, SHRINK).is_empty());
    }

    #[test]
    fn a_measured_prompt_moves_its_neighbours_and_not_distant_prompts() {
        let p = unit(vec![1.0, 0.0, 0.0, 0.0]);
        let m = Measured {
            prompt: p.clone(),
            predicted: unit(vec![0.0, 1.0, 0.0, 0.0]),
            answer: unit(vec![0.0, 0.0, 1.0, 0.0]),
        };
        let c = Calibration::fit(std::slice::from_ref(&m), BANDWIDTH, SHRINK);
        // At the measured prompt: most of the way to the real answer (1 / (1 + λ)).
        let at = c.correct(&p, &m.predicted);
        assert!((at[2] - 1.0 / (1.0 + SHRINK)).abs() < 1e-5, "{at:?}");
        // An orthogonal prompt keeps its prediction (weight e^(−10) ≈ 0).
        let far = unit(vec![0.0, 0.0, 0.0, 1.0]);
        let moved = c.correct(&far, &m.predicted);
        assert!((moved[2]).abs() < 1e-3, "{moved:?}");
    }

    /// A constructed environment where the surrogate is right about the task but blind to
    /// a region-specific shift: prompts near a "style" direction s get answers pushed
    /// along d, which the surrogate does not know. After measuring a few candidates the
    /// calibrated ranking of the rest is closer to their true order.
    #[test]
    fn calibration_improves_the_ranking_of_unmeasured_candidates() {
        let dim = 16;
        let mut wins = 0;
        let trials = 20;
        for seed in 0..trials {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let s = random_unit(&mut rng, dim);
            let d = random_unit(&mut rng, dim);
            let target = random_unit(&mut rng, dim);
            // The true environment: answer = prompt direction + a shift along d for prompts
            // close to s.
            let truth = |p: &[f32]| -> Vec<f32> {
                let near = cosine(p, &s).max(0.0);
                unit(p.iter().zip(&d).map(|(x, y)| x + 1.5 * near * y).collect())
            };
            let prompts: Vec<Vec<f32>> = (0..40)
                .map(|i| {
                    // Half the candidates lie near the style direction.
                    let noise = random_unit(&mut rng, dim);
                    let w = if i % 2 == 0 { 0.8 } else { 0.1 };
                    unit(s.iter().zip(&noise).map(|(a, b)| w * a + b).collect())
                })
                .collect();
            let surrogate = |p: &[f32]| p.to_vec();
            let measured: Vec<Measured> = prompts[..8]
                .iter()
                .map(|p| Measured {
                    prompt: p.clone(),
                    predicted: surrogate(p),
                    answer: truth(p),
                })
                .collect();
            let c = Calibration::fit(&measured, 0.3, SHRINK);
            let rest = &prompts[8..];
            let real: Vec<f32> = rest.iter().map(|p| cosine(&target, &truth(p))).collect();
            let before: Vec<f32> = rest
                .iter()
                .map(|p| cosine(&target, &surrogate(p)))
                .collect();
            let after: Vec<f32> = rest
                .iter()
                .map(|p| cosine(&target, &c.correct(p, &surrogate(p))))
                .collect();
            if spearman(&after, &real) > spearman(&before, &real) {
                wins += 1;
            }
        }
        assert!(
            wins >= 16,
            "calibration helped in {wins} of {trials} trials"
        );
    }

    #[test]
    fn diverse_picks_skip_near_copies() {
        let a = unit(vec![1.0, 0.0, 0.0]);
        let a2 = unit(vec![1.0, 0.01, 0.0]);
        let b = unit(vec![0.0, 1.0, 0.0]);
        let vectors: Vec<&[f32]> = vec![&a, &a2, &b];
        let scores = [0.9, 0.89, 0.8];
        // Pure relevance takes the two best, near copies or not.
        assert_eq!(diverse_picks(&scores, &vectors, &[], 2, 1.0), vec![0, 1]);
        // With diversity the copy gives way.
        assert_eq!(diverse_picks(&scores, &vectors, &[], 2, 0.7), vec![0, 2]);
        // What is already measured counts too.
        assert_eq!(diverse_picks(&scores, &vectors, &[&a], 1, 0.7), vec![2]);
        assert_eq!(diverse_picks(&scores, &vectors, &[], 5, 0.7).len(), 3);
    }

    #[test]
    fn spearman_of_known_orders() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-6);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-6);
        assert_eq!(spearman(&[1.0], &[2.0]), 0.0);
    }
}
