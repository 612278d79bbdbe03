//! Int8 weights with one scale per 32 values (the Q8_0 scheme), packed for AVX-512 VNNI.
//!
//! candle's quantized CPU kernels only use their VNNI tiles when the inner dimension is a
//! multiple of 256; SmolLM2's width is 576, so every projection fell back to a generic
//! per-dot-product kernel. This kernel packs 16 output rows side by side so that one
//! `vpdpbusd` multiplies 4 inputs into 16 rows at once, reuses each packed block for up to
//! 4 input rows (batched decode, prefill), and splits the rows across threads.
//!
//! Inputs are quantized per 32 values to unsigned bytes (`q + 128`, since `vpdpbusd`
//! takes one unsigned operand); the `128 · Σq_w` this adds is subtracted per block.

use rayon::prelude::*;

/// Output rows per packed group (one zmm register of i32/f32 lanes).
const LANES: usize = 16;
/// Values per quantization block.
const BLOCK: usize = 32;
/// Input rows processed together against one loaded weight block.
const ROWS: usize = 4;

/// A weight matrix `(n, k)` quantized to int8 per block of 32 and packed for VNNI.
pub struct PackedQ8 {
    n: usize,
    k: usize,
    /// Per (group, block): 8 chunks × 16 lanes × 4 bytes.
    qs: Vec<i8>,
    /// Per (group, block): the 16 rows' scales.
    d: Vec<f32>,
    /// Per (group, block): `128 · d · Σq` of the 16 rows (the unsigned-input correction).
    corr: Vec<f32>,
}

/// Whether this CPU can run the packed kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Quantizes `x` (a multiple of 32 long) to int8 per block: returns the scales.
fn quantize_blocks(x: &[f32], out: &mut [i8]) -> Vec<f32> {
    x.chunks_exact(BLOCK)
        .zip(out.chunks_exact_mut(BLOCK))
        .map(|(xb, qb)| {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (q, &v) in qb.iter_mut().zip(xb) {
                *q = (v * inv).round().clamp(-127.0, 127.0) as i8;
            }
            d
        })
        .collect()
}

impl PackedQ8 {
    /// Packs row-major `weights` of shape `(n, k)`. Returns `None` when the shape does not
    /// fit the kernel (`n` not a multiple of 16 or `k` not a multiple of 32) or the CPU
    /// lacks AVX-512 VNNI.
    pub fn new(weights: &[f32], n: usize, k: usize) -> Option<Self> {
        if !available()
            || !n.is_multiple_of(LANES)
            || !k.is_multiple_of(BLOCK)
            || weights.len() != n * k
        {
            return None;
        }
        Some(Self::pack(weights, n, k))
    }

    fn pack(weights: &[f32], n: usize, k: usize) -> Self {
        let nb = k / BLOCK;
        let groups = n / LANES;
        let mut qs = vec![0i8; n * k];
        let mut d = vec![0f32; n * nb];
        let mut corr = vec![0f32; n * nb];
        let mut row_q = vec![0i8; k];
        for row in 0..n {
            let scales = quantize_blocks(&weights[row * k..(row + 1) * k], &mut row_q);
            let (g, lane) = (row / LANES, row % LANES);
            for b in 0..nb {
                let gb = g * nb + b;
                let qb = &row_q[b * BLOCK..(b + 1) * BLOCK];
                for (j, quad) in qb.chunks_exact(4).enumerate() {
                    let at = gb * BLOCK * LANES + j * 4 * LANES + lane * 4;
                    qs[at..at + 4].copy_from_slice(quad);
                }
                d[gb * LANES + lane] = scales[b];
                let sum: i32 = qb.iter().map(|&q| q as i32).sum();
                corr[gb * LANES + lane] = 128.0 * scales[b] * sum as f32;
            }
        }
        debug_assert_eq!(groups * nb * LANES, d.len());
        Self { n, k, qs, d, corr }
    }

    /// Output size.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input size.
    pub fn k(&self) -> usize {
        self.k
    }

    /// `x (m × k) · Wᵀ → (m × n)`, row-major.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        assert_eq!(
            x.len(),
            m * k,
            "input of {} values is not {m} rows of {k}",
            x.len()
        );
        let nb = k / BLOCK;
        let mut xq = vec![0i8; m * k];
        let mut xd = Vec::with_capacity(m * nb);
        for r in 0..m {
            xd.extend(quantize_blocks(
                &x[r * k..(r + 1) * k],
                &mut xq[r * k..(r + 1) * k],
            ));
        }
        // Unsigned inputs for vpdpbusd.
        let xu: Vec<u8> = xq.iter().map(|&q| (q as i16 + 128) as u8).collect();
        let mut out = vec![0f32; m * n];
        let groups = n / LANES;
        let threads = rayon::current_num_threads().max(1);
        let per_chunk = groups.div_ceil(threads * 4).max(1);
        let dst = SendPtr(out.as_mut_ptr());
        (0..groups)
            .into_par_iter()
            .with_min_len(per_chunk)
            .for_each(|g| {
                let dst = &dst;
                // SAFETY: `available()` was checked in `new`; each group writes only its own
                // 16 columns of every output row, so threads never write the same element.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    self.group(g, &xu, &xd, m, dst.0)
                }
                #[cfg(not(target_arch = "x86_64"))]
                let _ = (g, dst);
            });
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn group(&self, g: usize, xu: &[u8], xd: &[f32], m: usize, out: *mut f32) {
        use std::arch::x86_64::*;
        // SAFETY: the caller checked the CPU features; all pointer offsets stay inside
        // `qs`, `d`, `corr`, `xu` (m·k bytes) and `out` (m·n floats) by construction.
        unsafe {
            let (n, k) = (self.n, self.k);
            let nb = k / BLOCK;
            let mut r0 = 0;
            while r0 < m {
                let rows = ROWS.min(m - r0);
                let mut acc = [_mm512_setzero_ps(); ROWS];
                for b in 0..nb {
                    let gb = g * nb + b;
                    let wp = self.qs.as_ptr().add(gb * BLOCK * LANES) as *const __m512i;
                    let w = [
                        _mm512_loadu_si512(wp),
                        _mm512_loadu_si512(wp.add(1)),
                        _mm512_loadu_si512(wp.add(2)),
                        _mm512_loadu_si512(wp.add(3)),
                        _mm512_loadu_si512(wp.add(4)),
                        _mm512_loadu_si512(wp.add(5)),
                        _mm512_loadu_si512(wp.add(6)),
                        _mm512_loadu_si512(wp.add(7)),
                    ];
                    let dv = _mm512_loadu_ps(self.d.as_ptr().add(gb * LANES));
                    let cv = _mm512_loadu_ps(self.corr.as_ptr().add(gb * LANES));
                    for (rr, a) in acc.iter_mut().enumerate().take(rows) {
                        let r = r0 + rr;
                        let xp = xu.as_ptr().add(r * k + b * BLOCK) as *const i32;
                        let mut s = _mm512_setzero_si512();
                        for (j, wj) in w.iter().enumerate() {
                            let xb = _mm512_set1_epi32(std::ptr::read_unaligned(xp.add(j)));
                            s = _mm512_dpbusd_epi32(s, xb, *wj);
                        }
                        let t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(s), dv, cv);
                        *a = _mm512_fmadd_ps(t, _mm512_set1_ps(*xd.get_unchecked(r * nb + b)), *a);
                    }
                }
                for (rr, a) in acc.iter().enumerate().take(rows) {
                    _mm512_storeu_ps(out.add((r0 + rr) * n + g * LANES), *a);
                }
                r0 += rows;
            }
        }
    }
}

struct SendPtr(*mut f32);
// SAFETY: used only for disjoint writes (see `PackedQ8::matmul`).
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random(len: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// The same quantized arithmetic written plainly: what the kernel must compute.
    fn reference(w: &[f32], x: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        let (mut wq, mut xq) = (vec![0i8; k], vec![0i8; k]);
        for r in 0..m {
            let xd = quantize_blocks(&x[r * k..(r + 1) * k], &mut xq);
            for c in 0..n {
                let wd = quantize_blocks(&w[c * k..(c + 1) * k], &mut wq);
                let mut s = 0f64;
                for b in 0..k / BLOCK {
                    let dot: i32 = (b * BLOCK..(b + 1) * BLOCK)
                        .map(|i| wq[i] as i32 * xq[i] as i32)
                        .sum();
                    s += (wd[b] * xd[b]) as f64 * dot as f64;
                }
                out[r * n + c] = s as f32;
            }
        }
        out
    }

    #[test]
    fn kernel_matches_quantized_reference_and_f32() {
        if !available() {
            eprintln!("no AVX-512 VNNI on this CPU: the packed kernel is not used here");
            assert!(PackedQ8::new(&[0.0; 16 * 32], 16, 32).is_none());
            return;
        }
        let mut rng = StdRng::seed_from_u64(3);
        for (m, n, k) in [(1, 16, 32), (3, 48, 96), (5, 32, 576), (9, 192, 64)] {
            let w = random(n * k, &mut rng);
            let x = random(m * k, &mut rng);
            let packed = PackedQ8::new(&w, n, k).unwrap();
            let got = packed.matmul(&x, m);
            let want = reference(&w, &x, m, n, k);
            for (g, r) in got.iter().zip(&want) {
                assert!(
                    (g - r).abs() < 1e-3 * (1.0 + r.abs()),
                    "{g} vs {r} at {m}x{n}x{k}"
                );
            }
            // And close to the exact f32 product (quantization error only).
            let mut err = 0f64;
            let mut norm = 0f64;
            for r in 0..m {
                for c in 0..n {
                    let exact: f32 = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum();
                    err += ((got[r * n + c] - exact) as f64).powi(2);
                    norm += (exact as f64).powi(2);
                }
            }
            assert!(
                (err / norm).sqrt() < 0.02,
                "relative error {}",
                (err / norm).sqrt()
            );
        }
    }

    #[test]
    fn unsupported_shapes_are_declined() {
        assert!(PackedQ8::new(&[0.0; 8 * 32], 8, 32).is_none());
        assert!(PackedQ8::new(&[0.0; 16 * 20], 16, 20).is_none());
    }

    #[test]
    fn zero_rows_and_zero_blocks_are_handled() {
        if !available() {
            return;
        }
        let w = vec![0.0f32; 16 * 32];
        let p = PackedQ8::new(&w, 16, 32).unwrap();
        assert_eq!(p.matmul(&[1.0; 32], 1), vec![0.0; 16]);
        assert!(p.matmul(&[], 0).is_empty());
    }
}
