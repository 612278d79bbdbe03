//! The conditional decoder shared by the inverter and the corrector: a condition vector
//! enters through a learned projector as K soft-prefix tokens (a projector MLP, like
//! vec2text's pseudo-tokens), followed by the prompt's tokens; a small causal transformer
//! predicts the next token.

use crate::layers::{Block, Mlp, RmsNorm, TiedEmbedding, causal_mask};
use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Shape of a conditional decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    /// Vocabulary size of the prompt tokenizer.
    pub vocab: usize,
    /// Model width.
    pub dim: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward hidden width.
    pub hidden: usize,
    /// Soft-prefix tokens the condition is projected into.
    pub prefix: usize,
    /// Width of the condition vector (384 for e; 3 × 384 for the corrector's e*, ê, e*−ê).
    pub condition: usize,
    /// Most token positions after the prefix.
    pub max_tokens: usize,
}

/// The decoder's weights.
#[derive(Debug, Clone)]
pub struct ConditionalDecoder {
    /// Condition → K × dim soft-prefix tokens.
    projector: Mlp,
    /// Token table, tied to the output head.
    tokens: TiedEmbedding,
    /// Learned positions (prefix + tokens, dim).
    positions: Tensor,
    /// The blocks.
    blocks: Vec<Block>,
    /// Final norm.
    norm: RmsNorm,
    /// Its shape.
    config: DecoderConfig,
}

impl ConditionalDecoder {
    /// Creates (or loads, depending on `vb`) a decoder.
    pub fn new(config: &DecoderConfig, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let positions = vb.get_with_hints(
            (c.prefix + c.max_tokens, c.dim),
            "positions",
            candle_nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )?;
        let blocks = (0..c.layers)
            .map(|i| Block::new(c.dim, c.heads, c.hidden, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            projector: Mlp::new(c.condition, 4 * c.dim, c.prefix * c.dim, vb.pp("projector"))?,
            tokens: TiedEmbedding::new(c.vocab, c.dim, vb.pp("tokens"))?,
            positions,
            blocks,
            norm: RmsNorm::new(c.dim, vb.pp("norm"))?,
            config: c.clone(),
        })
    }

    /// The decoder's shape.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Logits (batch, time, vocab) for `ids` (batch, time, u32) under `condition`
    /// (batch, condition width): position t predicts token t + 1.
    pub fn forward(&self, condition: &Tensor, ids: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let (b, t) = ids.dims2()?;
        if t > c.max_tokens {
            candle_core::bail!(
                "sequence of {t} tokens exceeds the decoder's {}",
                c.max_tokens
            );
        }
        let prefix = self
            .projector
            .forward(condition)?
            .reshape((b, c.prefix, c.dim))?;
        let x = Tensor::cat(&[prefix, self.tokens.embed(ids)?], 1)?;
        let total = c.prefix + t;
        let mut x = x.broadcast_add(&self.positions.i(0..total)?)?;
        let mask = causal_mask(total, ids.device())?;
        for block in &self.blocks {
            x = block.forward(&x, &mask)?;
        }
        let h = self.norm.forward(&x.i((.., c.prefix.., ..))?)?;
        self.tokens.logits(&h)
    }

    /// Mean cross-entropy of `targets` (batch, time) under `forward(condition, inputs)`,
    /// counting only positions where `weights` (batch, time, f32) is non-zero.
    pub fn loss(
        &self,
        condition: &Tensor,
        inputs: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
    ) -> Result<Tensor> {
        let logits = self.forward(condition, inputs)?;
        let logp = crate::fused::log_softmax_last_dim(&logits)?;
        let picked = logp
            .gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?
            .squeeze(D::Minus1)?;
        let total = weights.sum_all()?.to_scalar::<f32>()?.max(1.0);
        (picked * weights)?.sum_all()?.neg()? / total as f64
    }

    /// Log-probabilities of the next token after each sequence in `ids` (all of the same
    /// length), (batch, vocab).
    pub fn next_logprobs(&self, condition: &Tensor, ids: &Tensor) -> Result<Tensor> {
        let logits = self.forward(condition, ids)?;
        let t = ids.dim(1)?;
        let last = logits.i((.., t - 1, ..))?.contiguous()?;
        candle_nn::ops::log_softmax(&last, D::Minus1)
    }
}

/// Starts a decoder from another decoder's weights (the corrector from the inverter):
/// every variable of `varmap` with a same-named, same-shaped tensor in `source` takes its
/// value. The projector's first layer may be wider than the source's (the corrector sees
/// e*, ê and e* − ê where the inverter saw e): its first columns take the source's weights
/// and the rest are zero, so the started decoder behaves exactly as the source given e*,
/// and learns to use the rest. Returns how many variables were copied; a variable that
/// matches in neither way is an error (the shapes differ).
pub fn warm_start(varmap: &VarMap, source: &HashMap<String, Tensor>) -> Result<usize> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))?
        .clone();
    let mut copied = 0;
    for (name, var) in vars {
        let Some(src) = source.get(&name) else {
            candle_core::bail!("the source decoder has no {name}");
        };
        let src = src.to_dtype(DType::F32)?;
        let (want, have) = (var.as_tensor().dims().to_vec(), src.dims().to_vec());
        if want == have {
            var.set(&src)?;
        } else if want.len() == 2 && have.len() == 2 && want[0] == have[0] && want[1] > have[1] {
            let zeros = Tensor::zeros((want[0], want[1] - have[1]), DType::F32, src.device())?;
            var.set(&Tensor::cat(&[&src, &zeros], 1)?)?;
        } else {
            candle_core::bail!("{name}: shape {want:?} cannot start from {have:?}");
        }
        copied += 1;
    }
    Ok(copied)
}

/// Stacks rows of ids of equal length into a (batch, time) tensor.
pub fn ids_tensor(rows: &[Vec<u32>], device: &Device) -> Result<Tensor> {
    let t = rows.first().map_or(0, |r| r.len());
    let flat: Vec<u32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), t), device)
}

/// Stacks condition vectors into a (batch, width) f32 tensor.
pub fn condition_tensor(rows: &[Vec<f32>], device: &Device) -> Result<Tensor> {
    let w = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), w), device)?.to_dtype(DType::F32)
}
