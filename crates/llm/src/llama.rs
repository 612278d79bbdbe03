//! The llama-family transformer (GGUF tensor names), batched with left padding.
//!
//! A batch of `B` sequences is left-padded to a common length; pad positions are masked
//! out as keys. Positions are shared across the batch: RoPE scores depend only on the
//! distance between query and key, so shifting a sequence right by its padding changes
//! nothing (up to float rounding). One forward pass computes the whole batch.

use crate::gguf::GgufFile;
use crate::q8::PackedQ8;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result as CResult, Tensor};
use vec2prompt_core::{Error, Result};

/// How the projection weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// As stored in the file (SmolLM2: Q4_1, whose candle kernel on x86 is scalar).
    Native,
    /// Requantized to int8 per 32 values (Q8_0) at load: the packed AVX-512 VNNI kernel
    /// or its AVX2 counterpart where the CPU has one, candle's Q8_0 kernel elsewhere.
    /// Near-lossless from Q4_1.
    Q8_0,
    /// Dequantized to f32 (gemm): the exact computation on the file's weights, no
    /// activation quantization; slower than Q8_0 at every batch size here.
    F32,
}

/// Written in config files as on the command line (`q8_0`, `native`, `f32`).
impl<'de> serde::Deserialize<'de> for WeightFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for WeightFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "native" => Ok(Self::Native),
            "q8_0" | "q8" => Ok(Self::Q8_0),
            "f32" => Ok(Self::F32),
            _ => Err(Error::invalid(
                "weight format",
                format!("{s:?}: use native, q8_0 or f32"),
            )),
        }
    }
}

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when < `n_head`).
    pub n_kv_head: usize,
    /// Size of each head.
    pub head_dim: usize,
    /// Model width.
    pub hidden: usize,
    /// RMS-norm epsilon.
    pub rms_eps: f64,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// Longest supported sequence.
    pub context_length: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
}

impl LlamaConfig {
    /// Reads the hyper-parameters from `file`'s metadata (`vocab_size` is 0 here: it
    /// comes from the embedding matrix), checking that the architecture is llama and the
    /// head counts are consistent.
    pub fn read(file: &GgufFile) -> Result<Self> {
        let arch = file.get_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(Error::model(
                &file.path,
                format!("architecture {arch:?} is not supported (only \"llama\")"),
                "use a llama-family GGUF such as SmolLM2",
            ));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let n_head = file.get_usize(&key("attention.head_count"))?;
        let hidden = file.get_usize(&key("embedding_length"))?;
        let head_dim = hidden / n_head.max(1);
        let config = LlamaConfig {
            n_layer: file.get_usize(&key("block_count"))?,
            n_head,
            n_kv_head: file
                .get_usize(&key("attention.head_count_kv"))
                .unwrap_or(n_head),
            head_dim,
            hidden,
            rms_eps: file.get_f32(&key("attention.layer_norm_rms_epsilon"))? as f64,
            rope_base: file.get_f32(&key("rope.freq_base")).unwrap_or(10_000.0),
            context_length: file.get_usize(&key("context_length")).unwrap_or(2048),
            vocab_size: 0,
        };
        if n_head == 0
            || config.n_kv_head == 0
            || n_head % config.n_kv_head != 0
            || hidden % n_head != 0
        {
            return Err(Error::model(
                &file.path,
                "inconsistent head counts in metadata",
                "use another GGUF",
            ));
        }
        Ok(config)
    }
}

/// A projection `x · Wᵀ` with its weights in one of three kernels' layouts.
enum Linear {
    /// Int8 per 32 values for the AVX-512 VNNI or the AVX2 kernel ([`PackedQ8`]).
    Packed(PackedQ8),
    /// A candle quantized matrix (the file's own type, or Q8_0 without VNNI).
    Quantized(QMatMul),
    /// Dequantized f32, multiplied with gemm.
    Dense(Tensor),
}

impl Linear {
    /// Builds one projection from `parts` stacked along the output axis (several parts
    /// fuse e.g. Q, K and V into one matmul).
    fn new(mut parts: Vec<QTensor>, format: WeightFormat, dev: &Device) -> CResult<Self> {
        let dtype = parts[0].dtype();
        let float = matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
        let w = if parts.len() == 1 {
            parts[0].dequantize(dev)?
        } else {
            let ws = parts
                .iter()
                .map(|p| p.dequantize(dev))
                .collect::<CResult<Vec<_>>>()?;
            Tensor::cat(&ws, 0)?
        };
        if float || format == WeightFormat::F32 {
            return Ok(Self::Dense(w));
        }
        if format == WeightFormat::Native {
            // Requantizing the stacked dequantized blocks to their own type is exact:
            // every block keeps its min/max, hence its scale.
            let q = match parts.len() {
                1 => parts.remove(0),
                _ => QTensor::quantize(&w, dtype)?,
            };
            return Ok(Self::Quantized(QMatMul::from_qtensor(q)?));
        }
        let (n, k) = w.dims2()?;
        if let Some(p) = PackedQ8::new(&w.flatten_all()?.to_vec1::<f32>()?, n, k) {
            return Ok(Self::Packed(p));
        }
        let q = if parts.len() == 1 && dtype == GgmlDType::Q8_0 {
            parts.remove(0)
        } else {
            QTensor::quantize(&w, GgmlDType::Q8_0)?
        };
        Ok(Self::Quantized(QMatMul::from_qtensor(q)?))
    }

    /// Number of weights (output × input).
    fn weights(&self) -> usize {
        match self {
            Self::Packed(p) => p.n() * p.k(),
            Self::Quantized(QMatMul::QTensor(q)) => q.shape().elem_count(),
            Self::Quantized(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) | Self::Dense(t) => {
                t.elem_count()
            }
        }
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let (b, l, k) = x.dims3()?;
        match self {
            Self::Packed(p) => {
                let xs = x.flatten_all()?.to_vec1::<f32>()?;
                Tensor::from_vec(p.matmul(&xs, b * l), (b, l, p.n()), x.device())
            }
            Self::Quantized(q) => q.forward(x),
            Self::Dense(w) => x.reshape((b * l, k))?.matmul(&w.t()?)?.reshape((b, l, ())),
        }
    }
}

struct Block {
    attn_norm: Tensor,
    /// Q, K and V projections fused into one matmul.
    qkv: Linear,
    wo: Linear,
    ffn_norm: Tensor,
    /// Gate and up projections fused into one matmul.
    gate_up: Linear,
    down: Linear,
}

/// Per-layer key/value cache of a batch: `(B, n_kv_head, capacity, head_dim)` buffers
/// filled up to `len`, so each step writes in place instead of re-concatenating.
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// Number of positions (padding included) held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the batch rows in `keep` (in that order), e.g. after sequences finish.
    pub fn retain_rows(&mut self, keep: &[u32]) -> CResult<()> {
        let Some((k0, _)) = self.layers.first() else {
            return Ok(());
        };
        let idx = Tensor::new(keep, k0.device())?;
        for (k, v) in self.layers.iter_mut() {
            *k = k.index_select(&idx, 0)?;
            *v = v.index_select(&idx, 0)?;
        }
        Ok(())
    }
}

/// A loaded llama-family model.
pub struct Llama {
    /// Hyper-parameters.
    pub config: LlamaConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

fn md_err(file: &GgufFile, e: candle_core::Error) -> Error {
    Error::model(
        &file.path,
        format!("cannot build the model: {e}"),
        "the GGUF file may be damaged",
    )
}

impl Llama {
    /// Loads the model tensors of `file` in `format`.
    pub fn load(file: &mut GgufFile, format: WeightFormat) -> Result<Self> {
        let config = LlamaConfig::read(file)?;
        let dev = Device::Cpu;
        let emb_q = file.tensor("token_embd.weight", &dev)?;
        let embed = emb_q.dequantize(&dev).map_err(|e| md_err(file, e))?;
        let vocab_size = embed.dim(0).map_err(|e| md_err(file, e))?;
        let output_q = if file.has_tensor("output.weight") {
            file.tensor("output.weight", &dev)?
        } else {
            emb_q // tied embeddings
        };
        let output = Linear::new(vec![output_q], format, &dev).map_err(|e| md_err(file, e))?;
        let norm = file
            .tensor("output_norm.weight", &dev)?
            .dequantize(&dev)
            .map_err(|e| md_err(file, e))?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let mut lin = |names: &[&str]| -> Result<Linear> {
                let parts = names
                    .iter()
                    .map(|name| file.tensor(&format!("blk.{i}.{name}.weight"), &dev))
                    .collect::<Result<Vec<_>>>()?;
                Linear::new(parts, format, &dev).map_err(|e| md_err(file, e))
            };
            let qkv = lin(&["attn_q", "attn_k", "attn_v"])?;
            let wo = lin(&["attn_output"])?;
            let gate_up = lin(&["ffn_gate", "ffn_up"])?;
            let down = lin(&["ffn_down"])?;
            let mut vec = |name: &str| -> Result<Tensor> {
                file.tensor(&format!("blk.{i}.{name}.weight"), &dev)?
                    .dequantize(&dev)
                    .map_err(|e| md_err(file, e))
            };
            let (attn_norm, ffn_norm) = (vec("attn_norm")?, vec("ffn_norm")?);
            blocks.push(Block {
                attn_norm,
                qkv,
                wo,
                ffn_norm,
                gate_up,
                down,
            });
        }
        let (cos, sin) = rope_tables(&config, &dev).map_err(|e| md_err(file, e))?;
        Ok(Self {
            config: LlamaConfig {
                vocab_size,
                ..config
            },
            embed,
            blocks,
            norm,
            output,
            cos,
            sin,
            device: dev,
        })
    }

    /// Weights of every projection one token goes through (the blocks' Q/K/V, output,
    /// gate/up and down, and the vocabulary head): the multiply-adds per token, outside
    /// attention.
    pub fn projection_weights(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.qkv.weights() + b.wo.weights() + b.gate_up.weights() + b.down.weights())
            .sum::<usize>()
            + self.output.weights()
    }

    /// An empty cache for `batch` sequences of up to `capacity` positions.
    pub fn new_cache(&self, batch: usize, capacity: usize) -> CResult<KvCache> {
        let c = &self.config;
        let shape = (batch, c.n_kv_head, capacity, c.head_dim);
        let layers = (0..c.n_layer)
            .map(|_| {
                Ok((
                    Tensor::zeros(shape, DType::F32, &self.device)?,
                    Tensor::zeros(shape, DType::F32, &self.device)?,
                ))
            })
            .collect::<CResult<_>>()?;
        Ok(KvCache {
            layers,
            len: 0,
            capacity,
        })
    }

    /// Runs `ids` (`B × L`, left-padded; `pads[b]` pad positions at the start of row `b`
    /// of the whole sequence so far) after the cached positions, and returns the logits
    /// of the last position of each row (`B × vocab`).
    pub fn forward(
        &self,
        ids: &[Vec<u32>],
        pads: &[usize],
        cache: &mut KvCache,
    ) -> CResult<Tensor> {
        let x = self.trunk(ids, pads, cache)?;
        let l = x.dim(1)?;
        let last = x.narrow(1, l - 1, 1)?.contiguous()?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, self.config.rms_eps as f32)?;
        self.output.forward(&last)?.squeeze(1)
    }

    /// The logits of every position of one sequence run from an empty cache
    /// (`L × vocab`): what scoring a whole text (its perplexity) needs.
    pub fn forward_all(&self, ids: &[u32]) -> CResult<Tensor> {
        let mut cache = self.new_cache(1, ids.len().max(1))?;
        let x = self.trunk(&[ids.to_vec()], &[0], &mut cache)?;
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.config.rms_eps as f32)?;
        self.output.forward(&x)?.squeeze(0)
    }

    /// The transformer blocks over `ids` after the cached positions: the final hidden
    /// states (`B × L × hidden`), before the last norm.
    fn trunk(&self, ids: &[Vec<u32>], pads: &[usize], cache: &mut KvCache) -> CResult<Tensor> {
        let b = ids.len();
        let l = ids.first().map_or(0, |r| r.len());
        let pos = cache.len;
        if l == 0 {
            candle_core::bail!("an empty sequence has no positions to run");
        }
        if pos + l > cache.capacity || pos + l > self.config.context_length {
            candle_core::bail!(
                "sequence of {} positions exceeds the cache or the context",
                pos + l
            );
        }
        let flat: Vec<u32> = ids.iter().flatten().copied().collect();
        let ids_t = Tensor::from_vec(flat, b * l, &self.device)?;
        let mut x = self
            .embed
            .index_select(&ids_t, 0)?
            .reshape((b, l, self.config.hidden))?;
        let mask = attention_mask(pads, pos, l, &self.device)?;
        let cos = self.cos.narrow(0, pos, l)?;
        let sin = self.sin.narrow(0, pos, l)?;
        for (block, kv) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, self.config.rms_eps as f32)?;
            let a = self.attention(block, &h, &mask, &cos, &sin, kv, pos)?;
            x = (x + a)?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, self.config.rms_eps as f32)?;
            let gu = block.gate_up.forward(&h)?;
            let inner = gu.dim(2)? / 2;
            let g = candle_nn::ops::silu(&gu.narrow(2, 0, inner)?)?;
            let m = block.down.forward(&(g * gu.narrow(2, inner, inner)?)?)?;
            x = (x + m)?;
        }
        cache.len += l;
        Ok(x)
    }

    /// Runs a whole left-padded batch of prompts (`ids`, `pads` as in [`Llama::forward`])
    /// into `cache` in chunks of at most `chunk` positions and returns the logits of the
    /// last position. Attention over a chunk scores `chunk × prefix` pairs instead of
    /// `prompt × prompt`, so the prefill's working memory grows linearly with the prompt
    /// (the cache itself is preallocated) at the cost of one pass per chunk.
    pub fn prefill(
        &self,
        ids: &[Vec<u32>],
        pads: &[usize],
        cache: &mut KvCache,
        chunk: usize,
    ) -> CResult<Tensor> {
        let l = ids.first().map_or(0, |r| r.len());
        let chunk = chunk.max(1);
        let mut start = 0;
        loop {
            let end = (start + chunk).min(l);
            let part: Vec<Vec<u32>> = ids.iter().map(|r| r[start..end].to_vec()).collect();
            let logits = self.forward(&part, pads, cache)?;
            if end >= l {
                return Ok(logits);
            }
            start = end;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        block: &Block,
        h: &Tensor,
        mask: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        kv: &mut (Tensor, Tensor),
        pos: usize,
    ) -> CResult<Tensor> {
        let c = &self.config;
        let (b, l, _) = h.dims3()?;
        let rep = c.n_head / c.n_kv_head;
        let qkv = block.qkv.forward(h)?;
        let (qn, kn) = (c.n_head * c.head_dim, c.n_kv_head * c.head_dim);
        let heads = |start: usize, n_heads: usize| -> CResult<Tensor> {
            qkv.narrow(2, start, n_heads * c.head_dim)?
                .reshape((b, l, n_heads, c.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(0, c.n_head)?;
        let k = heads(qn, c.n_kv_head)?;
        let v = heads(qn + kn, c.n_kv_head)?;
        let q = candle_nn::rotary_emb::rope_i(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, cos, sin)?;
        kv.0.slice_set(&k, 2, pos)?;
        kv.1.slice_set(&v, 2, pos)?;
        let t = pos + l;
        let keys = kv.0.narrow(2, 0, t)?;
        let values = kv.1.narrow(2, 0, t)?;
        // Grouped-query attention without copying K/V: the `rep` query heads sharing a
        // KV head are stacked along the row axis of one matmul.
        let q = (q.reshape((b, c.n_kv_head, rep * l, c.head_dim))?
            * (1.0 / (c.head_dim as f64).sqrt()))?;
        let scores = q.matmul(&keys.t()?)?.reshape((b, c.n_kv_head, rep, l, t))?;
        let scores = scores.broadcast_add(mask)?;
        let probs =
            candle_nn::ops::softmax_last_dim(&scores)?.reshape((b, c.n_kv_head, rep * l, t))?;
        let y = probs.matmul(&values)?; // (b, n_kv, rep*l, d)
        let y = y
            .reshape((b, c.n_head, l, c.head_dim))?
            .transpose(1, 2)?
            .reshape((b, l, c.hidden))?;
        block.wo.forward(&y)
    }
}

/// Additive mask `(B, 1, 1, L, pos+L)`: a query may see keys at or before its position
/// that are not padding. Pad queries see only themselves, so no row is fully masked.
fn attention_mask(pads: &[usize], pos: usize, l: usize, dev: &Device) -> CResult<Tensor> {
    let t = pos + l;
    let mut m = vec![f32::NEG_INFINITY; pads.len() * l * t];
    for (bi, &pad) in pads.iter().enumerate() {
        for qi in 0..l {
            let qp = pos + qi;
            let row = &mut m[(bi * l + qi) * t..(bi * l + qi + 1) * t];
            if qp < pad {
                row[qp] = 0.0;
            } else {
                row[pad..=qp].fill(0.0);
            }
        }
    }
    Tensor::from_vec(m, (pads.len(), 1, 1, l, t), dev)
}

fn rope_tables(c: &LlamaConfig, dev: &Device) -> CResult<(Tensor, Tensor)> {
    let half = c.head_dim / 2;
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0 / c.rope_base.powf(2.0 * i as f32 / c.head_dim as f32))
        .collect();
    let inv = Tensor::from_vec(inv, (1, half), dev)?;
    let pos = Tensor::arange(0u32, c.context_length as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((c.context_length, 1))?;
    let angles = pos.matmul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}
