//! The projector from a target embedding to `K` soft-prompt tokens in the decoder's input
//! space.
//!
//! A two-layer MLP maps the condition to `K × d` numbers; each soft token is then
//! RMS-normalized and scaled to the typical RMS of the base model's token embeddings, so
//! the frozen decoder receives inputs of the magnitude it was trained on whatever the
//! projector's initialization (the direction is learned, the size is the vocabulary's).

use crate::layers::Mlp;
use candle_core::{D, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Condition → `K` soft tokens.
#[derive(Debug, Clone)]
pub struct SoftPrompt {
    /// The MLP `condition → hidden → K·d`.
    mlp: Mlp,
    /// Soft tokens.
    tokens: usize,
    /// Width of each token.
    dim: usize,
    /// RMS the tokens are scaled to.
    rms: f64,
}

impl SoftPrompt {
    /// A projector from `condition` numbers to `tokens × dim`, through `hidden` units;
    /// tokens are scaled to RMS `rms`.
    pub fn new(
        condition: usize,
        hidden: usize,
        tokens: usize,
        dim: usize,
        rms: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            mlp: Mlp::new(condition, hidden, tokens * dim, vb)?,
            tokens,
            dim,
            rms,
        })
    }

    /// `(B, condition)` → `(B, K, d)`.
    pub fn forward(&self, condition: &Tensor) -> Result<Tensor> {
        let b = condition.dim(0)?;
        let x = self
            .mlp
            .forward(condition)?
            .reshape((b, self.tokens, self.dim))?;
        let norm = (x.sqr()?.mean_keepdim(D::Minus1)? + 1e-6)?.sqrt()?;
        (x.broadcast_div(&norm)? * self.rms)?.contiguous()
    }

    /// Number of soft tokens.
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}
