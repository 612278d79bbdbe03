//! The generator's network: a frozen llama-family decoder (f32, the GGUF's tensors
//! dequantized once) with LoRA adapters on the query and value projections, conditioned on
//! a target embedding through [`SoftPrompt`] tokens placed inside the chat template.
//!
//! One forward serves supervised training, policy-gradient steps and decoding:
//! [`GeneratorModel::token_logprobs`] scores given assistant-turn token sequences (the
//! graph is kept, so the caller differentiates a cross-entropy or a REINFORCE objective),
//! and [`GeneratorModel::start`] / [`GeneratorModel::step`] run the same network with a
//! key/value cache for decoding. The training path uses this crate's fused ops, which
//! have a backward pass (RMS norm by the frozen scale, softmax, log-softmax, RoPE,
//! SwiGLU: [`crate::fused`]); the cached path uses candle's fused forward-only ones,
//! which compute the same function.

use crate::frozen::FrozenLinear;
use crate::lora::Lora;
use crate::soft_prompt::SoftPrompt;
use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use vec2prompt_llm::gguf::GgufFile;
use vec2prompt_llm::llama::{BlockWeights, LlamaConfig, LlamaWeights};

/// Shape of the trainable part (saved next to the adapter weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// Width of the condition (the embedder's dimension).
    pub condition: usize,
    /// Soft-prompt tokens `K`.
    pub soft_tokens: usize,
    /// Hidden width of the projector MLP.
    pub projector_hidden: usize,
    /// LoRA rank `r`.
    pub lora_rank: usize,
    /// LoRA scaling `α` (the update is multiplied by `α / r`).
    pub lora_alpha: f64,
    /// The system turn of the chat.
    pub system: String,
    /// The user turn; `{soft}` marks where the soft tokens go.
    pub user: String,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            condition: 384,
            soft_tokens: 20,
            projector_hidden: 1024,
            lora_rank: 16,
            lora_alpha: 32.0,
            system: "You are a helpful AI assistant.".into(),
            user: "Here is an answer: {soft}\nWrite the instruction that asks for this answer."
                .into(),
        }
    }
}

/// The marker of the soft tokens in [`GeneratorConfig::user`].
pub const SOFT_MARKER: &str = "{soft}";

/// Where the soft tokens sit among fixed token ids: `prefix ‖ soft ‖ suffix ‖ assistant
/// text ‖ end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Ids before the soft tokens (system turn, user-turn opener, instruction start).
    pub prefix: Vec<u32>,
    /// Ids after them, up to and including the assistant-turn opener.
    pub suffix: Vec<u32>,
    /// The end-of-turn id that closes the assistant's text.
    pub end: u32,
}

/// One frozen block's tensors, with Q/K/V and gate/up stacked for one matmul each.
#[derive(Debug, Clone)]
struct BaseBlock {
    attn_norm: Tensor,
    qkv: Tensor,
    wo: Tensor,
    ffn_norm: Tensor,
    gate_up: Tensor,
    down: Tensor,
}

/// The frozen base model's weights in f32.
#[derive(Debug, Clone)]
pub struct BaseWeights {
    /// Hyper-parameters (`vocab_size` set).
    pub config: LlamaConfig,
    /// Feed-forward width.
    pub ffn: usize,
    /// Token embedding `(vocab, d)`.
    embed: Tensor,
    /// Output head `(vocab, d)` (the embedding when tied).
    output: Tensor,
    blocks: Vec<BaseBlock>,
    norm: Tensor,
}

fn model_err(path: &Path, e: candle_core::Error) -> vec2prompt_core::Error {
    vec2prompt_core::Error::model(path, e.to_string(), "the GGUF file may be damaged")
}

impl BaseWeights {
    /// Reads and dequantizes every tensor of a llama-family GGUF to f32.
    pub fn from_gguf(file: &mut GgufFile) -> vec2prompt_core::Result<Self> {
        let mut config = LlamaConfig::read(file)?;
        let dev = Device::Cpu;
        let path = file.path.clone();
        let mut get = |name: &str| -> vec2prompt_core::Result<Tensor> {
            file.tensor(name, &dev)?
                .dequantize(&dev)
                .map_err(|e| model_err(&path, e))
        };
        let embed = get("token_embd.weight")?;
        config.vocab_size = embed.dim(0).map_err(|e| model_err(&path, e))?;
        let output = if file.has_tensor("output.weight") {
            file.tensor("output.weight", &dev)?
                .dequantize(&dev)
                .map_err(|e| model_err(&path, e))?
        } else {
            embed.clone()
        };
        let mut get = |name: &str| -> vec2prompt_core::Result<Tensor> {
            file.tensor(name, &dev)?
                .dequantize(&dev)
                .map_err(|e| model_err(&path, e))
        };
        let norm = get("output_norm.weight")?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let mut t = |n: &str| get(&format!("blk.{i}.{n}.weight"));
            let (q, k, v) = (t("attn_q")?, t("attn_k")?, t("attn_v")?);
            let (gate, up) = (t("ffn_gate")?, t("ffn_up")?);
            let block = BaseBlock {
                attn_norm: t("attn_norm")?,
                wo: t("attn_output")?,
                ffn_norm: t("ffn_norm")?,
                down: t("ffn_down")?,
                qkv: Tensor::cat(&[q, k, v], 0).map_err(|e| model_err(&path, e))?,
                gate_up: Tensor::cat(&[gate, up], 0).map_err(|e| model_err(&path, e))?,
            };
            blocks.push(block);
        }
        let ffn = blocks.first().map(|b| b.down.dims()[1]).unwrap_or_default();
        Ok(Self {
            config,
            ffn,
            embed,
            output,
            blocks,
            norm,
        })
    }

    /// A random base of the given shape (tied embeddings), seeded: the tiny models of the
    /// tests and of quick experiments, with the real model's structure.
    pub fn random(config: &LlamaConfig, ffn: usize, seed: u64) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let dev = Device::Cpu;
        let mut mat = |rows: usize, cols: usize, scale: f64| -> Result<Tensor> {
            let v: Vec<f32> = (0..rows * cols)
                .map(|_| (rng.random_range(-1.0..1.0) * scale) as f32)
                .collect();
            Tensor::from_vec(v, (rows, cols), &dev)
        };
        let d = config.hidden;
        let kv = config.n_kv_head * config.head_dim;
        let q = config.n_head * config.head_dim;
        let s = 1.0 / (d as f64).sqrt();
        let embed = mat(config.vocab_size, d, 0.5)?;
        let ones = Tensor::ones(d, DType::F32, &dev)?;
        let blocks = (0..config.n_layer)
            .map(|_| {
                Ok(BaseBlock {
                    attn_norm: ones.clone(),
                    qkv: mat(q + 2 * kv, d, s)?,
                    wo: mat(d, q, 1.0 / (q as f64).sqrt())?,
                    ffn_norm: ones.clone(),
                    gate_up: mat(2 * ffn, d, s)?,
                    down: mat(d, ffn, 1.0 / (ffn as f64).sqrt())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            ffn,
            output: embed.clone(),
            embed,
            blocks,
            norm: ones,
        })
    }

    /// Root mean square of the token embeddings (the scale soft tokens are given).
    pub fn embedding_rms(&self) -> Result<f64> {
        Ok(self.embed.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()? as f64)
    }

    /// Every frozen tensor, for checks that training leaves them unchanged.
    pub fn tensors(&self) -> Vec<&Tensor> {
        let mut out = vec![&self.embed, &self.output, &self.norm];
        for b in &self.blocks {
            out.extend([
                &b.attn_norm,
                &b.qkv,
                &b.wo,
                &b.ffn_norm,
                &b.gate_up,
                &b.down,
            ]);
        }
        out
    }
}

/// One block: frozen projections plus the query and value adapters.
struct Block {
    attn_norm: Tensor,
    qkv: FrozenLinear,
    lora_q: Lora,
    lora_v: Lora,
    wo: FrozenLinear,
    ffn_norm: Tensor,
    gate_up: FrozenLinear,
    down: FrozenLinear,
}

/// Per-layer keys and values of a decoding batch.
pub struct GenCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl GenCache {
    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps (or repeats) the batch rows `rows`, in that order (beam reordering).
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            let idx = Tensor::new(rows, k.device())?;
            *k = k.index_select(&idx, 0)?;
            *v = v.index_select(&idx, 0)?;
        }
        Ok(())
    }
}

/// The generator's network (frozen base + trainable projector and adapters).
pub struct GeneratorModel {
    /// Trainable shape.
    pub config: GeneratorConfig,
    /// Base hyper-parameters.
    pub base: LlamaConfig,
    embed: Tensor,
    head: FrozenLinear,
    blocks: Vec<Block>,
    norm: Tensor,
    cos: Tensor,
    sin: Tensor,
    soft: SoftPrompt,
}

/// Additive causal mask `(l, pos + l)` for `l` new positions after `pos` cached ones.
fn causal(pos: usize, l: usize, dev: &Device) -> Result<Tensor> {
    let t = pos + l;
    let m: Vec<f32> = (0..l)
        .flat_map(|i| (0..t).map(move |j| if j <= pos + i { 0.0 } else { -1e9 }))
        .collect();
    Tensor::from_vec(m, (l, t), dev)
}

impl GeneratorModel {
    /// Builds the network on `base` with fresh trainable variables in `vb` (names
    /// `projector.*`, `layers.<i>.{q,v}.{a,b}`).
    pub fn new(base: &BaseWeights, config: &GeneratorConfig, vb: VarBuilder) -> Result<Self> {
        let c = &base.config;
        let d = c.hidden;
        let kv = c.n_kv_head * c.head_dim;
        let q = c.n_head * c.head_dim;
        let blocks = base
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(Block {
                    attn_norm: b.attn_norm.clone(),
                    qkv: FrozenLinear::new(b.qkv.clone())?,
                    lora_q: Lora::new(d, q, config.lora_rank, config.lora_alpha, vb.pp("q"))?,
                    lora_v: Lora::new(d, kv, config.lora_rank, config.lora_alpha, vb.pp("v"))?,
                    wo: FrozenLinear::new(b.wo.clone())?,
                    ffn_norm: b.ffn_norm.clone(),
                    gate_up: FrozenLinear::new(b.gate_up.clone())?,
                    down: FrozenLinear::new(b.down.clone())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let soft = SoftPrompt::new(
            config.condition,
            config.projector_hidden,
            config.soft_tokens,
            d,
            base.embedding_rms()?,
            vb.pp("projector"),
        )?;
        let (cos, sin) = rope_tables(c)?;
        Ok(Self {
            config: config.clone(),
            base: c.clone(),
            embed: base.embed.clone(),
            head: FrozenLinear::new(base.output.clone())?,
            blocks,
            norm: base.norm.clone(),
            cos,
            sin,
            soft,
        })
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.base.vocab_size
    }

    fn embed_ids(&self, ids: &[u32], rows: usize) -> Result<Tensor> {
        let idx = Tensor::new(ids, &Device::Cpu)?;
        let e = self.embed.index_select(&idx, 0)?.unsqueeze(0)?;
        e.broadcast_as((rows, ids.len(), self.base.hidden))?
            .contiguous()
    }

    /// The soft tokens and the fixed suffix `(B, K + S, d)` for conditions `(B, c)`.
    fn soft_and_suffix(&self, layout: &Layout, conditions: &Tensor, grad: bool) -> Result<Tensor> {
        let b = conditions.dim(0)?;
        let mut soft = self.soft.forward(conditions)?;
        if !grad {
            soft = soft.detach();
        }
        if layout.suffix.is_empty() {
            return Ok(soft);
        }
        Tensor::cat(&[soft, self.embed_ids(&layout.suffix, b)?], 1)
    }

    /// Runs the fixed prefix once (one row: it is the same for every sequence, so its
    /// keys and values are computed once and shared by the batch) into a fresh cache.
    fn prefix_cache(&self, layout: &Layout, grad: bool) -> Result<GenCache> {
        let mut cache = self.new_cache();
        if !layout.prefix.is_empty() {
            let x = self.embed_ids(&layout.prefix, 1)?;
            self.run(&x, &mut cache, grad)?;
        }
        Ok(cache)
    }

    /// Every block over `x (B, L, d)` after the cached positions; returns the last
    /// block's output (before the final norm).
    fn run(&self, x: &Tensor, cache: &mut GenCache, grad: bool) -> Result<Tensor> {
        let (_, l, _) = x.dims3()?;
        let pos = cache.len;
        if pos + l > self.base.context_length {
            candle_core::bail!(
                "sequence of {} positions exceeds the context of {}",
                pos + l,
                self.base.context_length
            );
        }
        let mask = (l > 1).then(|| causal(pos, l, &Device::Cpu)).transpose()?;
        let mut x = x.clone();
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            x = self.block(block, &x, pos, slot, mask.as_ref(), grad)?;
        }
        cache.len += l;
        Ok(x)
    }

    fn rms(&self, x: &Tensor, w: &Tensor, grad: bool) -> Result<Tensor> {
        let eps = self.base.rms_eps as f32;
        if grad {
            crate::fused::rms_norm_frozen(x, w, eps)
        } else {
            candle_nn::ops::rms_norm(x, w, eps)
        }
    }

    /// One block over `x (B, L, d)` at positions `pos..pos+L` after the keys and values
    /// in `slot` (a one-row past is shared by every row), which it extends.
    fn block(
        &self,
        block: &Block,
        x: &Tensor,
        pos: usize,
        slot: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
        grad: bool,
    ) -> Result<Tensor> {
        let c = &self.base;
        let (b, l, _) = x.dims3()?;
        let hd = c.head_dim;
        let (qn, kn) = (c.n_head * hd, c.n_kv_head * hd);
        let h = self.rms(x, &block.attn_norm, grad)?;
        let qkv = block.qkv.forward(&h)?;
        let q = (qkv.narrow(2, 0, qn)? + block.lora_q.delta(&h, grad)?)?;
        let k = qkv.narrow(2, qn, kn)?;
        let v = (qkv.narrow(2, qn + kn, kn)? + block.lora_v.delta(&h, grad)?)?;
        let heads = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((b, l, n, hd))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (
            heads(q, c.n_head)?,
            heads(k, c.n_kv_head)?,
            heads(v, c.n_kv_head)?,
        );
        let cos = self.cos.narrow(0, pos, l)?;
        let sin = self.sin.narrow(0, pos, l)?;
        let (q, k) = if grad {
            (
                crate::fused::rope_interleaved(&q, &cos, &sin)?,
                crate::fused::rope_interleaved(&k, &cos, &sin)?,
            )
        } else {
            (
                candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?,
                candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?,
            )
        };
        let (keys, values) = match slot.take() {
            Some((pk, pv)) => {
                let widen = |t: Tensor| -> Result<Tensor> {
                    if t.dim(0)? == b {
                        return Ok(t);
                    }
                    let mut dims = t.dims().to_vec();
                    dims[0] = b;
                    t.broadcast_as(dims)?.contiguous()
                };
                let (pk, pv) = (widen(pk)?, widen(pv)?);
                (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?)
            }
            None => (k, v),
        };
        *slot = Some((keys.clone(), values.clone()));
        let t = keys.dim(2)?;
        let rep = c.n_head / c.n_kv_head;
        // Grouped-query attention: the `rep` query heads of a KV head are stacked along
        // the row axis, so keys and values are never copied per head.
        let q = (q.reshape((b, c.n_kv_head, rep * l, hd))? * (1.0 / (hd as f64).sqrt()))?;
        let mut scores = q.matmul(&keys.t()?)?;
        if let Some(m) = mask {
            scores = scores
                .reshape((b, c.n_kv_head, rep, l, t))?
                .broadcast_add(m)?
                .reshape((b, c.n_kv_head, rep * l, t))?;
        }
        let probs = if grad {
            crate::fused::softmax_last_dim(&scores)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        let y = probs
            .matmul(&values)?
            .reshape((b, c.n_head, l, hd))?
            .transpose(1, 2)?
            .reshape((b, l, qn))?;
        let x = (x + block.wo.forward(&y)?)?;
        let h = self.rms(&x, &block.ffn_norm, grad)?;
        let gu = block.gate_up.forward(&h)?;
        let g = if grad {
            crate::fused::swiglu(&gu)?
        } else {
            let inner = gu.dim(2)? / 2;
            (gu.narrow(2, 0, inner)?.silu()? * gu.narrow(2, inner, inner)?)?
        };
        x + block.down.forward(&g)?
    }

    /// Log-probabilities of every token of `sequences` (the assistant's text, each with
    /// its end-of-turn id if it has one) given `conditions` (`B × c`), in one
    /// differentiable forward. Returns `(N,)` log-probs and the sequence of each.
    pub fn token_logprobs(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        sequences: &[Vec<u32>],
    ) -> Result<(Tensor, Vec<usize>)> {
        let (logp, targets, rows) = self.token_distributions(layout, conditions, sequences)?;
        let n = targets.len();
        let idx = Tensor::from_vec(targets, (n, 1), &Device::Cpu)?;
        Ok((logp.gather(&idx, 1)?.squeeze(1)?, rows))
    }

    /// The full next-token log-distributions `(N, vocab)` at every token of `sequences`
    /// (differentiable), with the token written at each position and its sequence: what
    /// [`GeneratorModel::token_logprobs`] gathers from, and what a KL penalty against a
    /// reference model compares.
    pub fn token_distributions(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        sequences: &[Vec<u32>],
    ) -> Result<(Tensor, Vec<u32>, Vec<usize>)> {
        let b = sequences.len();
        if b == 0 || sequences.iter().any(|s| s.is_empty()) {
            candle_core::bail!("token_logprobs needs non-empty sequences");
        }
        if conditions.dim(0)? != b {
            candle_core::bail!("{} conditions for {b} sequences", conditions.dim(0)?);
        }
        let mut cache = self.prefix_cache(layout, true)?;
        let mut x = self.soft_and_suffix(layout, conditions, true)?;
        // Context positions after the prefix; the first prompt token is predicted from
        // the last of them.
        let c_len = x.dim(1)?;
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(1);
        // The last token is only predicted, never read; pads sit after every real token of
        // their row, so the causal mask keeps them out of what the loss sees.
        let read = longest - 1;
        let total = c_len + read;
        if read > 0 {
            let ids: Vec<u32> = sequences
                .iter()
                .flat_map(|s| (0..read).map(move |j| if j + 1 < s.len() { s[j] } else { 0 }))
                .collect();
            let idx = Tensor::from_vec(ids, b * read, &Device::Cpu)?;
            let e = self
                .embed
                .index_select(&idx, 0)?
                .reshape((b, read, self.base.hidden))?;
            x = Tensor::cat(&[&x, &e], 1)?;
        }
        let x = self.run(&x, &mut cache, true)?;
        let mut positions = Vec::new();
        let mut targets = Vec::new();
        let mut rows = Vec::new();
        for (r, s) in sequences.iter().enumerate() {
            for (j, &t) in s.iter().enumerate() {
                positions.push((r * total + c_len - 1 + j) as u32);
                targets.push(t);
                rows.push(r);
            }
        }
        let n = positions.len();
        let h = x
            .reshape((b * total, self.base.hidden))?
            .index_select(&Tensor::from_vec(positions, n, &Device::Cpu)?, 0)?;
        let h = self.rms(&h, &self.norm, true)?;
        let logits = self.head.forward(&h)?;
        Ok((crate::fused::log_softmax_last_dim(&logits)?, targets, rows))
    }

    /// The next-token log-distributions `(len(sequence), vocab)` at every token of
    /// `sequence` after the plain token ids `context` (no soft tokens), with no autograd
    /// graph. On a model whose adapters are untrained (LoRA `B` = 0) this is the frozen
    /// base model: the reference a KL penalty keeps a trained model close to.
    pub fn plain_distributions(&self, context: &[u32], sequence: &[u32]) -> Result<Tensor> {
        if context.is_empty() || sequence.is_empty() {
            candle_core::bail!("plain_distributions needs a context and a sequence");
        }
        let mut ids = context.to_vec();
        ids.extend_from_slice(&sequence[..sequence.len() - 1]);
        let x = self.embed_ids(&ids, 1)?;
        let mut cache = self.new_cache();
        let x = self.run(&x, &mut cache, false)?;
        let h = x
            .squeeze(0)?
            .narrow(0, context.len() - 1, sequence.len())?
            .contiguous()?;
        let h = self.rms(&h, &self.norm, false)?;
        let logits = self.head.forward(&h)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?.detach())
    }

    /// Mean negative log-likelihood per token of `sequences` (the supervised loss).
    pub fn loss(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        sequences: &[Vec<u32>],
    ) -> Result<Tensor> {
        let (logp, _) = self.token_logprobs(layout, conditions, sequences)?;
        logp.mean_all()?.neg()
    }

    /// Sum of token log-probs per sequence, `(B,)`, differentiable (the policy-gradient
    /// objective's `log π(sequence | condition)`).
    pub fn sequence_logprobs(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        sequences: &[Vec<u32>],
    ) -> Result<Tensor> {
        let (logp, rows) = self.token_logprobs(layout, conditions, sequences)?;
        let b = sequences.len();
        let mut member = vec![0f32; b * rows.len()];
        for (j, &r) in rows.iter().enumerate() {
            member[r * rows.len() + j] = 1.0;
        }
        let member = Tensor::from_vec(member, (b, rows.len()), &Device::Cpu)?;
        member.matmul(&logp.unsqueeze(1)?)?.squeeze(1)
    }

    /// Runs the context of `conditions` (`B × c`) into a fresh cache and returns the
    /// next-token logits `(B, vocab)` (no autograd graph).
    pub fn start(&self, layout: &Layout, conditions: &Tensor) -> Result<(Tensor, GenCache)> {
        let mut cache = self.prefix_cache(layout, false)?;
        let x = self.soft_and_suffix(layout, conditions, false)?;
        let logits = self.cached(&x, &mut cache)?;
        Ok((logits, cache))
    }

    /// An empty cache (to run plain token ids through [`GeneratorModel::step`]).
    pub fn new_cache(&self) -> GenCache {
        GenCache {
            layers: (0..self.blocks.len()).map(|_| None).collect(),
            len: 0,
        }
    }

    /// Feeds one token per row after the cached positions; returns the next logits.
    pub fn step(&self, ids: &[u32], cache: &mut GenCache) -> Result<Tensor> {
        let idx = Tensor::new(ids, &Device::Cpu)?;
        let x = self.embed.index_select(&idx, 0)?.unsqueeze(1)?;
        self.cached(&x, cache)
    }

    fn cached(&self, x: &Tensor, cache: &mut GenCache) -> Result<Tensor> {
        let l = x.dim(1)?;
        let x = self.run(x, cache, false)?;
        let last = x.narrow(1, l - 1, 1)?.squeeze(1)?.contiguous()?;
        let h = self.rms(&last, &self.norm, false)?;
        Ok(self.head.forward(&h)?.detach())
    }
}

impl GeneratorModel {
    /// The frozen base with each block's query and value adapters added into its
    /// projection weights, as one plain llama-family model, and the soft-prompt projector:
    /// what [`crate::merged::MergedGenerator`] decodes with. The adapters are copied as
    /// they are now, so merge again after training them.
    pub fn merged_weights(&self) -> Result<(LlamaWeights, SoftPrompt)> {
        let c = &self.base;
        let (qn, kn) = (c.n_head * c.head_dim, c.n_kv_head * c.head_dim);
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                let w = b.qkv.weight();
                let q = (w.narrow(0, 0, qn)? + b.lora_q.merged()?)?;
                let k = w.narrow(0, qn, kn)?;
                let v = (w.narrow(0, qn + kn, kn)? + b.lora_v.merged()?)?;
                Ok(BlockWeights {
                    attn_norm: b.attn_norm.clone(),
                    qkv: Tensor::cat(&[q, k, v], 0)?.contiguous()?,
                    wo: b.wo.weight().clone(),
                    ffn_norm: b.ffn_norm.clone(),
                    gate_up: b.gate_up.weight().clone(),
                    down: b.down.weight().clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let weights = LlamaWeights {
            config: c.clone(),
            embed: self.embed.clone(),
            output: self.head.weight().clone(),
            norm: self.norm.clone(),
            blocks,
        };
        Ok((weights, self.soft.clone()))
    }
}

fn rope_tables(c: &LlamaConfig) -> Result<(Tensor, Tensor)> {
    let half = c.head_dim / 2;
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0 / c.rope_base.powf(2.0 * i as f32 / c.head_dim as f32))
        .collect();
    let dev = Device::Cpu;
    let inv = Tensor::from_vec(inv, (1, half), &dev)?;
    let pos = Tensor::arange(0u32, c.context_length as u32, &dev)?
        .to_dtype(DType::F32)?
        .reshape((c.context_length, 1))?;
    let angles = pos.matmul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}
