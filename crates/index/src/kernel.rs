//! The hot loops: the dot product every index spends its time in, the bounded top-k
//! selection, and the final rescoring of hits with the project's cosine.

use crate::Hit;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use vec2prompt_core::cosine;

/// Accumulators in [`dot`]: four 256-bit or two 512-bit registers, so consecutive
/// multiply-adds do not wait on each other's latency.
const LANES: usize = 32;

/// Dot product of two equal-length vectors in f32.
///
/// Written over fixed-size chunks with an array of accumulators so that LLVM turns the
/// inner loop into SIMD code (the build targets the host CPU); a plain `zip().sum()`
/// stays scalar because float addition is not reassociated.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot of vectors with different lengths");
    let n = a.len().min(b.len());
    let (chunks_a, tail_a) = a[..n].as_chunks::<LANES>();
    let (chunks_b, tail_b) = b[..n].as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in chunks_a.iter().zip(chunks_b) {
        for i in 0..LANES {
            acc[i] = madd(acc[i], x[i], y[i]);
        }
    }
    let mut tail = 0f32;
    for (&x, &y) in tail_a.iter().zip(tail_b) {
        tail = madd(tail, x, y);
    }
    reduce(acc) + tail
}

/// Sum of the accumulators, pairwise (vectorizes, and loses less precision than a running
/// sum). Kept out of line on purpose: inlined, LLVM's vectorizer lets this tree decide the
/// layout of the accumulators and splits the main loop into 64-bit pieces (measured: 2x
/// slower dot products).
#[inline(never)]
fn reduce(acc: [f32; LANES]) -> f32 {
    let mut half = [0f32; LANES / 2];
    for i in 0..LANES / 2 {
        half[i] = acc[i] + acc[i + LANES / 2];
    }
    let mut quarter = [0f32; LANES / 4];
    for i in 0..LANES / 4 {
        quarter[i] = half[i] + half[i + LANES / 4];
    }
    let mut eighth = [0f32; LANES / 8];
    for i in 0..LANES / 8 {
        eighth[i] = quarter[i] + quarter[i + LANES / 8];
    }
    (eighth[0] + eighth[2]) + (eighth[1] + eighth[3])
}

/// `acc + x * y`, fused where the CPU has FMA (one instruction, one rounding); without
/// it `mul_add` would become a slow library call, so fall back to separate operations.
#[inline(always)]
fn madd(acc: f32, x: f32, y: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        x.mul_add(y, acc)
    } else {
        acc + x * y
    }
}

/// A candidate hit: its score and where it is stored.
///
/// Ordered by rank: `a < b` means `a` comes first in results (higher score, then lower
/// id, then lower row), so sorting ascending gives the result order and a max-heap keeps
/// the worst candidate on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ranked {
    /// Similarity to the query (a dot product of normalized vectors while searching).
    pub score: f32,
    /// The caller's id of the vector.
    pub id: u32,
    /// Position of the vector in the index's storage.
    pub row: u32,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.id.cmp(&other.id))
            .then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `k` best-ranked candidates seen so far.
#[derive(Debug, Clone)]
pub(crate) struct TopK {
    /// How many to keep.
    k: usize,
    /// The kept candidates, worst on top so it can be replaced in O(log k).
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    /// An empty selection of at most `k` candidates.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1).min(1 << 16)),
        }
    }

    /// Offers a candidate; it is kept if fewer than `k` are held or it ranks before the
    /// worst one held.
    #[inline]
    pub fn push(&mut self, candidate: Ranked) {
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }

    /// Score a candidate must beat to have a chance of being kept: a cheap filter that
    /// spares building a [`Ranked`] for most rows of a scan.
    #[inline]
    pub fn threshold(&self) -> f32 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k => worst.score,
            _ => f32::NEG_INFINITY,
        }
    }

    /// Merges another selection into this one.
    pub fn merge(&mut self, other: TopK) {
        for candidate in other.heap {
            self.push(candidate);
        }
    }

    /// The kept candidates, in no particular order.
    pub fn into_vec(self) -> Vec<Ranked> {
        self.heap.into_vec()
    }
}

/// Offers every row of `block` (row-major, rows numbered from `first_row`, whose ids are
/// `ids[first_row..]`) to `top`, scored by dot product with the normalized `query`.
#[inline]
pub(crate) fn scan_rows(
    query: &[f32],
    ids: &[u32],
    first_row: usize,
    block: &[f32],
    top: &mut TopK,
) {
    let dimension = query.len().max(1);
    for ((i, values), &id) in block
        .chunks_exact(dimension)
        .enumerate()
        .zip(&ids[first_row.min(ids.len())..])
    {
        let score = dot(query, values);
        // `>=`: an equal score may still win on its id.
        if score >= top.threshold() {
            top.push(Ranked {
                score,
                id,
                row: (first_row + i) as u32,
            });
        }
    }
}

/// Turns candidates into hits: rescores each with [`cosine`] (f64 accumulation, the
/// project's one similarity) against its stored normalized row and sorts by rank.
pub(crate) fn finish(
    query: &[f32],
    data: &[f32],
    dimension: usize,
    candidates: Vec<Ranked>,
) -> Vec<Hit> {
    let mut ranked: Vec<Ranked> = candidates
        .into_iter()
        .map(|c| {
            let start = c.row as usize * dimension;
            Ranked {
                score: cosine(query, &data[start..start + dimension]),
                ..c
            }
        })
        .collect();
    ranked.sort_unstable();
    ranked
        .into_iter()
        .map(|c| Hit {
            id: c.id,
            score: c.score,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum_for_every_remainder() {
        for n in 0..100 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0).collect();
            let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            let got = dot(&a, &b) as f64;
            assert!((got - want).abs() < 1e-4, "n={n}: {got} vs {want}");
        }
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_id_then_row() {
        let mut top = TopK::new(3);
        let offers = [
            (0.5, 7, 0),
            (0.9, 4, 1),
            (0.5, 2, 2),
            (0.1, 1, 3),
            (0.9, 4, 0),
            (0.5, 3, 5),
        ];
        for (score, id, row) in offers {
            top.push(Ranked { score, id, row });
        }
        let mut kept = top.into_vec();
        kept.sort_unstable();
        let got: Vec<(f32, u32, u32)> = kept.iter().map(|c| (c.score, c.id, c.row)).collect();
        assert_eq!(got, vec![(0.9, 4, 0), (0.9, 4, 1), (0.5, 2, 2)]);
    }

    #[test]
    fn top_k_of_zero_keeps_nothing_and_merge_keeps_the_best() {
        let mut none = TopK::new(0);
        none.push(Ranked {
            score: 1.0,
            id: 0,
            row: 0,
        });
        assert!(none.into_vec().is_empty());

        let (mut a, mut b) = (TopK::new(2), TopK::new(2));
        for (i, s) in [0.1f32, 0.8, 0.3].into_iter().enumerate() {
            a.push(Ranked {
                score: s,
                id: i as u32,
                row: i as u32,
            });
        }
        for (i, s) in [0.9f32, 0.2].into_iter().enumerate() {
            b.push(Ranked {
                score: s,
                id: 10 + i as u32,
                row: 10 + i as u32,
            });
        }
        assert_eq!(a.threshold(), 0.3);
        a.merge(b);
        let mut kept = a.into_vec();
        kept.sort_unstable();
        assert_eq!(kept.iter().map(|c| c.id).collect::<Vec<_>>(), vec![10, 1]);
    }
}
