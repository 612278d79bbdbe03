//! [`LocalEmbedder`]: a sentence-transformers BERT model running on candle (CPU).

use crate::st_dir::SentenceTransformerDir;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use std::path::Path;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};
use vec2prompt_core::{Embedder, EmbedderInfo, Error, Pooling, Result, l2_normalize};

/// Tunables of the local embedder.
#[derive(Debug, Clone)]
pub struct LocalEmbedderConfig {
    /// Texts per forward pass. Inputs are sorted by length first, so a batch holds texts
    /// of similar length and little padding.
    pub batch_size: usize,
}

impl Default for LocalEmbedderConfig {
    fn default() -> Self {
        Self { batch_size: 32 }
    }
}

/// Embeds texts with a local sentence-transformers BERT-family model.
pub struct LocalEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    info: EmbedderInfo,
    config: LocalEmbedderConfig,
    device: Device,
}

fn model_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::model(
        path,
        format!("cannot be loaded: {e}"),
        "the file is damaged or not a BERT sentence-transformers model; run \
         `vec2prompt models fetch` or give another --embedder path",
    )
}

impl LocalEmbedder {
    /// Loads the model in directory `dir`.
    pub fn load(dir: &Path, config: LocalEmbedderConfig) -> Result<Self> {
        let st = SentenceTransformerDir::open(dir)?;
        let device = Device::Cpu;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| model_err(&tok_path, e))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: st.max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| model_err(&tok_path, e))?;
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(|e| model_err(&weights, e))?;
        // Some exports prefix every tensor with `bert.`; accept both, and report the
        // error of the layout the file actually has.
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let model = BertModel::load(vb, &st.bert).map_err(|e| model_err(&weights, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let info = EmbedderInfo {
            name,
            dimension: st.bert.hidden_size,
            pooling: st.pooling,
            normalized: st.normalize,
            max_tokens: st.max_seq_length,
        };
        Ok(Self {
            model,
            tokenizer,
            info,
            config,
            device,
        })
    }

    /// Token ids of `text` after truncation (what the model actually sees).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::backend(&self.info.name, format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    fn embed_batch(&self, ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let max_len = ids.iter().map(|s| s.len()).max().unwrap_or(0);
        let b = ids.len();
        let mut flat = vec![0u32; b * max_len];
        let mut mask = vec![0f32; b * max_len];
        for (i, s) in ids.iter().enumerate() {
            flat[i * max_len..i * max_len + s.len()].copy_from_slice(s);
            mask[i * max_len..i * max_len + s.len()].fill(1.0);
        }
        let input = Tensor::from_vec(flat, (b, max_len), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, max_len), &self.device)?;
        let types = input.zeros_like()?;
        let hidden = self.model.forward(&input, &types, Some(&mask))?; // (b, len, dim)
        let pooled = match self.info.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let m = mask.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
                summed.broadcast_div(&counts)?
            }
            Pooling::Max => {
                // Padded positions get a large negative value so they never win the max.
                let m = mask.unsqueeze(2)?;
                let neg = ((m.ones_like()? - &m)? * -1e9)?;
                hidden.broadcast_add(&neg)?.max(1)?
            }
        };
        pooled.to_vec2::<f32>()
    }
}

impl Embedder for LocalEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(self.tokenize(text).map_or(0, |ids| ids.len()))
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(Error::invalid(format!("texts[{i}]"), "the text is empty"));
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::backend(&self.info.name, format!("tokenizer: {e}")))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        // Longest first, so each batch pads to a similar length.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); ids.len()];
        for chunk in order.chunks(self.config.batch_size.max(1)) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i]).collect();
            let vectors = self
                .embed_batch(&batch)
                .map_err(|e| Error::backend(&self.info.name, e))?;
            for (&i, mut v) in chunk.iter().zip(vectors) {
                if self.info.normalized {
                    l2_normalize(&mut v);
                }
                out[i] = v;
            }
        }
        Ok(out)
    }
}
