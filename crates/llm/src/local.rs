//! [`LocalLlm`]: a GGUF chat model answering prompts in batches on the CPU.

use crate::chat::{ChatTemplate, Message};
use crate::gguf::GgufFile;
use crate::llama::Llama;
pub use crate::llama::WeightFormat;
use crate::sampler::Sampler;
use crate::tokenizer::GgufTokenizer;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use vec2prompt_core::{Error, FinishReason, Generation, GenerationParams, Llm, LlmInfo, Result};

/// Tunables of the local LLM.
#[derive(Debug, Clone)]
pub struct LocalLlmConfig {
    /// How projection weights are held (see [`WeightFormat`]).
    pub weights: WeightFormat,
    /// Most sequences decoded together in one forward pass.
    pub max_batch: usize,
}

impl Default for LocalLlmConfig {
    fn default() -> Self {
        Self {
            weights: WeightFormat::Q8_0,
            max_batch: 32,
        }
    }
}

/// Prompt positions run through the model in one pass during prefill: attention memory
/// is `batch × heads × chunk × prefix` floats, about 75 MB per sequence at SmolLM2's 9
/// heads, a 256-position chunk and an 8,192-token prefix, instead of quadratic in the
/// prompt.
pub const PREFILL_CHUNK: usize = 256;

/// One sequence being generated.
struct Sequence {
    prompt: usize,
    sample: usize,
    out: Vec<u32>,
    sampler: Sampler,
    finish: Option<FinishReason>,
}

/// What every wave of one generation call shares.
struct Wave<'a> {
    prompts: &'a [Vec<u32>],
    max_new: usize,
    ignore_stop: bool,
    cancelled: &'a dyn Fn(usize) -> bool,
}

/// Generated token ids of one answer and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    /// Generated ids (with the stop token, if any).
    pub ids: Vec<u32>,
    /// Why generation stopped.
    pub finish: FinishReason,
}

/// A local GGUF chat model.
pub struct LocalLlm {
    model: Llama,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    info: LlmInfo,
    config: LocalLlmConfig,
    stop_ids: Vec<u32>,
    /// Forward passes run (prefill chunks and decoding steps).
    passes: AtomicU64,
}

/// The name a loaded GGUF reports in its [`LlmInfo`]: the file stem. Known without loading,
/// so a caller can find what is keyed by the model (caches, memories) cheaply.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl LocalLlm {
    /// Loads the GGUF file at `path`.
    pub fn load(path: &Path, config: LocalLlmConfig) -> Result<Self> {
        let mut file = GgufFile::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&file)?;
        let template = ChatTemplate::from_gguf(&file, &tokenizer)?;
        let model = Llama::load(&mut file, config.weights)?;
        if tokenizer.tokens.len() > model.config.vocab_size {
            return Err(Error::model(
                path,
                "the tokenizer has more tokens than the embedding matrix",
                "use another GGUF",
            ));
        }
        let info = LlmInfo {
            name: model_name(path),
            context_length: model.config.context_length,
        };
        let stop_ids = tokenizer.stop_ids.clone();
        Ok(Self {
            model,
            tokenizer,
            template,
            info,
            config,
            stop_ids,
            passes: AtomicU64::new(0),
        })
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// The model's hyper-parameters.
    pub fn model_config(&self) -> &crate::llama::LlamaConfig {
        &self.model.config
    }

    /// Multiply-adds per token in the model's projections (see
    /// [`crate::llama::Llama::projection_weights`]).
    pub fn projection_weights(&self) -> usize {
        self.model.projection_weights()
    }

    /// Per-token perplexity of `text` as plain text (no chat template): exp of the mean
    /// negative log-probability of its tokens, each given the ones before, after a
    /// document start (`<|endoftext|>` where the vocabulary has it, else the BOS token).
    /// It measures how fluent a prompt reads to the model; lower is more fluent.
    pub fn perplexity(&self, text: &str) -> Result<f64> {
        let ids = self.tokenizer.encode(text)?;
        if ids.is_empty() {
            return Err(Error::invalid("text", "has no tokens to score"));
        }
        let start = self
            .tokenizer
            .tokens
            .iter()
            .position(|t| t == "<|endoftext|>")
            .map(|i| i as u32)
            .or(self.tokenizer.bos_id)
            .unwrap_or(0);
        let limit = self.model.config.context_length.saturating_sub(1).max(1);
        let mut seq = vec![start];
        seq.extend(ids.iter().take(limit));
        let name = self.info.name.clone();
        let logits = self
            .model
            .forward_all(&seq[..seq.len() - 1])
            .and_then(|l| candle_nn::ops::log_softmax(&l, 1))
            .and_then(|l| l.to_vec2::<f32>())
            .map_err(|e| Error::backend(&name, e.to_string()))?;
        let nll: f64 = logits
            .iter()
            .zip(&seq[1..])
            .map(|(row, &next)| -(row.get(next as usize).copied().unwrap_or(f32::MIN) as f64))
            .sum();
        Ok((nll / (seq.len() - 1) as f64).exp())
    }

    /// Token ids of `prompt` sent as the single user turn, through the chat template.
    pub fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>> {
        let text = self.template.render(&[Message {
            role: "user",
            content: prompt,
        }])?;
        let mut ids = self.tokenizer.encode(&text)?;
        if let (true, Some(bos)) = (self.tokenizer.add_bos, self.tokenizer.bos_id)
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// Generates `params.n` answers for each tokenized prompt, batching up to
    /// `max_batch` sequences per forward pass. With `ignore_stop` every answer runs to
    /// `max_new_tokens` (for benchmarks).
    pub fn generate_ids(
        &self,
        prompts: &[Vec<u32>],
        params: &GenerationParams,
        ignore_stop: bool,
    ) -> Result<Vec<Vec<TokenAnswer>>> {
        self.generate_ids_cancellable(prompts, params, ignore_stop, &|_| false)
    }

    /// [`LocalLlm::generate_ids`], asking `cancelled(prompt)` before each wave's prefill
    /// and between decoding steps: a cancelled prompt's sequences leave the batch at once
    /// (their answers hold what was generated until then).
    pub fn generate_ids_cancellable(
        &self,
        prompts: &[Vec<u32>],
        params: &GenerationParams,
        ignore_stop: bool,
        cancelled: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Vec<TokenAnswer>>> {
        params.validate()?;
        for (i, p) in prompts.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::invalid(format!("prompts[{i}]"), "has no tokens"));
            }
            if p.len() + params.max_new_tokens > self.model.config.context_length {
                return Err(Error::invalid(
                    format!("prompts[{i}]"),
                    format!(
                        "is {} tokens long; with max_new_tokens = {} it exceeds the model's \
                         context of {} tokens. Shorten the prompt or lower max_new_tokens",
                        p.len(),
                        params.max_new_tokens,
                        self.model.config.context_length
                    ),
                ));
            }
        }
        let mut seqs: Vec<Sequence> = Vec::with_capacity(prompts.len() * params.n);
        for prompt in 0..prompts.len() {
            for sample in 0..params.n {
                let stream = (prompt * params.n + sample) as u64;
                seqs.push(Sequence {
                    prompt,
                    sample,
                    out: Vec::new(),
                    sampler: Sampler::new(params.sampling, stream),
                    finish: None,
                });
            }
        }
        // Similar lengths share a batch, so little padding is computed.
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(prompts[seqs[i].prompt].len()));
        for wave in order.chunks(self.config.max_batch.max(1)) {
            let wave: Vec<usize> = wave
                .iter()
                .copied()
                .filter(|&i| !cancelled(seqs[i].prompt))
                .collect();
            if wave.is_empty() {
                continue;
            }
            let run = Wave {
                prompts,
                max_new: params.max_new_tokens,
                ignore_stop,
                cancelled,
            };
            self.run_wave(&run, &mut seqs, &wave)
                .map_err(|e| Error::backend(&self.info.name, e))?;
        }
        let mut out: Vec<Vec<TokenAnswer>> = (0..prompts.len())
            .map(|_| Vec::with_capacity(params.n))
            .collect();
        for s in seqs {
            debug_assert_eq!(out[s.prompt].len(), s.sample);
            let finish = s.finish.unwrap_or(FinishReason::Length);
            out[s.prompt].push(TokenAnswer { ids: s.out, finish });
        }
        Ok(out)
    }

    fn run_wave(
        &self,
        run: &Wave<'_>,
        seqs: &mut [Sequence],
        wave: &[usize],
    ) -> candle_core::Result<()> {
        let (prompts, max_new, ignore_stop) = (run.prompts, run.max_new, run.ignore_stop);
        let longest = wave
            .iter()
            .map(|&i| prompts[seqs[i].prompt].len())
            .max()
            .unwrap_or(0);
        let mut pads: Vec<usize> = Vec::with_capacity(wave.len());
        let mut rows: Vec<Vec<u32>> = Vec::with_capacity(wave.len());
        for &i in wave {
            let p = &prompts[seqs[i].prompt];
            let pad = longest - p.len();
            let mut row = vec![0u32; pad];
            row.extend_from_slice(p);
            pads.push(pad);
            rows.push(row);
        }
        let mut cache = self.model.new_cache(wave.len(), longest + max_new)?;
        let mut logits = self
            .model
            .prefill(&rows, &pads, &mut cache, PREFILL_CHUNK)?;
        self.passes
            .fetch_add(longest.div_ceil(PREFILL_CHUNK) as u64, Ordering::Relaxed);
        let mut active: Vec<usize> = wave.to_vec();
        loop {
            let lv = logits.to_vec2::<f32>()?;
            let mut keep = Vec::with_capacity(active.len());
            let mut next = Vec::with_capacity(active.len());
            for (row, &si) in active.iter().enumerate() {
                let s = &mut seqs[si];
                if (run.cancelled)(s.prompt) {
                    s.finish = Some(FinishReason::Length);
                    continue;
                }
                let tok = s.sampler.sample(&lv[row]);
                s.out.push(tok);
                if !ignore_stop && self.stop_ids.contains(&tok) {
                    s.finish = Some(FinishReason::Stop);
                } else if s.out.len() >= max_new {
                    s.finish = Some(FinishReason::Length);
                } else {
                    keep.push(row as u32);
                    next.push(vec![tok]);
                }
            }
            if keep.is_empty() {
                return Ok(());
            }
            if keep.len() < active.len() {
                cache.retain_rows(&keep)?;
                pads = keep.iter().map(|&r| pads[r as usize]).collect();
                active = keep.iter().map(|&r| active[r as usize]).collect();
            }
            logits = self.model.forward(&next, &pads, &mut cache)?;
            self.passes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answers from token ids to text.
    fn to_generation(&self, prompt_tokens: usize, a: TokenAnswer) -> Result<Generation> {
        let body = match a.finish {
            FinishReason::Stop => &a.ids[..a.ids.len() - 1],
            FinishReason::Length => &a.ids[..],
        };
        Ok(Generation {
            text: self.tokenizer.decode(body)?,
            prompt_tokens,
            completion_tokens: a.ids.len(),
            finish_reason: a.finish,
        })
    }
}

impl Llm for LocalLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }

    fn forward_passes(&self) -> Option<u64> {
        Some(self.passes.load(Ordering::Relaxed))
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.tokenizer.encode(text).ok().map(|ids| ids.len())
    }

    fn generate(
        &self,
        prompts: &[String],
        params: &GenerationParams,
    ) -> Result<Vec<Vec<Generation>>> {
        self.generate_cancellable(prompts, params, &|_| false)
    }

    fn generate_cancellable(
        &self,
        prompts: &[String],
        params: &GenerationParams,
        cancelled: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Vec<Generation>>> {
        let mut ids = Vec::with_capacity(prompts.len());
        for (i, p) in prompts.iter().enumerate() {
            if p.trim().is_empty() {
                return Err(Error::invalid(
                    format!("prompts[{i}]"),
                    "the prompt is empty",
                ));
            }
            ids.push(self.prompt_ids(p)?);
        }
        let answers = self.generate_ids_cancellable(&ids, params, false, cancelled)?;
        answers
            .into_iter()
            .zip(&ids)
            .map(|(list, p)| {
                list.into_iter()
                    .map(|a| self.to_generation(p.len(), a))
                    .collect()
            })
            .collect()
    }
}
