//! Statistics of the report: every number the evaluation protocol reports.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Arithmetic mean (0 for an empty slice).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Median (0 for an empty slice).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Percentile bootstrap 95% confidence interval of the mean (`resamples` draws, seeded).
pub fn bootstrap_ci95(xs: &[f64], resamples: usize, seed: u64) -> [f64; 2] {
    if xs.is_empty() {
        return [0.0, 0.0];
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..xs.len())
                .map(|_| xs[rng.random_range(0..xs.len())])
                .sum::<f64>()
                / xs.len() as f64
        })
        .collect();
    means.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    [at(0.025), at(0.975)]
}

/// Share of targets where `method` beats `reference` (ties count one half).
pub fn win_rate(method: &[f64], reference: &[f64]) -> f64 {
    if method.is_empty() {
        return 0.0;
    }
    let wins: f64 = method
        .iter()
        .zip(reference)
        .map(|(m, r)| {
            if m > r {
                1.0
            } else if m == r {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    wins / method.len() as f64
}

/// `(method − random) / (oracle − random)`: 1.0 is as good as the original prompts.
pub fn normalized(method: f64, random: f64, oracle: f64) -> f64 {
    let span = oracle - random;
    if span.abs() < 1e-12 {
        0.0
    } else {
        (method - random) / span
    }
}

/// Whether `prompt` contains any run of 8 consecutive words of `reference` (case and
/// punctuation ignored): a prompt that pastes the answer it should elicit.
pub use vec2prompt_core::text::copies;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_statistics() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(win_rate(&[1.0, 0.0, 0.5], &[0.0, 1.0, 0.5]), 0.5);
        assert!((normalized(0.4, 0.1, 0.6) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_interval_covers_the_mean_and_shrinks_with_n() {
        let small: Vec<f64> = (0..20).map(|i| (i % 5) as f64).collect();
        let big: Vec<f64> = (0..2000).map(|i| (i % 5) as f64).collect();
        let [lo, hi] = bootstrap_ci95(&small, 1000, 1);
        assert!(lo < 2.0 && 2.0 < hi, "{lo} {hi}");
        let [blo, bhi] = bootstrap_ci95(&big, 1000, 1);
        assert!(bhi - blo < (hi - lo) / 3.0);
        assert_eq!(bootstrap_ci95(&small, 1000, 1), [lo, hi]);
    }

    #[test]
    fn copy_detection_uses_eight_word_runs() {
        let out = "The quick brown fox jumps over the lazy dog today.";
        assert!(copies(
            "Repeat: the QUICK brown fox, jumps over the lazy dog!",
            out
        ));
        assert!(!copies("the quick brown fox jumps over the cat", out));
        assert!(!copies("anything", "too short"));
    }
}

fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        // Ties share the mean of their ranks.
        let mean = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation of two equally long samples; `None` when either is constant
/// or shorter than 2.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

#[cfg(test)]
mod spearman_tests {
    use super::spearman;

    #[test]
    fn spearman_of_monotone_and_reversed_orders() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(spearman(&a, &[10.0, 20.0, 25.0, 100.0]), Some(1.0));
        assert_eq!(spearman(&a, &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&a, &[1.0, 1.0, 1.0, 1.0]), None);
        let r = spearman(&a, &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.8).abs() < 1e-12);
    }
}
