//! Tiny random models and data shared by the latent crate's tests.

use vec2prompt_latent::DecoderConfig;

/// A tiny decoder shape with the given condition width.
pub fn tiny_decoder(condition: usize) -> DecoderConfig {
    DecoderConfig {
        vocab: 40,
        dim: 16,
        layers: 2,
        heads: 2,
        hidden: 24,
        prefix: 3,
        condition,
        max_tokens: 12,
    }
}

/// `n × d` deterministic pseudo-random values in [-0.5, 0.5).
pub fn random_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n * d)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}
