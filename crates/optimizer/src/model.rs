//! The optimizer's network, on the generator's machinery:
//!
//! ```text
//! raw prompt ──E (frozen embedder)──▶ e_raw ──intent network──▶ intent
//! intent ──projector──▶ K soft tokens, put in front of the raw prompt's tokens in the
//! user turn ──frozen decoder + LoRA on q and v──▶ the improved prompt
//! ```
//!
//! The intent network (`Linear → ReLU → Dropout → Linear`, back to the embedding width),
//! the projector and the adapters are trainable; the embedder and the base decoder are
//! frozen. The projector and the adapters are the generator's own ([`GeneratorModel`]),
//! so one implementation serves both models. A second [`GeneratorModel`] on the same
//! base weights with untrained adapters is the frozen reference of the KL penalty.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use vec2prompt_core::{Error, Result};
use vec2prompt_latent::candle_err;
use vec2prompt_latent::generator::{Base, set_vars};
use vec2prompt_latent::generator_decode::{DecodeOptions, Scaffold, Strategy};
use vec2prompt_latent::generator_model::{GeneratorConfig, GeneratorModel, Layout};
use vec2prompt_latent::merged::{Networks, released};
use vec2prompt_llm::WeightFormat;

/// Weights file of a saved optimizer.
pub const WEIGHTS_FILE: &str = "optimizer.safetensors";
/// Manifest file of a saved optimizer.
pub const MANIFEST_FILE: &str = "optimizer.json";
/// Where the raw prompt goes in a style's user turn.
pub const RAW_MARKER: &str = "{raw}";

/// The form of the improved prompt.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// One precise, specific instruction (the default; judged by the benchmark).
    #[default]
    Precise,
    /// Persona, context, task, constraints, steps and goal sections.
    Structured,
}

impl Style {
    /// Parses `precise` or `structured`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "precise" => Ok(Style::Precise),
            "structured" => Ok(Style::Structured),
            other => Err(Error::invalid(
                "style",
                format!("is {other:?}; use \"precise\" or \"structured\""),
            )),
        }
    }

    /// The style's name.
    pub fn name(&self) -> &'static str {
        match self {
            Style::Precise => "precise",
            Style::Structured => "structured",
        }
    }
}

/// Shape of the trainable part and the conversation it is trained in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Projector and adapters (its `user` is unused: the styles' turns below replace it).
    pub generator: GeneratorConfig,
    /// Hidden width of the intent network.
    pub intent_hidden: usize,
    /// Dropout of the intent network while training.
    pub dropout: f32,
    /// User turn of the `precise` style (`{soft}` then `{raw}`).
    pub precise_user: String,
    /// User turn of the `structured` style.
    pub structured_user: String,
    /// Longest raw prompt kept in the user turn, in characters.
    pub max_raw_chars: usize,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            generator: GeneratorConfig {
                soft_tokens: 8,
                ..GeneratorConfig::default()
            },
            intent_hidden: 1024,
            dropout: 0.1,
            precise_user: "{soft}\nRewrite this request as one precise, specific instruction: {raw}"
                .into(),
            structured_user: "{soft}\nRewrite this request as a structured prompt (persona, context, task, constraints, steps, goal): {raw}".into(),
            max_raw_chars: 600,
        }
    }
}

/// Identity of a saved optimizer: its shape and what it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerManifest {
    /// Shape.
    pub config: OptimizerConfig,
    /// Base GGUF file name.
    pub base_name: String,
    /// sha256 of the base GGUF.
    pub base_sha256: String,
    /// Embedder of the raw prompts.
    pub embedder: String,
    /// Its dimension.
    pub embedder_dim: usize,
}

/// `Linear → ReLU → Dropout → Linear`: raw-prompt embedding → optimized intent.
pub struct IntentNet {
    l1: Linear,
    l2: Linear,
    dropout: f32,
}

impl IntentNet {
    /// A network `dim → hidden → dim` in `vb`.
    pub fn new(
        dim: usize,
        hidden: usize,
        dropout: f32,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            l1: candle_nn::linear(dim, hidden, vb.pp("l1"))?,
            l2: candle_nn::linear(hidden, dim, vb.pp("l2"))?,
            dropout,
        })
    }

    /// `(B, dim)` → `(B, dim)`; dropout only when `train`.
    pub fn forward(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut h = self.l1.forward(x)?.relu()?;
        if train && self.dropout > 0.0 {
            h = candle_nn::ops::dropout(&h, self.dropout)?;
        }
        self.l2.forward(&h)
    }
}

/// Samples drawn to look for a precise rewrite that keeps the user's words when the
/// greedy one drops or adds a content word.
pub const KEEP_WORDS_SAMPLES: usize = 4;

/// When one precise rewrite is wanted, the samples drawn beside the greedy one stop this
/// many tokens after it ends.
pub const KEEP_WORDS_EXTRA_TOKENS: usize = 12;

/// A loaded (or fresh) prompt optimizer.
pub struct PromptOptimizer {
    /// The frozen base model.
    pub base: Base,
    /// Projector + adapters on the base, and their merged copy for rewriting.
    networks: Networks,
    /// The same base with untrained adapters: the KL penalty's reference (released with
    /// the model).
    reference: Option<GeneratorModel>,
    /// The intent network.
    pub intent: IntentNet,
    /// Every trainable tensor (`intent.*`, `generator.*`).
    pub varmap: VarMap,
    /// Special ids never written.
    pub banned: Vec<u32>,
    /// Identity.
    pub manifest: OptimizerManifest,
    /// Forward passes rewriting has run (a context or one step of a batch each).
    passes: AtomicU64,
    /// The structured style's frame in this base's tokens (built on first use).
    frame: std::sync::OnceLock<std::sync::Arc<Scaffold>>,
}

impl PromptOptimizer {
    /// A fresh optimizer on `base` (adapters untrained: the base model's behaviour).
    pub fn with_base(base: Base, manifest: OptimizerManifest) -> Result<Self> {
        let c = &manifest.config;
        if c.generator.condition != manifest.embedder_dim {
            return Err(Error::invalid(
                "optimizer config",
                format!(
                    "condition width {} differs from the embedder's dimension {}",
                    c.generator.condition, manifest.embedder_dim
                ),
            ));
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = GeneratorModel::new(base.weights()?, &c.generator, vb.pp("generator"))
            .map_err(candle_err("optimizer"))?;
        let intent = IntentNet::new(
            c.generator.condition,
            c.intent_hidden,
            c.dropout,
            vb.pp("intent"),
        )
        .map_err(candle_err("optimizer"))?;
        let reference_vars = VarMap::new();
        let rvb = VarBuilder::from_varmap(&reference_vars, DType::F32, &Device::Cpu);
        let reference = GeneratorModel::new(base.weights()?, &c.generator, rvb)
            .map_err(candle_err("optimizer reference"))?;
        let end = base.layout(&GeneratorConfig {
            user: "{soft}".into(),
            ..c.generator.clone()
        })?;
        let banned = base.banned(end.end);
        Ok(Self {
            base,
            networks: Networks::new("optimizer", model),
            reference: Some(reference),
            intent,
            varmap,
            banned,
            manifest,
            passes: AtomicU64::new(0),
            frame: std::sync::OnceLock::new(),
        })
    }

    /// Forward passes rewriting has run since loading (a context or one step of a batch
    /// each): a server's `/metrics` shows it, so that a rewrite stopped for a client that
    /// left can be seen to stop.
    pub fn forward_passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Rewrites from now on with the adapters merged into a copy of the base held in
    /// `format` (int8 by default: several times faster than the f32 network training
    /// uses). The merge copies the adapters as they are, so it is for an optimizer that is
    /// done training; [`PromptOptimizer::unmerge`] goes back to the live network.
    pub fn merge_for_inference(&mut self, format: WeightFormat) -> Result<()> {
        self.networks.merge(format)
    }

    /// Rewrites with the trainable network again (drops the merged copy); an error once
    /// that network was released.
    pub fn unmerge(&mut self) -> Result<()> {
        self.networks.unmerge()
    }

    /// Drops the trainable network, its reference and the base's f32 weights, keeping
    /// the merged copy and the intent network rewriting needs: for a server or a command
    /// that only rewrites, this frees most of the optimizer's memory. Training or
    /// unmerging is an error afterwards.
    pub fn release_training_weights(&mut self) -> Result<()> {
        self.networks.release()?;
        self.reference = None;
        self.base.release_weights();
        Ok(())
    }

    /// The trainable network; an error once it was released for inference.
    pub fn model(&self) -> Result<&GeneratorModel> {
        self.networks.trainable()
    }

    /// The KL penalty's frozen reference; an error once it was released for inference.
    pub fn reference(&self) -> Result<&GeneratorModel> {
        self.reference.as_ref().ok_or_else(|| released("optimizer"))
    }

    /// Loads the base GGUF and the optimizer saved in `dir`, checking the base is the one
    /// it was trained on.
    pub fn load(base_gguf: &Path, dir: &Path) -> Result<Self> {
        let mpath = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&mpath).map_err(|e| Error::io(&mpath, e))?;
        let manifest: OptimizerManifest = serde_json::from_str(&text).map_err(|e| {
            Error::model(&mpath, e.to_string(), "the optimizer manifest is invalid")
        })?;
        let base = Base::load(base_gguf)?;
        if base.sha256 != manifest.base_sha256 {
            return Err(Error::model(
                base_gguf,
                format!(
                    "the optimizer in {} was trained on {} (sha256 {}), not on this file",
                    dir.display(),
                    manifest.base_name,
                    manifest.base_sha256
                ),
                "give the base model the optimizer was trained on",
            ));
        }
        let o = Self::with_base(base, manifest)?;
        let wpath = dir.join(WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load(&wpath, &Device::Cpu).map_err(|e| {
            Error::model(&wpath, e.to_string(), "the optimizer weights are damaged")
        })?;
        o.set_weights(&tensors)
            .map_err(|e| Error::model(&wpath, e, "retrain the optimizer"))?;
        Ok(o)
    }

    /// Sets every trainable tensor from `tensors`.
    pub fn set_weights(
        &self,
        tensors: &HashMap<String, Tensor>,
    ) -> std::result::Result<(), String> {
        set_vars(&self.varmap, tensors)
    }

    /// Writes the trainable tensors (f16) and the manifest into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tensors: HashMap<String, Tensor> = vec2prompt_latent::params::weights(&self.varmap)
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_dtype(DType::F16)?)))
            .collect::<candle_core::Result<_>>()
            .map_err(candle_err("optimizer"))?;
        vec2prompt_core::write_atomic_with(&dir.join(WEIGHTS_FILE), |tmp| {
            candle_core::safetensors::save(&tensors, tmp).map_err(candle_err("optimizer"))
        })?;
        let json = serde_json::to_string_pretty(&self.manifest)
            .map_err(|e| Error::invalid("manifest", e.to_string()))?;
        vec2prompt_core::write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())
    }

    /// The conversation of `raw` in `style`: the raw prompt (control characters removed,
    /// cut at `max_raw_chars`) after the soft tokens in the user turn.
    pub fn layout(&self, raw: &str, style: Style) -> Result<Layout> {
        let c = &self.manifest.config;
        let clean: String = raw
            .chars()
            .filter(|ch| !ch.is_control() || *ch == '\n')
            .take(c.max_raw_chars)
            .collect::<String>()
            .replace("{soft}", "{ soft }");
        let template = match style {
            Style::Precise => &c.precise_user,
            Style::Structured => &c.structured_user,
        };
        let generator = GeneratorConfig {
            user: template.replace(RAW_MARKER, clean.trim()),
            ..c.generator.clone()
        };
        self.base.layout(&generator)
    }

    /// The structured style's frame: [`crate::structured::FRAME`] in the base's tokens,
    /// with every token that holds a line break ending the model's line.
    pub fn frame(&self) -> Result<std::sync::Arc<Scaffold>> {
        if let Some(f) = self.frame.get() {
            return Ok(f.clone());
        }
        let tok = &self.base.tokenizer;
        let heads = crate::structured::FRAME
            .iter()
            .map(|h| tok.encode(h))
            .collect::<Result<Vec<_>>>()?;
        let mut line_end = Vec::with_capacity(tok.tokens.len());
        let mut mixed = Vec::new();
        for id in 0..tok.tokens.len() as u32 {
            let text = tok.decode(&[id])?;
            let breaks = text.contains('\n');
            line_end.push(breaks && text.trim().is_empty());
            if breaks && !text.trim().is_empty() {
                mixed.push(id);
            }
        }
        let frame = Scaffold::new(heads, line_end, crate::structured::LINE_MAX_TOKENS)
            .map_err(candle_err("optimizer"))?
            .banning(mixed);
        Ok(self
            .frame
            .get_or_init(|| std::sync::Arc::new(frame))
            .clone())
    }

    /// The plain conversation of a layout (its soft tokens left out): the reference
    /// model's context.
    pub fn plain_context(layout: &Layout) -> Vec<u32> {
        let mut ids = layout.prefix.clone();
        ids.extend_from_slice(&layout.suffix);
        ids
    }

    /// The intent vectors of raw-prompt embeddings (`rows × dim`), without a graph.
    pub fn intents(&self, e_raw: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let t = self.rows(e_raw)?;
        self.intent
            .forward(&t, false)
            .and_then(|i| i.to_vec2::<f32>())
            .map_err(candle_err("optimizer"))
    }

    /// `rows` as a `(B, dim)` tensor, checking their width.
    pub fn rows(&self, rows: &[Vec<f32>]) -> Result<Tensor> {
        let dim = self.manifest.embedder_dim;
        if let Some(bad) = rows.iter().find(|r| r.len() != dim) {
            return Err(Error::invalid(
                "embedding",
                format!(
                    "has {} numbers but the optimizer was trained on {dim}-dimensional embeddings ({})",
                    bad.len(),
                    self.manifest.embedder
                ),
            ));
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), dim), &Device::Cpu).map_err(candle_err("embedding"))
    }

    /// The rewrites a request drafts for `raw` (whose instruction embeds to `e_raw`): the
    /// greedy one first, then seeded samples, `want` in all at most. In the precise style
    /// a rewrite that keeps every content word of the raw instruction and adds none
    /// ([`crate::judge::drifts`]) goes before one that does not; to find one when the
    /// greedy rewrite drifts, at least [`KEEP_WORDS_SAMPLES`] samples are drawn, in the
    /// same batch as the greedy rewrite (one context pass; when one rewrite is wanted the
    /// samples stop a few tokens after the greedy one: restoring a word or two takes no
    /// more).
    #[allow(clippy::too_many_arguments)]
    pub fn drafts_until(
        &self,
        raw: &str,
        e_raw: &[f32],
        style: Style,
        want: usize,
        max_tokens: usize,
        seed: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<String>> {
        let sample = |greedy_first: Option<usize>| DecodeOptions {
            strategy: Strategy::Sample {
                temperature: 0.8,
                top_p: 0.95,
                seed,
            },
            max_tokens,
            greedy_first,
            ..DecodeOptions::default()
        };
        let mut texts = if style == Style::Precise {
            // The greedy row and at least `want` samples (duplicates are dropped).
            let rows = 1 + want.max(KEEP_WORDS_SAMPLES);
            let cap = if want <= 1 {
                KEEP_WORDS_EXTRA_TOKENS
            } else {
                max_tokens
            };
            self.optimize_until(raw, e_raw, style, rows, &sample(Some(cap)), stop)?
        } else {
            let greedy = DecodeOptions {
                max_tokens,
                ..DecodeOptions::default()
            };
            let mut texts = self.optimize_until(raw, e_raw, style, 1, &greedy, stop)?;
            if want > texts.len() {
                for s in self.optimize_until(raw, e_raw, style, want, &sample(None), stop)? {
                    if !texts.contains(&s) {
                        texts.push(s);
                    }
                }
            }
            texts
        };
        if style == Style::Precise {
            let instruction = crate::vague::split_prompt(raw).0;
            // Stable: the greedy rewrite first within each group.
            texts.sort_by_key(|t| crate::judge::drifts(instruction, t));
        }
        texts.truncate(want);
        Ok(texts)
    }

    /// Up to `n` improved prompts for `raw` (whose embedding is `e_raw`) in `style`,
    /// most likely first, duplicates and empty ones dropped.
    pub fn optimize(
        &self,
        raw: &str,
        e_raw: &[f32],
        style: Style,
        n: usize,
        options: &DecodeOptions,
    ) -> Result<Vec<String>> {
        self.optimize_until(raw, e_raw, style, n, options, &|| false)
    }

    /// [`PromptOptimizer::optimize`], asking `stop` before every forward pass: once it
    /// says true the rewrite ends with an error (a server stops writing for a client that
    /// left within one step).
    pub fn optimize_until(
        &self,
        raw: &str,
        e_raw: &[f32],
        style: Style,
        n: usize,
        options: &DecodeOptions,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<String>> {
        let layout = self.layout(raw, style)?;
        let framed;
        let options = match style {
            Style::Precise => options,
            Style::Structured => {
                // The caller's own frame, if it brought one (e.g. shorter lines).
                let frame = match &options.scaffold {
                    Some(f) => f.clone(),
                    None => self.frame()?,
                };
                framed = DecodeOptions {
                    scaffold: Some(frame),
                    ..options.clone()
                };
                &framed
            }
        };
        let cond = self.rows(&[e_raw.to_vec()])?;
        let intent = self
            .intent
            .forward(&cond, false)
            .map_err(candle_err("optimizer"))?;
        let counted = || {
            let stopped = stop();
            if !stopped {
                self.passes.fetch_add(1, Ordering::Relaxed);
            }
            stopped
        };
        let decoded =
            self.networks
                .decode_until(&layout, &intent, n, options, &self.banned, &counted)?;
        let mut out: Vec<String> = Vec::new();
        for d in decoded.into_iter().flatten() {
            let text = self.base.tokenizer.decode(&d.ids)?.trim().to_string();
            if !text.is_empty() && !out.contains(&text) {
                out.push(text);
            }
        }
        Ok(out)
    }
}
