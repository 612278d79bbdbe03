//! Tiny random models and data shared by the latent crate's tests.
#![allow(dead_code)] // each test file uses its own subset

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

/// A tiny llama shape (grouped-query attention: 4 query heads over 2 key/value heads) of
/// head size `head_dim`, with a 48-token vocabulary and a 64-position context.
pub fn tiny_llama(head_dim: usize) -> vec2prompt_llm::llama::LlamaConfig {
    vec2prompt_llm::llama::LlamaConfig {
        n_layer: 2,
        n_head: 4,
        n_kv_head: 2,
        head_dim,
        hidden: 4 * head_dim,
        rms_eps: 1e-5,
        rope_base: 10_000.0,
        context_length: 64,
        vocab_size: 48,
    }
}
