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
//!
//! CPUs with AVX2 but no AVX-512 VNNI (many AMD EPYC and older Intel parts) get a second
//! kernel on the same Q8_0 arithmetic and the same idea with 8 rows side by side: for each
//! 4 inputs, `vpsignb` moves their signs onto the 8 rows' weights, `vpmaddubsw` multiplies
//! |x| by them into pairs that cannot saturate (|q| ≤ 127), `vpmaddwd` sums each row's 4
//! products to i32; a block's 8 chunks add up in i32 and meet the rows' scales once.

use rayon::prelude::*;

/// Output rows per packed group (one zmm register of i32/f32 lanes).
const LANES: usize = 16;
/// Values per quantization block.
const BLOCK: usize = 32;
/// Input rows processed together against one loaded weight block.
const ROWS: usize = 4;

/// Output rows per packed group of the AVX2 kernel (one ymm register of i32/f32 lanes).
const AVX2_LANES: usize = 8;

/// Which instruction set a packed matrix is laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 VNNI: 16 rows interleaved per group.
    Vnni,
    /// AVX2 + FMA: 8 rows interleaved per group.
    Avx2,
}

impl Kernel {
    /// Rows interleaved per group.
    fn lanes(self) -> usize {
        match self {
            Kernel::Vnni => LANES,
            Kernel::Avx2 => AVX2_LANES,
        }
    }
}

/// A weight matrix `(n, k)` quantized to int8 per block of 32 and packed for VNNI or
/// AVX2.
pub struct PackedQ8 {
    n: usize,
    k: usize,
    kernel: Kernel,
    /// Per (group, block): 8 chunks × lanes × 4 bytes.
    qs: Vec<i8>,
    /// Per (group, block): the rows' scales.
    d: Vec<f32>,
    /// Per (group, block): `128 · d · Σq` of the rows (VNNI's unsigned-input correction).
    corr: Vec<f32>,
}

/// Whether this CPU can run the packed VNNI kernel.
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

/// Whether this CPU can run the AVX2 kernel.
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The kernel this CPU runs, best first; `None` when it has neither.
pub fn best_kernel() -> Option<Kernel> {
    if available() {
        Some(Kernel::Vnni)
    } else if avx2_available() {
        Some(Kernel::Avx2)
    } else {
        None
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
        Self::with_kernel(weights, n, k, best_kernel()?)
    }

    /// [`new`](Self::new) for a given kernel (`None` when this CPU cannot run it or the
    /// shape does not fit it).
    pub fn with_kernel(weights: &[f32], n: usize, k: usize, kernel: Kernel) -> Option<Self> {
        let runs = match kernel {
            Kernel::Vnni => available(),
            Kernel::Avx2 => avx2_available(),
        };
        if !runs
            || n == 0
            || !n.is_multiple_of(kernel.lanes())
            || !k.is_multiple_of(BLOCK)
            || weights.len() != n * k
        {
            return None;
        }
        Some(Self::pack(weights, n, k, kernel))
    }

    /// The kernel it runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    fn pack(weights: &[f32], n: usize, k: usize, kernel: Kernel) -> Self {
        let lanes = kernel.lanes();
        let nb = k / BLOCK;
        let groups = n / lanes;
        let mut qs = vec![0i8; n * k];
        let mut d = vec![0f32; n * nb];
        let mut corr = vec![0f32; n * nb];
        let mut row_q = vec![0i8; k];
        for row in 0..n {
            let scales = quantize_blocks(&weights[row * k..(row + 1) * k], &mut row_q);
            let (g, lane) = (row / lanes, row % lanes);
            for b in 0..nb {
                let gb = g * nb + b;
                let qb = &row_q[b * BLOCK..(b + 1) * BLOCK];
                for (j, quad) in qb.chunks_exact(4).enumerate() {
                    let at = gb * BLOCK * lanes + j * 4 * lanes + lane * 4;
                    qs[at..at + 4].copy_from_slice(quad);
                }
                d[gb * lanes + lane] = scales[b];
                let sum: i32 = qb.iter().map(|&q| q as i32).sum();
                corr[gb * lanes + lane] = 128.0 * scales[b] * sum as f32;
            }
        }
        debug_assert_eq!(groups * nb * lanes, d.len());
        Self {
            n,
            k,
            kernel,
            qs,
            d,
            corr,
        }
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
        let mut xq = vec![0i8; m * k];
        // Rows are quantized on their own (in parallel when there are many), so a row's
        // result never depends on the other rows.
        let xd: Vec<f32> = xq
            .par_chunks_mut(k)
            .zip(x.par_chunks(k))
            .with_min_len(16)
            .flat_map_iter(|(q, row)| quantize_blocks(row, q))
            .collect();
        if self.kernel == Kernel::Avx2 {
            return self.matmul_avx2(&xq, &xd, m);
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

impl PackedQ8 {
    /// The AVX2 product of quantized inputs `xq` (m × k) with scales `xd` (m × k/32).
    fn matmul_avx2(&self, xq: &[i8], xd: &[f32], m: usize) -> Vec<f32> {
        let n = self.n;
        // |x| for vpmaddubsw's unsigned operand; x itself gives the signs.
        let xa: Vec<i8> = xq.iter().map(|&q| q.wrapping_abs()).collect();
        let mut out = vec![0f32; m * n];
        let groups = n / AVX2_LANES;
        let threads = rayon::current_num_threads().max(1);
        let per_chunk = groups.div_ceil(threads * 4).max(1);
        let dst = SendPtr(out.as_mut_ptr());
        (0..groups)
            .into_par_iter()
            .with_min_len(per_chunk)
            .for_each(|g| {
                let dst = &dst;
                // SAFETY: `avx2_available()` was checked when the matrix was built; each
                // group writes only its own 8 columns of every output row, so threads never
                // write the same element.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    self.group_avx2(g, xq, &xa, xd, m, dst.0)
                }
                #[cfg(not(target_arch = "x86_64"))]
                let _ = (g, dst, &xa);
            });
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn group_avx2(
        &self,
        g: usize,
        xq: &[i8],
        xa: &[i8],
        xd: &[f32],
        m: usize,
        out: *mut f32,
    ) {
        use std::arch::x86_64::*;
        // SAFETY: the caller checked the CPU features; offsets stay inside `qs`, `d`,
        // `xq`/`xa` (m·k bytes), `xd` (m·k/32) and `out` (m·n floats) by construction.
        unsafe {
            let (n, k) = (self.n, self.k);
            let nb = k / BLOCK;
            let ones = _mm256_set1_epi16(1);
            let mut r0 = 0;
            while r0 < m {
                let rows = ROWS.min(m - r0);
                let mut acc = [_mm256_setzero_ps(); ROWS];
                for b in 0..nb {
                    let gb = g * nb + b;
                    let wp = self.qs.as_ptr().add(gb * BLOCK * AVX2_LANES) as *const __m256i;
                    let dv = _mm256_loadu_ps(self.d.as_ptr().add(gb * AVX2_LANES));
                    let mut sums = [_mm256_setzero_si256(); ROWS];
                    for j in 0..BLOCK / 4 {
                        let w = _mm256_loadu_si256(wp.add(j));
                        for (rr, sum) in sums.iter_mut().enumerate().take(rows) {
                            let at = (r0 + rr) * k + b * BLOCK + j * 4;
                            let x = _mm256_set1_epi32(std::ptr::read_unaligned(
                                xq.as_ptr().add(at) as *const i32,
                            ));
                            let ax = _mm256_set1_epi32(std::ptr::read_unaligned(
                                xa.as_ptr().add(at) as *const i32,
                            ));
                            let p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, x));
                            *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(p, ones));
                        }
                    }
                    for (rr, (a, sum)) in acc.iter_mut().zip(&sums).enumerate().take(rows) {
                        let scale = _mm256_mul_ps(
                            dv,
                            _mm256_set1_ps(*xd.get_unchecked((r0 + rr) * nb + b)),
                        );
                        *a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(*sum), scale, *a);
                    }
                }
                for (rr, a) in acc.iter().enumerate().take(rows) {
                    _mm256_storeu_ps(out.add((r0 + rr) * n + g * AVX2_LANES), *a);
                }
                r0 += rows;
            }
        }
    }
}

/// The machine's measured peak int8 multiply-accumulate rate, in operations per second
/// (one multiply-add = 2 operations), for the instruction sequence the packed kernel of
/// [`best_kernel`] uses: a register-only loop of `vpdpbusd` (VNNI) or `vpmaddubsw` +
/// `vpmaddwd` + `vpaddd` (AVX2) with independent accumulators on every rayon thread, for
/// about `seconds`. `None` on a CPU with neither. What the kernel and the model reach is
/// judged against this number.
pub fn peak_int8_ops(seconds: f64) -> Option<f64> {
    peak_int8_ops_with(best_kernel()?, seconds)
}

/// [`peak_int8_ops`] for a given kernel's instructions; `None` when the CPU lacks them (see
/// [`available`] and [`avx2_available`]).
pub fn peak_int8_ops_with(kernel: Kernel, seconds: f64) -> Option<f64> {
    let usable = match kernel {
        Kernel::Vnni => available(),
        Kernel::Avx2 => avx2_available(),
    };
    if !usable {
        return None;
    }
    // Calibrate the iterations on one thread, then run them on every thread at once.
    let mut iters = 1usize << 16;
    let per_iter = loop {
        let t = std::time::Instant::now();
        std::hint::black_box(int8_loop(kernel, iters));
        let dt = t.elapsed().as_secs_f64();
        if dt > 0.05 {
            break dt / iters as f64;
        }
        iters *= 4;
    };
    let iters = ((seconds.max(0.1) / per_iter) as usize).max(1);
    let threads = rayon::current_num_threads().max(1);
    let t = std::time::Instant::now();
    (0..threads).into_par_iter().for_each(|_| {
        std::hint::black_box(int8_loop(kernel, iters));
    });
    let dt = t.elapsed().as_secs_f64();
    let macs_per_iter = match kernel {
        // 10 accumulators × 64 byte products.
        Kernel::Vnni => 10.0 * 64.0,
        // 10 accumulators × 32 byte products.
        Kernel::Avx2 => 10.0 * 32.0,
    };
    Some(2.0 * macs_per_iter * iters as f64 * threads as f64 / dt)
}

/// `iters` rounds of 10 independent int8 multiply-accumulates in registers.
fn int8_loop(kernel: Kernel, iters: usize) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the caller checked that the CPU has `kernel`'s instructions.
        unsafe {
            match kernel {
                Kernel::Vnni => vnni_loop(iters),
                Kernel::Avx2 => avx2_loop(iters),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kernel, iters);
        0
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_loop(iters: usize) -> i32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_epi8(std::hint::black_box(3));
    let b = _mm512_set1_epi8(std::hint::black_box(-2));
    let mut acc = [_mm512_setzero_si512(); 10];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_dpbusd_epi32(*x, a, b);
        }
    }
    acc.iter()
        .fold(0i32, |s, x| s.wrapping_add(_mm512_reduce_add_epi32(*x)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_loop(iters: usize) -> i32 {
    use std::arch::x86_64::*;
    let b = _mm256_set1_epi8(std::hint::black_box(-2));
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_set1_epi8(std::hint::black_box(3)); 10];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            // The accumulator is also the unsigned operand, so nothing is loop-invariant.
            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(*x, b), ones);
            *x = _mm256_add_epi32(*x, p);
        }
    }
    let mut lanes = [0i32; 8];
    let mut total = 0i32;
    for x in acc {
        // SAFETY: `lanes` holds exactly the 32 bytes stored.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, x) };
        total = lanes.iter().fold(total, |s, v| s.wrapping_add(*v));
    }
    total
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
        let kernels: Vec<Kernel> = [Kernel::Vnni, Kernel::Avx2]
            .into_iter()
            .filter(|&kernel| PackedQ8::with_kernel(&[0.0; 16 * 32], 16, 32, kernel).is_some())
            .collect();
        if kernels.is_empty() {
            eprintln!("neither AVX-512 VNNI nor AVX2 on this CPU: candle's kernels are used");
            assert!(PackedQ8::new(&[0.0; 16 * 32], 16, 32).is_none());
            return;
        }
        let mut rng = StdRng::seed_from_u64(3);
        let shapes: [(usize, usize, usize); 5] = [
            (1, 16, 32),
            (3, 48, 96),
            (5, 32, 576),
            (9, 192, 64),
            (6, 70, 64),
        ];
        for (kernel, (m, n, k)) in kernels
            .iter()
            .flat_map(|&kernel| shapes.iter().map(move |&s| (kernel, s)))
        {
            // Each layout needs whole groups of rows.
            if !n.is_multiple_of(kernel.lanes()) {
                continue;
            }
            let w = random(n * k, &mut rng);
            let x = random(m * k, &mut rng);
            let packed = PackedQ8::with_kernel(&w, n, k, kernel).unwrap();
            assert_eq!(packed.kernel(), kernel);
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
        assert!(PackedQ8::with_kernel(&[0.0; 8 * 32], 8, 32, Kernel::Vnni).is_none());
        assert!(PackedQ8::with_kernel(&[0.0; 4 * 32], 4, 32, Kernel::Avx2).is_none());
        for kernel in [Kernel::Vnni, Kernel::Avx2] {
            assert!(PackedQ8::with_kernel(&[0.0; 16 * 20], 16, 20, kernel).is_none());
            assert!(PackedQ8::with_kernel(&[], 0, 32, kernel).is_none());
        }
    }

    #[test]
    fn zero_rows_and_zero_blocks_are_handled() {
        for kernel in [Kernel::Vnni, Kernel::Avx2] {
            let w = vec![0.0f32; 16 * 32];
            let Some(p) = PackedQ8::with_kernel(&w, 16, 32, kernel) else {
                continue;
            };
            assert_eq!(p.matmul(&[1.0; 32], 1), vec![0.0; 16]);
            assert!(p.matmul(&[], 0).is_empty());
        }
    }

    /// Extreme values: every product at ±127·127 must not saturate the pair sums.
    #[test]
    fn the_avx2_kernel_does_not_saturate() {
        let (n, k) = (8, 64);
        let w: Vec<f32> = (0..n * k)
            .map(|i| if (i % k) % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let x: Vec<f32> = (0..k)
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let Some(p) = PackedQ8::with_kernel(&w, n, k, Kernel::Avx2) else {
            eprintln!("no AVX2 on this CPU: the AVX2 kernel is not used here");
            return;
        };
        for v in p.matmul(&x, 1) {
            assert!((v - k as f32).abs() < 1e-3, "{v}");
        }
    }
}
