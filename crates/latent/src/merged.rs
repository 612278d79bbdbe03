//! The generator for inference: its adapters merged into the base weights and the result
//! run by the LLM crate's transformer, in int8 by default.
//!
//! A trained generator computes `x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ` for its query and value
//! projections. Adding `(α/r)·B·A` into `W` once gives the same function with one matmul,
//! so the generator becomes a plain llama-family model whose only unusual input is the
//! soft tokens, which enter as vectors ([`vec2prompt_llm::llama::Llama::forward_embeds`]).
//! That model then decodes on the same int8 kernels, batch-invariant attention and
//! preallocated cache as the LLM's answers, instead of the f32 graph training needs.
//!
//! The merge copies the adapters as they are: a generator that is still being trained
//! decodes with [`GeneratorModel`] itself.

use crate::generator_decode::{DecodeNet, DecodeOptions, Decoded, decode_until};
use crate::generator_model::{GeneratorModel, Layout};
use crate::soft_prompt::SoftPrompt;
use candle_core::{Result, Tensor};
use vec2prompt_llm::WeightFormat;
use vec2prompt_llm::llama::{KvCache, Llama};

/// A generator network with merged adapters, for decoding only.
pub struct MergedGenerator {
    llama: Llama,
    soft: SoftPrompt,
}

impl MergedGenerator {
    /// Merges `model`'s adapters into its base and holds the projections in `format`
    /// ([`WeightFormat::F32`] computes the unmerged model's function up to rounding).
    pub fn new(model: &GeneratorModel, format: WeightFormat) -> Result<Self> {
        let (weights, soft) = model.merged_weights()?;
        Ok(Self {
            llama: Llama::from_weights(weights, format)?,
            soft,
        })
    }
}

impl DecodeNet for MergedGenerator {
    type Cache = KvCache;

    fn start(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        new_tokens: usize,
    ) -> Result<(Tensor, KvCache)> {
        let b = conditions.dim(0)?;
        let d = self.llama.config.hidden;
        let fixed = |ids: &[u32]| -> Result<Option<Tensor>> {
            if ids.is_empty() {
                return Ok(None);
            }
            let e = self.llama.embed_ids(ids)?.unsqueeze(0)?;
            Ok(Some(e.broadcast_as((b, ids.len(), d))?))
        };
        let soft = self.soft.forward(conditions)?.detach();
        let parts: Vec<Tensor> = [fixed(&layout.prefix)?, Some(soft), fixed(&layout.suffix)?]
            .into_iter()
            .flatten()
            .collect();
        let x = Tensor::cat(&parts, 1)?;
        let context = x.dim(1)?;
        let capacity = (context + new_tokens).min(self.llama.config.context_length);
        let mut cache = self.llama.new_cache(b, capacity.max(context))?;
        let logits = self.llama.forward_embeds(&x, &vec![0; b], &mut cache)?;
        Ok((logits, cache))
    }

    fn step(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let rows: Vec<Vec<u32>> = ids.iter().map(|&t| vec![t]).collect();
        self.llama.forward(&rows, &vec![0; ids.len()], cache)
    }

    fn select_rows(&self, cache: &mut KvCache, rows: &[u32]) -> Result<()> {
        cache.retain_rows(rows)
    }

    fn context_left(&self, cache: &KvCache) -> usize {
        // The cache was sized for the decode; its end is the context's end here.
        cache.capacity().saturating_sub(cache.len())
    }
}

/// The error of `owner`'s training weights asked for after their release.
pub fn released(owner: &str) -> vec2prompt_core::Error {
    vec2prompt_core::Error::invalid(
        owner,
        "its training weights were released for inference; load it again to train it",
    )
}

/// A generator-shaped network as its owner holds it: the trainable f32 network, the
/// merged copy once made, or only the merged copy once the trainable one is released.
/// The generator and the prompt optimizer each hold one, so merging, unmerging and
/// releasing behave alike in both.
pub struct Networks {
    /// Who holds it, for error messages (`generator`, `optimizer`).
    owner: &'static str,
    trainable: Option<GeneratorModel>,
    merged: Option<MergedGenerator>,
}

impl Networks {
    /// The trainable network of `owner`, not merged yet.
    pub fn new(owner: &'static str, model: GeneratorModel) -> Self {
        Self {
            owner,
            trainable: Some(model),
            merged: None,
        }
    }

    /// The trainable network; an error once it was released.
    pub fn trainable(&self) -> vec2prompt_core::Result<&GeneratorModel> {
        self.trainable.as_ref().ok_or_else(|| released(self.owner))
    }

    /// Merges the trainable network's adapters as they are now into a copy held in
    /// `format`; decoding uses it from now on.
    pub fn merge(&mut self, format: WeightFormat) -> vec2prompt_core::Result<()> {
        let merged = MergedGenerator::new(self.trainable()?, format)
            .map_err(crate::candle_err(self.owner))?;
        self.merged = Some(merged);
        Ok(())
    }

    /// Drops the merged copy (decoding uses the trainable network again); an error once
    /// that network was released.
    pub fn unmerge(&mut self) -> vec2prompt_core::Result<()> {
        self.trainable()?;
        self.merged = None;
        Ok(())
    }

    /// Drops the trainable network, keeping the merged copy; an error when nothing is
    /// merged (nothing would be left to decode with).
    pub fn release(&mut self) -> vec2prompt_core::Result<()> {
        if self.merged.is_none() {
            return Err(vec2prompt_core::Error::invalid(
                self.owner,
                "merge it for inference before releasing its training weights",
            ));
        }
        self.trainable = None;
        Ok(())
    }

    /// Whether decoding uses the merged copy.
    pub fn is_merged(&self) -> bool {
        self.merged.is_some()
    }

    /// [`decode_until`] on the merged copy when there is one, else on the trainable
    /// network.
    pub fn decode_until(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        n: usize,
        options: &DecodeOptions,
        banned: &[u32],
        stop: &dyn Fn() -> bool,
    ) -> vec2prompt_core::Result<Vec<Vec<Decoded>>> {
        match &self.merged {
            Some(m) => decode_until(m, layout, conditions, n, options, banned, stop),
            None => decode_until(
                self.trainable()?,
                layout,
                conditions,
                n,
                options,
                banned,
                stop,
            ),
        }
        .map_err(crate::candle_err(self.owner))
    }
}
