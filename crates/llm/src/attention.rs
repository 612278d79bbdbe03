//! Attention and RoPE computed per sequence in a fixed order, so a sequence's numbers do
//! not depend on the batch it runs in.
//!
//! A left-padded row of a batch differs from the same sequence alone in three places
//! when attention is written with batched matmuls: its absolute positions (shifted by the
//! padding, so RoPE rotates by other angles), the length of its score rows (padding keys
//! masked to zero weight still change how a vectorised sum groups its terms), and the
//! matmul shapes (which decide the blocking of the reductions). Here each row's tokens
//! are rotated by their position *in the sequence*, each query attends over exactly its
//! own keys (from the row's first real token to itself), and every reduction runs in an
//! order that depends only on the head size and the number of those keys. A greedy
//! answer is then the same whether the prompt runs alone or in a batch of 32.

use rayon::prelude::*;

/// Values a register block of the attention loops holds.
const LANE: usize = 16;

/// Largest head size the key rotation's stack buffer holds.
pub(crate) const MAX_HEAD_DIM: usize = 256;

/// Head geometry of one model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Values per head.
    pub head_dim: usize,
}

impl Heads {
    fn q_width(self) -> usize {
        self.n_head * self.head_dim
    }

    fn kv_width(self) -> usize {
        self.n_kv_head * self.head_dim
    }
}

/// RoPE's rotation tables, interleaved pairs `(2i, 2i + 1)` as GGUF llama weights expect.
pub(crate) struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl Rope {
    /// Tables for `positions` positions of heads of `head_dim` values.
    pub fn new(head_dim: usize, base: f32, positions: usize) -> Self {
        let half = head_dim / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0 / base.powf(2.0 * i as f32 / head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for &f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Self { cos, sin, half }
    }

    /// Rotates one head's vector `x` in place to position `p`.
    fn rotate(&self, x: &mut [f32], p: usize) {
        let cos = &self.cos[p * self.half..(p + 1) * self.half];
        let sin = &self.sin[p * self.half..(p + 1) * self.half];
        for (i, pair) in x.chunks_exact_mut(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * cos[i] - b * sin[i];
            pair[1] = a * sin[i] + b * cos[i];
        }
    }
}

/// One layer's keys and values for a batch. Keys are stored in blocks of [`LANE`]
/// positions, transposed within each block, `(B, n_kv_head, blocks, head_dim, LANE)`,
/// so a query's scores over a block are one register of sums over the head dimension
/// (each score still sums its dimensions in order); values are
/// `(B, n_kv_head, capacity, head_dim)`.
pub(crate) struct LayerCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    rows: usize,
}

impl LayerCache {
    /// Zeroed buffers for `batch` rows of `capacity` positions.
    pub fn new(heads: Heads, batch: usize, capacity: usize) -> Self {
        let blocks = capacity.div_ceil(LANE);
        Self {
            keys: vec![0.0; batch * heads.kv_width() * blocks * LANE],
            values: vec![0.0; batch * heads.kv_width() * capacity],
            rows: batch,
        }
    }

    /// Batch rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Keeps the rows in `keep` (each below [`LayerCache::rows`]), in that order.
    pub fn retain_rows(&mut self, keep: &[u32]) {
        let rows = self.rows.max(1);
        let pick = |buf: &[f32]| -> Vec<f32> {
            let row_len = buf.len() / rows;
            let mut out = Vec::with_capacity(keep.len() * row_len);
            for &r in keep {
                let r = r as usize;
                out.extend_from_slice(&buf[r * row_len..(r + 1) * row_len]);
            }
            out
        };
        self.keys = pick(&self.keys);
        self.values = pick(&self.values);
        self.rows = keep.len();
    }
}

/// Where a call's tokens sit: `l` new positions after `pos` cached ones, `pads[b]` of the
/// row's positions being left padding, in a cache of `capacity` positions.
pub(crate) struct Span<'a> {
    /// Padding positions at the start of each row.
    pub pads: &'a [usize],
    /// Positions already cached.
    pub pos: usize,
    /// New positions in this call.
    pub l: usize,
    /// Positions the cache holds per row.
    pub capacity: usize,
}

/// Below this many (query, head, key) triples a call runs on the calling thread: waking
/// the pool for every layer of a single-stream decoding step costs more than it saves.
const PARALLEL_WORK: usize = 1 << 12;

/// Self-attention of one layer: `qkv` holds each new position's fused Q, K and V
/// projections (`B × l × (q + 2·kv)` values). Rotates Q and K, appends K and V to
/// `cache`, and returns the attention output `B × l × (n_head · head_dim)`. Padding
/// queries get zeros: nothing real attends to them, and their keys are never read.
pub(crate) fn attend(
    heads: Heads,
    rope: &Rope,
    qkv: &[f32],
    span: &Span<'_>,
    cache: &mut LayerCache,
) -> Vec<f32> {
    let (d, qw, kvw) = (heads.head_dim, heads.q_width(), heads.kv_width());
    let width = qw + 2 * kvw;
    let (b, l, pos, cap) = (span.pads.len(), span.l, span.pos, span.capacity);
    let blocks = cap.div_ceil(LANE);
    let mut q = vec![0f32; b * l * qw];
    for (row, &pad) in span.pads.iter().enumerate() {
        for i in 0..l {
            let at = pos + i;
            // Position within the sequence: padding does not move a row's angles.
            let p = at.saturating_sub(pad);
            let src = &qkv[(row * l + i) * width..(row * l + i + 1) * width];
            let qd = &mut q[(row * l + i) * qw..(row * l + i + 1) * qw];
            qd.copy_from_slice(&src[..qw]);
            for h in qd.chunks_exact_mut(d) {
                rope.rotate(h, p);
            }
            for kv in 0..heads.n_kv_head {
                let mut k = [0f32; MAX_HEAD_DIM];
                let k = &mut k[..d];
                k.copy_from_slice(&src[qw + kv * d..qw + (kv + 1) * d]);
                rope.rotate(k, p);
                let head = row * heads.n_kv_head + kv;
                let block = (head * blocks + at / LANE) * d * LANE + at % LANE;
                for (j, &x) in k.iter().enumerate() {
                    cache.keys[block + j * LANE] = x;
                }
                let slot = (head * cap + at) * d;
                cache.values[slot..slot + d]
                    .copy_from_slice(&src[qw + kvw + kv * d..qw + kvw + (kv + 1) * d]);
            }
        }
    }
    let scale = 1.0 / (d as f32).sqrt();
    let rep = heads.n_head / heads.n_kv_head;
    let (keys, values) = (&cache.keys, &cache.values);
    // One output vector: query `task` = (row, position, head). Every sum runs in an order
    // fixed by the head size and the row's own keys, whichever thread runs it.
    let one = |scores: &mut Vec<f32>, task: usize, o: &mut [f32]| {
        let h = task % heads.n_head;
        let i = (task / heads.n_head) % l;
        let row = task / (heads.n_head * l);
        let (pad, at) = (span.pads[row], pos + i);
        if at < pad {
            return;
        }
        let head = row * heads.n_kv_head + h / rep;
        let qv = &q[(row * l + i) * qw + h * d..][..d];
        // Scores of whole blocks from the one holding the first real key; keys outside
        // [pad, at] are computed and left out.
        let (first, last) = (pad / LANE, at / LANE);
        scores.clear();
        let kb = &keys[(head * blocks + first) * d * LANE..(head * blocks + last + 1) * d * LANE];
        block_scores(qv, kb, d, scores);
        let s = &mut scores[pad - first * LANE..=at - first * LANE];
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for x in s.iter_mut() {
            *x = exp((*x - max) * scale);
        }
        let mut sum = 0f32;
        for &x in s.iter() {
            sum += x;
        }
        let inv = 1.0 / sum;
        let vs = &values[(head * cap + pad) * d..(head * cap + at + 1) * d];
        weighted_values(s, vs, inv, o);
    };
    let mut out = vec![0f32; b * l * qw];
    if b * l * heads.n_head * (pos + l) < PARALLEL_WORK {
        let mut scores = Vec::new();
        for (task, o) in out.chunks_mut(d).enumerate() {
            one(&mut scores, task, o);
        }
    } else {
        out.par_chunks_mut(d)
            .enumerate()
            .with_min_len(8)
            .for_each_init(Vec::new, |scores, (task, o)| one(scores, task, o));
    }
    out
}

/// Scores of `q` against key blocks `kb` (each `d × LANE`, transposed) appended to
/// `scores`. Each score is four running sums over the head dimensions `j ≡ 0, 1, 2, 3
/// (mod 4)`, in order, added as `(s0 + s1) + (s2 + s3)`: four independent chains, in an
/// order fixed by the head size alone.
fn block_scores(q: &[f32], kb: &[f32], d: usize, scores: &mut Vec<f32>) {
    for block in kb.chunks_exact(d * LANE) {
        let (mut s0, mut s1, mut s2, mut s3) =
            ([0f32; LANE], [0f32; LANE], [0f32; LANE], [0f32; LANE]);
        let quads = q.chunks_exact(4).zip(block.chunks_exact(4 * LANE));
        for (qs, ks) in quads {
            let (k01, k23) = ks.split_at(2 * LANE);
            let ((k0, k1), (k2, k3)) = (k01.split_at(LANE), k23.split_at(LANE));
            for (x, &k) in s0.iter_mut().zip(k0) {
                *x = qs[0].mul_add(k, *x);
            }
            for (x, &k) in s1.iter_mut().zip(k1) {
                *x = qs[1].mul_add(k, *x);
            }
            for (x, &k) in s2.iter_mut().zip(k2) {
                *x = qs[2].mul_add(k, *x);
            }
            for (x, &k) in s3.iter_mut().zip(k3) {
                *x = qs[3].mul_add(k, *x);
            }
        }
        // A head size that is not a multiple of 4: the last dimensions go to s0.
        let done = d - d % 4;
        for (&qj, k) in q[done..]
            .iter()
            .zip(block[done * LANE..].chunks_exact(LANE))
        {
            for (x, &kk) in s0.iter_mut().zip(k) {
                *x = qj.mul_add(kk, *x);
            }
        }
        for lane in 0..LANE {
            scores.push((s0[lane] + s1[lane]) + (s2[lane] + s3[lane]));
        }
    }
}

/// `o = inv · Σ_j w_j · v_j` over the keys in order, for values `vs` of `o.len()` each.
fn weighted_values(w: &[f32], vs: &[f32], inv: f32, o: &mut [f32]) {
    match o.len() {
        64 => weighted_values_n::<64>(w, vs, inv, o),
        128 => weighted_values_n::<128>(w, vs, inv, o),
        32 => weighted_values_n::<32>(w, vs, inv, o),
        16 => weighted_values_n::<16>(w, vs, inv, o),
        d => {
            o.fill(0.0);
            for (&wj, v) in w.iter().zip(vs.chunks_exact(d)) {
                for (x, &y) in o.iter_mut().zip(v) {
                    *x = wj.mul_add(y, *x);
                }
            }
            for x in o.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// [`weighted_values`] for heads of `D` values, the sums held in registers; the same
/// operations in the same order as the general path.
fn weighted_values_n<const D: usize>(w: &[f32], vs: &[f32], inv: f32, o: &mut [f32]) {
    let mut acc = [0f32; D];
    for (&wj, v) in w.iter().zip(vs.chunks_exact(D)) {
        for (x, &y) in acc.iter_mut().zip(v) {
            *x = wj.mul_add(y, *x);
        }
    }
    for (x, &y) in o.iter_mut().zip(&acc) {
        *x = y * inv;
    }
}

/// `e^x` for `x ≤ 0` to about one ulp, in straight-line code the compiler vectorises
/// (the scores' exponentials were a large share of attention with the C library's):
/// `x = n·ln2 + r` with `|r| ≤ ln2/2`, a degree-6 polynomial for `e^r`, and `2^n` put
/// into the exponent bits. Below −87 the result is 0, as `e^x` is in f32 up to
/// subnormals.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    // ln2 split in two so that n·ln2 is subtracted exactly.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.666_666_7e-1
                    + r * (4.166_666_8e-2 + r * (8.333_334e-3 + r * 1.388_889e-3)))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const HEADS: Heads = Heads {
        n_head: 4,
        n_kv_head: 2,
        head_dim: 8,
    };

    fn random(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Plain softmax attention over one sequence, written out in f64.
    fn reference(qkv: &[f32], l: usize, rope: &Rope) -> Vec<f32> {
        let (d, qw, kvw) = (HEADS.head_dim, HEADS.q_width(), HEADS.kv_width());
        let width = qw + 2 * kvw;
        let rotated = |i: usize, off: usize| -> Vec<f32> {
            let mut v = qkv[i * width + off..i * width + off + d].to_vec();
            rope.rotate(&mut v, i);
            v
        };
        let mut out = vec![0f32; l * qw];
        for i in 0..l {
            for h in 0..HEADS.n_head {
                let kv = h / (HEADS.n_head / HEADS.n_kv_head);
                let q = rotated(i, h * d);
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        let k = rotated(j, qw + kv * d);
                        q.iter().zip(&k).map(|(a, b)| (a * b) as f64).sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for (j, w) in e.iter().enumerate() {
                    let v = &qkv[j * width + qw + kvw + kv * d..][..d];
                    for (o, x) in out[i * qw + h * d..][..d].iter_mut().zip(v) {
                        *o += (w / z * *x as f64) as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_plain_attention_and_is_the_same_in_any_batch() {
        let mut rng = StdRng::seed_from_u64(7);
        let width = HEADS.q_width() + 2 * HEADS.kv_width();
        let rope = Rope::new(HEADS.head_dim, 10_000.0, 64);
        let lens = [5usize, 9, 2];
        let seqs: Vec<Vec<f32>> = lens.iter().map(|&n| random(n * width, &mut rng)).collect();
        let alone: Vec<Vec<f32>> = seqs
            .iter()
            .zip(lens)
            .map(|(s, n)| {
                let mut cache = LayerCache::new(HEADS, 1, n);
                let span = Span {
                    pads: &[0],
                    pos: 0,
                    l: n,
                    capacity: n,
                };
                attend(HEADS, &rope, s, &span, &mut cache)
            })
            .collect();
        for (got, (s, n)) in alone.iter().zip(seqs.iter().zip(lens)) {
            let want = reference(s, n, &rope);
            let diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "max abs diff {diff}");
        }
        // The three sequences left-padded into one batch, run in two calls (a chunked
        // prefill): every real position's output is bit-for-bit the one computed alone.
        let longest = 9;
        let pads: Vec<usize> = lens.iter().map(|n| longest - n).collect();
        let mut padded = Vec::new();
        for (s, &pad) in seqs.iter().zip(&pads) {
            padded.push([random(pad * width, &mut rng), s.clone()].concat());
        }
        let mut cache = LayerCache::new(HEADS, 3, longest);
        let qw = HEADS.q_width();
        let mut batch_out = vec![Vec::new(); 3];
        for (start, end) in [(0, 4), (4, longest)] {
            let part: Vec<f32> = padded
                .iter()
                .flat_map(|r| r[start * width..end * width].iter().copied())
                .collect();
            let span = Span {
                pads: &pads,
                pos: start,
                l: end - start,
                capacity: longest,
            };
            let out = attend(HEADS, &rope, &part, &span, &mut cache);
            for (r, o) in batch_out.iter_mut().enumerate() {
                o.extend_from_slice(&out[r * (end - start) * qw..(r + 1) * (end - start) * qw]);
            }
        }
        for r in 0..3 {
            assert_eq!(
                batch_out[r][pads[r] * qw..],
                alone[r][..],
                "row {r} differs from the sequence alone"
            );
            assert!(batch_out[r][..pads[r] * qw].iter().all(|&x| x == 0.0));
        }
    }

    #[test]
    fn exp_is_within_two_ulps_of_the_c_library() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -(i as f32) * 87.0 / 200_000.0;
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.0));
    }

    #[test]
    fn retained_rows_keep_their_keys() {
        let mut cache = LayerCache::new(HEADS, 3, 2);
        let row_len = cache.keys.len() / 3;
        for (i, k) in cache.keys.iter_mut().enumerate() {
            *k = i as f32;
        }
        cache.retain_rows(&[2, 0]);
        assert_eq!(cache.rows(), 2);
        assert_eq!(cache.keys.len(), 2 * row_len);
        assert_eq!(cache.keys[0], (2 * row_len) as f32);
        assert_eq!(cache.keys[row_len], 0.0);
    }
}
