//! Token selection: greedy argmax or temperature + nucleus (top-p) sampling.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vec2prompt_core::Sampling;

/// Picks the next token of one sequence. Each sequence owns its sampler, so a seeded
/// sequence draws the same tokens whatever else shares its batch.
pub struct Sampler {
    sampling: Sampling,
    rng: StdRng,
    probs: Vec<(f32, u32)>,
}

/// Derives the seed of stream `index` from a base seed (splitmix64 step), so samples
/// `0..n` of a prompt are independent and reproducible.
pub fn stream_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Sampler {
    /// A sampler for `sampling`, drawing from random stream `stream` of its seed.
    pub fn new(sampling: Sampling, stream: u64) -> Self {
        let seed = match sampling {
            Sampling::Sample { seed, .. } => stream_seed(seed, stream),
            Sampling::Greedy => 0,
        };
        Self {
            sampling,
            rng: StdRng::seed_from_u64(seed),
            probs: Vec::new(),
        }
    }

    /// The next token given the logits of the last position.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        match self.sampling {
            Sampling::Greedy => argmax(logits),
            Sampling::Sample {
                temperature, top_p, ..
            } => self.sample_top_p(logits, temperature as f32, top_p as f32),
        }
    }

    fn sample_top_p(&mut self, logits: &[f32], temperature: f32, top_p: f32) -> u32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.probs.clear();
        let mut total = 0f32;
        for (i, &l) in logits.iter().enumerate() {
            let p = ((l - max) / temperature).exp();
            total += p;
            self.probs.push((p, i as u32));
        }
        if !(total.is_finite() && total > 0.0) {
            return argmax(logits);
        }
        let target = top_p * total;
        // Exact nucleus without sorting the whole vocabulary: partition out the k most
        // likely tokens, sort those, and grow k until they hold the requested mass.
        let n = self.probs.len();
        let mut k = 64.min(n);
        let nucleus = loop {
            if k < n {
                self.probs
                    .select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
            }
            self.probs[..k].sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            let mut mass = 0f32;
            let mut cut = None;
            for (j, &(p, _)) in self.probs[..k].iter().enumerate() {
                mass += p;
                if mass >= target {
                    cut = Some(j + 1);
                    break;
                }
            }
            match cut {
                Some(c) => break c,
                None if k == n => break n,
                None => k = (k * 4).min(n),
            }
        };
        let mass: f32 = self.probs[..nucleus].iter().map(|p| p.0).sum();
        let mut r = self.rng.random::<f32>() * mass;
        for &(p, id) in &self.probs[..nucleus] {
            if r < p {
                return id;
            }
            r -= p;
        }
        self.probs[nucleus - 1].1
    }
}

/// Index of the largest value (first one on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest() {
        let mut s = Sampler::new(Sampling::Greedy, 0);
        assert_eq!(s.sample(&[0.1, 3.0, -1.0, 3.0]), 1);
    }

    #[test]
    fn top_p_keeps_only_the_nucleus_and_is_seeded() {
        // Token 0 holds ~88% of the mass; with top_p = 0.5 it is the whole nucleus.
        let logits = [4.0, 2.0, 0.0, -1.0];
        let mut s = Sampler::new(
            Sampling::Sample {
                temperature: 1.0,
                top_p: 0.5,
                seed: 7,
            },
            0,
        );
        assert!((0..100).all(|_| s.sample(&logits) == 0));
        // With top_p = 1 other tokens appear; the same seed gives the same draws.
        let draws = |seed| {
            let mut s = Sampler::new(
                Sampling::Sample {
                    temperature: 2.0,
                    top_p: 1.0,
                    seed,
                },
                3,
            );
            (0..200).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        let a = draws(1);
        assert_eq!(a, draws(1));
        assert_ne!(a, draws(2));
        assert!(a.iter().any(|&t| t != 0));
    }

    #[test]
    fn top_p_over_a_large_vocabulary_matches_a_full_sort() {
        let logits: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
            .collect();
        let mut s = Sampler::new(
            Sampling::Sample {
                temperature: 1.0,
                top_p: 0.9,
                seed: 1,
            },
            0,
        );
        // Every draw must come from the exact nucleus computed by a full sort.
        let max = logits.iter().copied().fold(f32::MIN, f32::max);
        let mut p: Vec<(f32, usize)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| ((l - max).exp(), i))
            .collect();
        let total: f32 = p.iter().map(|x| x.0).sum();
        p.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut mass = 0.0;
        let mut allowed = std::collections::HashSet::new();
        for &(q, i) in &p {
            allowed.insert(i as u32);
            mass += q;
            if mass >= 0.9 * total {
                break;
            }
        }
        // The boundary may differ by float rounding; allow ties with the last kept value.
        let last = p[allowed.len() - 1].0;
        for _ in 0..300 {
            let t = s.sample(&logits);
            assert!(allowed.contains(&t) || (logits[t as usize] - max).exp() >= last * 0.999);
        }
    }
}
