//! The llama-family transformer (GGUF tensor names), batched with left padding.
//!
//! A batch of `B` sequences is left-padded to a common length and one forward pass
//! computes the whole batch. The projections treat every position as its own row, and
//! attention (the `attention` module) runs each sequence over its own keys at its own
//! positions, so a sequence's logits are the same, bit for bit, alone or in any batch.

use crate::attention::{self, Heads, LayerCache, Rope, Span};
use crate::gguf::GgufFile;
use crate::q8::PackedQ8;
use crate::shared::{Key, Layout, Registry};
use crate::token_table::TokenTable;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Result as CResult, Tensor};
use std::sync::{Arc, LazyLock};
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
    /// Whether the heads fit the attention kernel: some of each kind, key/value heads
    /// dividing query heads, and an even head size of at most 256.
    pub fn heads_consistent(&self) -> bool {
        self.n_head > 0
            && self.n_kv_head > 0
            && self.n_head.is_multiple_of(self.n_kv_head)
            && self.head_dim.is_multiple_of(2)
            && self.head_dim <= attention::MAX_HEAD_DIM
    }

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
        if !config.heads_consistent() || !hidden.is_multiple_of(n_head) {
            return Err(Error::model(
                &file.path,
                "inconsistent head counts in metadata (or a head size that is odd or \
                 above 256)",
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
    fn new(mut parts: Vec<QTensor>, format: WeightFormat, dev: &Device) -> CResult<Arc<Self>> {
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
            return Self::shared_dense(w);
        }
        if format == WeightFormat::Native {
            // Requantizing the stacked dequantized blocks to their own type is exact:
            // every block keeps its min/max, hence its scale.
            let q = match parts.len() {
                1 => parts.remove(0),
                _ => QTensor::quantize(&w, dtype)?,
            };
            return Ok(Arc::new(Self::Quantized(QMatMul::from_qtensor(q)?)));
        }
        if let Some(packed) = Self::shared_packed(&w)? {
            return Ok(packed);
        }
        let q = if parts.len() == 1 && dtype == GgmlDType::Q8_0 {
            parts.remove(0)
        } else {
            QTensor::quantize(&w, GgmlDType::Q8_0)?
        };
        Ok(Arc::new(Self::Quantized(QMatMul::from_qtensor(q)?)))
    }

    /// `w` held in f32, shared with every model holding the same values.
    fn shared_dense(w: Tensor) -> CResult<Arc<Self>> {
        let (n, k) = w.dims2()?;
        let key = Key::of(&w.flatten_all()?.to_vec1::<f32>()?, n, k, Layout::Dense);
        Ok(match LINEARS.get(&key) {
            Some(live) => live,
            None => LINEARS.insert(key, Self::Dense(w)),
        })
    }

    /// `w` packed for this CPU's int8 kernel, shared with every model holding the same
    /// values; `None` when the kernel cannot take it (no AVX2, or a shape it does not fit).
    fn shared_packed(w: &Tensor) -> CResult<Option<Arc<Self>>> {
        let (n, k) = w.dims2()?;
        let values = w.flatten_all()?.to_vec1::<f32>()?;
        let key = Key::of(&values, n, k, Layout::Packed);
        if let Some(live) = LINEARS.get(&key) {
            return Ok(Some(live));
        }
        Ok(PackedQ8::new(&values, n, k).map(|p| LINEARS.insert(key, Self::Packed(p))))
    }

    /// Builds one projection from an f32 matrix (`out × in`) that no file type describes
    /// (e.g. a base weight with a low-rank update merged in): kept as it is in
    /// [`WeightFormat::F32`] or when `in` is not a multiple of 32, int8 per 32 values
    /// otherwise.
    fn from_dense(w: Tensor, format: WeightFormat) -> CResult<Arc<Self>> {
        let (_, k) = w.dims2()?;
        // Int8 groups 32 inputs under one scale; a width that does not divide stays f32.
        if format == WeightFormat::F32 || k % 32 != 0 {
            return Self::shared_dense(w);
        }
        if let Some(packed) = Self::shared_packed(&w)? {
            return Ok(packed);
        }
        Ok(Arc::new(Self::Quantized(QMatMul::from_qtensor(
            QTensor::quantize(&w, GgmlDType::Q8_0)?,
        )?)))
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
            Self::Dense(w) => dense_rows(&x.reshape((b * l, k))?, w)?.reshape((b, l, ())),
        }
    }
}

/// The projections every model of the process holds, by content (see the `shared`
/// module).
static LINEARS: LazyLock<Registry<Linear>> = LazyLock::new(Registry::new);

/// The token embedding tables every model of the process holds, by content.
static EMBEDDINGS: LazyLock<Registry<Embedding>> = LazyLock::new(Registry::new);

/// A token embedding table: f32, or the file's quantized blocks read a row at a time.
enum Embedding {
    Dense(Tensor),
    Table(TokenTable),
}

impl Embedding {
    /// The table of the f32 matrix `dense`, shared with every model holding the same
    /// values; a new one is made by `make` (given `dense`) when no model holds it.
    fn shared(dense: Tensor, make: impl FnOnce(Tensor) -> CResult<Self>) -> CResult<Arc<Self>> {
        let (n, k) = dense.dims2()?;
        let key = Key::of(
            &dense.flatten_all()?.to_vec1::<f32>()?,
            n,
            k,
            Layout::Embedding,
        );
        Ok(match EMBEDDINGS.get(&key) {
            Some(live) => live,
            None => EMBEDDINGS.insert(key, make(dense)?),
        })
    }

    fn lookup(&self, ids: &[u32]) -> CResult<Tensor> {
        match self {
            Self::Dense(t) => t.index_select(&Tensor::new(ids, t.device())?, 0),
            Self::Table(t) => t.lookup(ids),
        }
    }
}

/// Rows per gemm call of [`Linear::Dense`].
const DENSE_ROWS: usize = 16;

/// `x · wᵀ` in calls of exactly [`DENSE_ROWS`] rows, the last one padded with zeros:
/// gemm picks its blocking, hence the order of its sums, from the shapes it is given,
/// so one fixed shape gives every row the same result in any batch.
fn dense_rows(x: &Tensor, w: &Tensor) -> CResult<Tensor> {
    let (m, k) = x.dims2()?;
    let wt = w.t()?;
    let mut parts = Vec::with_capacity(m.div_ceil(DENSE_ROWS));
    let mut start = 0;
    while start < m {
        let rows = DENSE_ROWS.min(m - start);
        let mut part = x.narrow(0, start, rows)?;
        if rows < DENSE_ROWS {
            let pad = Tensor::zeros((DENSE_ROWS - rows, k), x.dtype(), x.device())?;
            part = Tensor::cat(&[&part, &pad], 0)?;
        }
        parts.push(part.matmul(&wt)?.narrow(0, 0, rows)?);
        start += rows;
    }
    Tensor::cat(&parts, 0)
}

struct Block {
    attn_norm: Tensor,
    /// Q, K and V projections fused into one matmul.
    qkv: Arc<Linear>,
    wo: Arc<Linear>,
    ffn_norm: Tensor,
    /// Gate and up projections fused into one matmul.
    gate_up: Arc<Linear>,
    down: Arc<Linear>,
}

/// Per-layer key/value cache of a batch: `(B, n_kv_head, capacity, head_dim)` buffers
/// filled up to `len`, so each step writes in place instead of re-concatenating.
pub struct KvCache {
    layers: Vec<LayerCache>,
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

    /// Positions the cache was made to hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keeps only the batch rows in `keep` (in that order), e.g. after sequences finish.
    pub fn retain_rows(&mut self, keep: &[u32]) -> CResult<()> {
        let rows = self.layers.first().map_or(0, LayerCache::rows);
        if let Some(&bad) = keep.iter().find(|&&r| r as usize >= rows) {
            candle_core::bail!("row {bad} is not in a cache of {rows} rows");
        }
        for layer in self.layers.iter_mut() {
            layer.retain_rows(keep);
        }
        Ok(())
    }
}

/// One block's f32 tensors for [`Llama::from_weights`] (`out × in` matrices).
#[derive(Debug, Clone)]
pub struct BlockWeights {
    /// RMS-norm scale before attention.
    pub attn_norm: Tensor,
    /// The query, key and value projections stacked along the output axis.
    pub qkv: Tensor,
    /// The attention output projection.
    pub wo: Tensor,
    /// RMS-norm scale before the feed-forward.
    pub ffn_norm: Tensor,
    /// The gate and up projections stacked along the output axis.
    pub gate_up: Tensor,
    /// The down projection.
    pub down: Tensor,
}

/// A whole model's f32 tensors for [`Llama::from_weights`].
#[derive(Debug, Clone)]
pub struct LlamaWeights {
    /// Hyper-parameters (`vocab_size` set).
    pub config: LlamaConfig,
    /// Token embedding `(vocab, hidden)`.
    pub embed: Tensor,
    /// Output head `(vocab, hidden)`.
    pub output: Tensor,
    /// Final RMS-norm scale.
    pub norm: Tensor,
    /// The transformer blocks.
    pub blocks: Vec<BlockWeights>,
}

/// A loaded llama-family model.
pub struct Llama {
    /// Hyper-parameters.
    pub config: LlamaConfig,
    embed: Arc<Embedding>,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Arc<Linear>,
    heads: Heads,
    rope: Rope,
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
        let dense = emb_q.dequantize(&dev).map_err(|e| md_err(file, e))?;
        let vocab_size = dense.dim(0).map_err(|e| md_err(file, e))?;
        // Kept as stored: its rows are dequantized as tokens are looked up.
        let embed = Embedding::shared(dense, |dense| {
            Ok(match TokenTable::from_qtensor(&emb_q)? {
                Some(table) => Embedding::Table(table),
                None => Embedding::Dense(dense),
            })
        })
        .map_err(|e| md_err(file, e))?;
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
            let mut lin = |names: &[&str]| -> Result<Arc<Linear>> {
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
        let config = LlamaConfig {
            vocab_size,
            ..config
        };
        Ok(Self::assemble(config, embed, blocks, norm, output))
    }

    fn assemble(
        config: LlamaConfig,
        embed: Arc<Embedding>,
        blocks: Vec<Block>,
        norm: Tensor,
        output: Arc<Linear>,
    ) -> Self {
        let heads = Heads {
            n_head: config.n_head,
            n_kv_head: config.n_kv_head,
            head_dim: config.head_dim,
        };
        let rope = Rope::new(config.head_dim, config.rope_base, config.context_length);
        Self {
            config,
            embed,
            blocks,
            norm,
            output,
            heads,
            rope,
            device: Device::Cpu,
        }
    }

    /// A model from f32 tensors that were changed after loading (a fine-tuned adapter
    /// merged into its base, for instance), its projections held in `format` ([`WeightFormat::Native`]
    /// has no file type to keep here and means int8, as [`WeightFormat::Q8_0`]).
    pub fn from_weights(weights: LlamaWeights, format: WeightFormat) -> CResult<Self> {
        let c = &weights.config;
        if !c.heads_consistent() {
            candle_core::bail!(
                "inconsistent heads: {} query, {} key/value, size {}",
                c.n_head,
                c.n_kv_head,
                c.head_dim
            );
        }
        let blocks = weights
            .blocks
            .into_iter()
            .map(|b| {
                Ok(Block {
                    attn_norm: b.attn_norm,
                    qkv: Linear::from_dense(b.qkv, format)?,
                    wo: Linear::from_dense(b.wo, format)?,
                    ffn_norm: b.ffn_norm,
                    gate_up: Linear::from_dense(b.gate_up, format)?,
                    down: Linear::from_dense(b.down, format)?,
                })
            })
            .collect::<CResult<Vec<_>>>()?;
        let output = Linear::from_dense(weights.output, format)?;
        // A model merged from the LLM's base reads the table the LLM already holds.
        let embed = Embedding::shared(weights.embed, |dense| Ok(Embedding::Dense(dense)))?;
        Ok(Self::assemble(
            weights.config,
            embed,
            blocks,
            weights.norm,
            output,
        ))
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
        let layers = (0..self.config.n_layer)
            .map(|_| LayerCache::new(self.heads, batch, capacity))
            .collect();
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
        self.last_logits(&x)
    }

    /// Like [`Llama::forward`] from input vectors (`B × L × hidden`) instead of token ids:
    /// vectors that are no token's embedding (soft prompts) enter the model this way.
    pub fn forward_embeds(
        &self,
        x: &Tensor,
        pads: &[usize],
        cache: &mut KvCache,
    ) -> CResult<Tensor> {
        let (_, _, d) = x.dims3()?;
        if d != self.config.hidden {
            candle_core::bail!(
                "input vectors of {d} numbers for a model of width {}",
                self.config.hidden
            );
        }
        let x = self.blocks_over(x.contiguous()?, pads, cache)?;
        self.last_logits(&x)
    }

    /// The token embedding of each id (`len × hidden`).
    pub fn embed_ids(&self, ids: &[u32]) -> CResult<Tensor> {
        self.embed.lookup(ids)
    }

    /// The vocabulary logits of the last position of each row of final hidden states.
    fn last_logits(&self, x: &Tensor) -> CResult<Tensor> {
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
        if ids.iter().any(|r| r.len() != l) {
            candle_core::bail!("the rows of a batch differ in length");
        }
        let flat: Vec<u32> = ids.iter().flatten().copied().collect();
        let x = self.embed_ids(&flat)?.reshape((b, l, self.config.hidden))?;
        self.blocks_over(x, pads, cache)
    }

    /// The transformer blocks over input vectors `x` (`B × L × hidden`) after the cached
    /// positions.
    fn blocks_over(&self, mut x: Tensor, pads: &[usize], cache: &mut KvCache) -> CResult<Tensor> {
        let (b, l, _) = x.dims3()?;
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
        let cached_rows = cache.layers.first().map_or(0, LayerCache::rows);
        if pads.len() != b || cached_rows != b {
            candle_core::bail!(
                "a batch of {b} rows with {} pad counts and a cache of {cached_rows} rows",
                pads.len()
            );
        }
        let span = Span {
            pads,
            pos,
            l,
            capacity: cache.capacity,
        };
        for (block, kv) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, self.config.rms_eps as f32)?;
            let qkv = block.qkv.forward(&h)?.flatten_all()?.to_vec1::<f32>()?;
            let y = attention::attend(self.heads, &self.rope, &qkv, &span, kv);
            let y = Tensor::from_vec(y, (b, l, self.config.hidden), &self.device)?;
            let a = block.wo.forward(&y)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::{Opts, write_gguf};

    /// The f32 tensors of a GGUF as [`Llama::from_weights`] takes them, read without
    /// [`Llama::load`].
    fn weights_of(path: &std::path::Path) -> LlamaWeights {
        let mut file = GgufFile::open(path).expect("gguf");
        let mut config = LlamaConfig::read(&file).expect("config");
        let dev = Device::Cpu;
        let mut get = |name: &str| -> Tensor {
            file.tensor(name, &dev)
                .expect("tensor")
                .dequantize(&dev)
                .expect("f32")
        };
        let embed = get("token_embd.weight");
        let output = get("output.weight");
        let norm = get("output_norm.weight");
        let blocks = (0..config.n_layer)
            .map(|i| {
                let mut t = |n: &str| get(&format!("blk.{i}.{n}.weight"));
                let (q, k, v) = (t("attn_q"), t("attn_k"), t("attn_v"));
                let (gate, up) = (t("ffn_gate"), t("ffn_up"));
                BlockWeights {
                    attn_norm: t("attn_norm"),
                    qkv: Tensor::cat(&[q, k, v], 0).expect("qkv"),
                    wo: t("attn_output"),
                    ffn_norm: t("ffn_norm"),
                    gate_up: Tensor::cat(&[gate, up], 0).expect("gate_up"),
                    down: t("ffn_down"),
                }
            })
            .collect();
        config.vocab_size = embed.dim(0).expect("rows");
        LlamaWeights {
            config,
            embed,
            output,
            norm,
            blocks,
        }
    }

    fn logits(model: &Llama, ids: &[u32]) -> Vec<u32> {
        let mut cache = model.new_cache(1, ids.len()).expect("cache");
        let l = model
            .forward(&[ids.to_vec()], &[0], &mut cache)
            .expect("forward");
        let v = l
            .flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("values");
        v.into_iter().map(f32::to_bits).collect()
    }

    #[test]
    fn models_built_from_one_base_share_every_unchanged_weight() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tiny.gguf");
        write_gguf(&path, &Opts::default()).expect("write");
        let ids = [5u32, 9, 14, 3];
        for format in [WeightFormat::F32, WeightFormat::Q8_0] {
            let llm = Llama::load(&mut GgufFile::open(&path).expect("gguf"), format).expect("llm");
            // The same weights built again (an adapter merged with nothing changed).
            let same = Llama::from_weights(weights_of(&path), format).expect("same");
            assert!(
                Arc::ptr_eq(&llm.embed, &same.embed),
                "{format:?}: embedding"
            );
            // Int8 layouts are shared where this CPU packs them; candle's Q8_0 matrices
            // are held per model.
            let packs = format == WeightFormat::F32 || crate::q8::best_kernel().is_some();
            for (a, b) in llm.blocks.iter().zip(&same.blocks) {
                for (x, y) in [(&a.qkv, &b.qkv), (&a.wo, &b.wo), (&a.gate_up, &b.gate_up)] {
                    assert_eq!(Arc::ptr_eq(x, y), packs, "{format:?}");
                }
                assert_eq!(Arc::ptr_eq(&a.down, &b.down), packs, "{format:?}");
            }
            assert_eq!(logits(&llm, &ids), logits(&same, &ids), "{format:?}");
            // A changed query projection is the merged model's own; the rest is shared.
            let mut changed = weights_of(&path);
            for b in changed.blocks.iter_mut() {
                b.qkv = (&b.qkv + 0.01).expect("shifted");
            }
            let merged = Llama::from_weights(changed, format).expect("merged");
            for (a, b) in llm.blocks.iter().zip(&merged.blocks) {
                assert!(
                    !Arc::ptr_eq(&a.qkv, &b.qkv),
                    "{format:?}: changed weights are kept apart"
                );
                assert_eq!(Arc::ptr_eq(&a.wo, &b.wo), packs, "{format:?}");
            }
            assert!(Arc::ptr_eq(&llm.embed, &merged.embed), "{format:?}");
            assert_ne!(logits(&llm, &ids), logits(&merged, &ids), "{format:?}");
        }
    }
}
