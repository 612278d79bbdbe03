//! Building blocks of the small models, written so every trainable tensor receives a
//! gradient: candle's fused `RmsNorm::forward`, `LayerNorm::forward` and
//! `softmax_last_dim` have no backward pass, so the learned-scale norm here is the
//! composed version (`rms_norm_slow`) and the softmax is this crate's fused one with a
//! backward pass ([`crate::fused::softmax_last_dim`]).

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder, linear, linear_no_bias};

/// RMS normalization with a learned scale, differentiable.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// The learned per-channel scale.
    weight: Tensor,
}

impl RmsNorm {
    /// A norm over `dim` channels, scale initialized to 1.
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?;
        Ok(Self { weight })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm_slow(x, &self.weight, 1e-6)
    }
}

/// Causal multi-head self-attention over the whole sequence (no cache: sequences are
/// short and decoding recomputes them).
#[derive(Debug, Clone)]
pub struct Attention {
    /// Fused query, key, value projection.
    qkv: Linear,
    /// Output projection.
    out: Linear,
    /// Number of heads.
    heads: usize,
}

impl Attention {
    /// Attention over `dim` channels with `heads` heads.
    pub fn new(dim: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            qkv: linear_no_bias(dim, 3 * dim, vb.pp("qkv"))?,
            out: linear_no_bias(dim, dim, vb.pp("out"))?,
            heads,
        })
    }

    /// `x`: (batch, time, dim); `mask`: additive (time, time) or (batch, 1, time, time).
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let hd = d / self.heads;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, t, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(mask)?;
        let probs = crate::fused::softmax_last_dim(&scores)?;
        let y = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, d))?;
        self.out.forward(&y)
    }
}

/// SwiGLU feed-forward.
#[derive(Debug, Clone)]
pub struct FeedForward {
    /// Fused gate and up projections.
    gate_up: Linear,
    /// Down projection.
    down: Linear,
    /// Hidden width.
    hidden: usize,
}

impl FeedForward {
    /// A feed-forward of `dim` → `hidden` → `dim`.
    pub fn new(dim: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            gate_up: linear_no_bias(dim, 2 * hidden, vb.pp("gate_up"))?,
            down: linear_no_bias(hidden, dim, vb.pp("down"))?,
            hidden,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gu = self.gate_up.forward(x)?;
        let gate = gu.narrow(D::Minus1, 0, self.hidden)?;
        let up = gu.narrow(D::Minus1, self.hidden, self.hidden)?;
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

/// A pre-norm transformer block.
#[derive(Debug, Clone)]
pub struct Block {
    /// Norm before attention.
    norm1: RmsNorm,
    /// Self-attention.
    attn: Attention,
    /// Norm before the feed-forward.
    norm2: RmsNorm,
    /// Feed-forward.
    ffn: FeedForward,
}

impl Block {
    /// A block of width `dim`.
    pub fn new(dim: usize, heads: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm1: RmsNorm::new(dim, vb.pp("norm1"))?,
            attn: Attention::new(dim, heads, vb.pp("attn"))?,
            norm2: RmsNorm::new(dim, vb.pp("norm2"))?,
            ffn: FeedForward::new(dim, hidden, vb.pp("ffn"))?,
        })
    }

    /// One block over `x` (batch, time, dim) with an additive attention `mask`.
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, mask)?)?;
        &x + self.ffn.forward(&self.norm2.forward(&x)?)?
    }
}

/// Additive causal mask (t, t): 0 on and below the diagonal, -1e9 above.
pub fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let lower = Tensor::tril2(t, DType::F32, device)?;
    (lower.ones_like()? - lower)? * -1e9
}

/// A two-layer MLP with a GELU between, used for projectors and the surrogate.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// First layer.
    fc1: Linear,
    /// Second layer.
    fc2: Linear,
}

impl Mlp {
    /// `input` → `hidden` → `output`.
    pub fn new(input: usize, hidden: usize, output: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(input, hidden, vb.pp("fc1"))?,
            fc2: linear(hidden, output, vb.pp("fc2"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.gelu()?)
    }
}

/// Token embedding whose matrix is reused as the output head (tied weights).
#[derive(Debug, Clone)]
pub struct TiedEmbedding {
    /// The (vocab, dim) table.
    embedding: Embedding,
}

impl TiedEmbedding {
    /// A table of `vocab` × `dim`.
    pub fn new(vocab: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        // Small init (GPT-2's 0.02): the table is also the output head.
        let init = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let weight = vb.get_with_hints((vocab, dim), "weight", init)?;
        Ok(Self {
            embedding: Embedding::new(weight, dim),
        })
    }

    /// Embeds ids (batch, time) → (batch, time, dim).
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embedding.forward(ids)
    }

    /// Logits (batch, time, vocab) from hidden states (batch, time, dim).
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        let (b, t, d) = h.dims3()?;
        let w = self.embedding.embeddings();
        h.reshape((b * t, d))?
            .matmul(&w.t()?)?
            .reshape((b, t, w.dim(0)?))
    }
}
