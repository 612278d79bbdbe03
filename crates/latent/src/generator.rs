//! [`Generator`]: target embedding → prompts, from a frozen GGUF base model plus a small
//! trained adapter (soft-prompt projector + LoRA), and the adapter's file format.
//!
//! The adapter directory holds `generator.safetensors` (the trainable tensors in f16) and
//! `generator.json` ([`AdapterManifest`]: the shape, the sha256 of the base GGUF it was
//! trained on, and the embedder's name and dimension). Loading it on another base or with
//! a condition of another width is an error that says so.
//!
//! The conversation the base model sees is its own chat template with a system turn, a
//! user turn holding the `K` soft tokens inside a short fixed instruction ("here is an
//! answer: … write the instruction that asks for it"), and the assistant turn, which is
//! the prompt to write. Keeping the model in its instruction-following mode means that an
//! untrained adapter (LoRA `B` = 0) already writes instruction-like text, and training only
//! has to teach it which instruction.

use crate::candle_err;
use crate::generator_decode::{DecodeOptions, Decoded, StopCheck, Strategy};
use crate::generator_model::{BaseWeights, GeneratorConfig, GeneratorModel, Layout, SOFT_MARKER};
use crate::merged::{Networks, released};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use vec2prompt_core::{Error, Result};
use vec2prompt_llm::WeightFormat;
use vec2prompt_llm::chat::{ChatTemplate, Message};
use vec2prompt_llm::gguf::GgufFile;
use vec2prompt_llm::tokenizer::GgufTokenizer;

/// File name of the adapter weights.
pub const WEIGHTS_FILE: &str = "generator.safetensors";
/// File name of the adapter manifest.
pub const MANIFEST_FILE: &str = "generator.json";

/// What an adapter needs from its surroundings, saved next to its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterManifest {
    /// Shape of the trainable part.
    pub config: GeneratorConfig,
    /// File name of the base GGUF it was trained on.
    pub base_name: String,
    /// sha256 of that file.
    pub base_sha256: String,
    /// Embedder whose vectors condition it.
    pub embedder: String,
    /// Its dimension (= `config.condition`).
    pub embedder_dim: usize,
}

/// sha256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The base model and what surrounds it: weights, tokenizer, chat template, identity.
pub struct Base {
    /// f32 weights, until released for inference ([`Base::weights`]).
    weights: Option<BaseWeights>,
    /// Its tokenizer.
    pub tokenizer: GgufTokenizer,
    /// Its chat template.
    pub template: ChatTemplate,
    /// File name.
    pub name: String,
    /// sha256 of the GGUF file.
    pub sha256: String,
    /// Where it was read from.
    pub path: PathBuf,
}

impl Base {
    /// Reads a llama-family GGUF, dequantizing it to f32 once.
    pub fn load(path: &Path) -> Result<Self> {
        let mut file = GgufFile::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&file)?;
        let template = ChatTemplate::from_gguf(&file, &tokenizer)?;
        let weights = BaseWeights::from_gguf(&mut file)?;
        Ok(Self {
            weights: Some(weights),
            tokenizer,
            template,
            name: path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: file_sha256(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The f32 weights that training builds on; an error once they were released.
    pub fn weights(&self) -> Result<&BaseWeights> {
        self.weights.as_ref().ok_or_else(|| released("base model"))
    }

    /// Drops the f32 weights (hundreds of megabytes) once nothing will train on them:
    /// a merged model keeps what it decodes with.
    pub fn release_weights(&mut self) {
        self.weights = None;
    }

    /// The token layout of `config`'s conversation in this model's chat template.
    pub fn layout(&self, config: &GeneratorConfig) -> Result<Layout> {
        let Some((before, after)) = config.user.split_once(SOFT_MARKER) else {
            return Err(Error::invalid(
                "generator user turn",
                format!("must contain {SOFT_MARKER}"),
            ));
        };
        // A marker no tokenizer merges with its neighbours splits the rendered text where
        // the soft tokens go.
        let marker = "\u{1}SOFT\u{1}";
        let user = format!("{before}{marker}{after}");
        let text = self.template.render(&[
            Message {
                role: "system",
                content: &config.system,
            },
            Message {
                role: "user",
                content: &user,
            },
        ])?;
        let (pre, post) = text
            .split_once(marker)
            .ok_or_else(|| Error::invalid("chat template", "dropped the user turn's text"))?;
        let prefix = self.tokenizer.encode(pre)?;
        let suffix = self.tokenizer.encode(post)?;
        // The user turn is closed by the template's end-of-turn marker: the same id ends
        // the assistant's prompt.
        let end = suffix
            .iter()
            .copied()
            .find(|id| self.tokenizer.stop_ids.contains(id))
            .or(self.tokenizer.eos_id)
            .ok_or_else(|| Error::invalid("chat template", "no end-of-turn token"))?;
        Ok(Layout {
            prefix,
            suffix,
            end,
        })
    }

    /// Special (control) token ids other than `end`: never emitted in a prompt.
    pub fn banned(&self, end: u32) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .tokenizer
            .inner
            .get_added_tokens_decoder()
            .iter()
            .filter(|(id, t)| t.special && **id != end)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Token ids of a prompt as the assistant's text (no end id).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        self.tokenizer.encode(prompt)
    }
}

/// A generator: base + adapter, ready to write prompts.
pub struct Generator {
    /// The base model.
    pub base: Base,
    /// The trainable network and its merged copy for decoding.
    networks: Networks,
    /// The trainable tensors.
    pub varmap: VarMap,
    /// The conversation's token layout.
    pub layout: Layout,
    /// Ids never emitted.
    pub banned: Vec<u32>,
    /// Identity of the adapter.
    pub manifest: AdapterManifest,
    /// Asked before every forward pass of a decode (see [`Generator::set_stop_check`]).
    stop: RwLock<Option<StopCheck>>,
    /// Forward passes decoding has run (a context or one step of a batch each).
    passes: AtomicU64,
}

impl Generator {
    /// Loads the base GGUF and the adapter in `adapter_dir`, checking that the adapter
    /// was trained on this very base.
    pub fn load(base_gguf: &Path, adapter_dir: &Path) -> Result<Self> {
        let mpath = adapter_dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&mpath).map_err(|e| Error::io(&mpath, e))?;
        let manifest: AdapterManifest = serde_json::from_str(&text)
            .map_err(|e| Error::model(&mpath, e.to_string(), "the adapter manifest is invalid"))?;
        let base = Base::load(base_gguf)?;
        if base.sha256 != manifest.base_sha256 {
            return Err(Error::model(
                base_gguf,
                format!(
                    "the adapter in {} was trained on {} (sha256 {}), not on this file (sha256 {})",
                    adapter_dir.display(),
                    manifest.base_name,
                    manifest.base_sha256,
                    base.sha256
                ),
                "give the base model the adapter was trained on",
            ));
        }
        let g = Self::with_base(base, manifest)?;
        let wpath = adapter_dir.join(WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load(&wpath, &Device::Cpu)
            .map_err(|e| Error::model(&wpath, e.to_string(), "the adapter weights are damaged"))?;
        set_vars(&g.varmap, &tensors).map_err(|e| Error::model(&wpath, e, "retrain"))?;
        Ok(g)
    }

    /// A generator with a fresh adapter (LoRA `B` = 0: the base model's behaviour; the
    /// projector random) for conditions from `embedder` of width `config.condition`.
    pub fn with_base(base: Base, manifest: AdapterManifest) -> Result<Self> {
        if manifest.config.condition != manifest.embedder_dim {
            return Err(Error::invalid(
                "generator config",
                format!(
                    "condition width {} differs from the embedder's dimension {}",
                    manifest.config.condition, manifest.embedder_dim
                ),
            ));
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = GeneratorModel::new(base.weights()?, &manifest.config, vb)
            .map_err(candle_err("generator"))?;
        let layout = base.layout(&manifest.config)?;
        let banned = base.banned(layout.end);
        Ok(Self {
            base,
            networks: Networks::new("generator", model),
            varmap,
            layout,
            banned,
            manifest,
            stop: RwLock::new(None),
            passes: AtomicU64::new(0),
        })
    }

    /// Installs (or with `None` removes) a check asked before every forward pass of every
    /// decode: when it says true the decode ends with an error, so a server can stop
    /// writing prompts nobody waits for within one step.
    pub fn set_stop_check(&self, check: Option<StopCheck>) {
        if let Ok(mut slot) = self.stop.write() {
            *slot = check;
        }
    }

    /// Forward passes decoding has run since loading (a context or one step of a batch
    /// each).
    pub fn forward_passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Decodes from now on with the adapters merged into a copy of the base held in
    /// `format` (int8 by default: several times faster than the f32 network training
    /// uses). The merge copies the adapters as they are, so it is for a generator that
    /// is done training; [`Generator::unmerge`] goes back to the live network.
    pub fn merge_for_inference(&mut self, format: WeightFormat) -> Result<()> {
        self.networks.merge(format)
    }

    /// Decodes with the trainable network again (drops the merged copy); an error once
    /// that network was released.
    pub fn unmerge(&mut self) -> Result<()> {
        self.networks.unmerge()
    }

    /// Drops the trainable network and the base's f32 weights, keeping only the merged
    /// copy decoding needs: for a server or a command that only writes prompts, this
    /// frees most of the generator's memory. Training or unmerging is an error afterwards.
    pub fn release_training_weights(&mut self) -> Result<()> {
        self.networks.release()?;
        self.base.release_weights();
        Ok(())
    }

    /// The trainable network; an error once it was released for inference.
    pub fn model(&self) -> Result<&GeneratorModel> {
        self.networks.trainable()
    }

    /// Whether decoding uses the merged copy.
    pub fn is_merged(&self) -> bool {
        self.networks.is_merged()
    }

    /// `n` prompts for each target vector with `strategy` and the default repetition
    /// controls (greedy gives one per target).
    pub fn generate(
        &self,
        targets: &[Vec<f32>],
        n: usize,
        strategy: Strategy,
    ) -> Result<Vec<Vec<String>>> {
        let options = DecodeOptions {
            strategy,
            ..DecodeOptions::default()
        };
        Ok(self
            .generate_with(targets, n, &options)?
            .into_iter()
            .map(|ps| ps.into_iter().map(|(text, _)| text).collect())
            .collect())
    }

    /// Like [`Generator::generate`] with every decoding option, returning each prompt
    /// with its token-level result.
    pub fn generate_with(
        &self,
        targets: &[Vec<f32>],
        n: usize,
        options: &DecodeOptions,
    ) -> Result<Vec<Vec<(String, Decoded)>>> {
        let dim = self.manifest.config.condition;
        if let Some(bad) = targets.iter().find(|t| t.len() != dim) {
            return Err(Error::invalid(
                "target",
                format!(
                    "has {} numbers but the generator was trained on {}-dimensional embeddings ({})",
                    bad.len(),
                    dim,
                    self.manifest.embedder
                ),
            ));
        }
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = targets.iter().flatten().copied().collect();
        let conds = Tensor::from_vec(flat, (targets.len(), dim), &Device::Cpu)
            .map_err(candle_err("target"))?;
        let check = self.stop.read().ok().and_then(|c| c.clone());
        let stop = || {
            let stopped = check.as_ref().is_some_and(|c| c());
            if !stopped {
                self.passes.fetch_add(1, Ordering::Relaxed);
            }
            stopped
        };
        let decoded =
            self.networks
                .decode_until(&self.layout, &conds, n, options, &self.banned, &stop)?;
        decoded
            .into_iter()
            .map(|ds| {
                ds.into_iter()
                    .map(|d| Ok((self.base.tokenizer.decode(&d.ids)?.trim().to_string(), d)))
                    .collect()
            })
            .collect()
    }

    /// Like [`Generator::generate`], each target's prompts (duplicates dropped) ordered by
    /// the surrogate's predicted similarity of their answers to the target rather than by
    /// log-probability: `embedder` embeds the prompts, `surrogate` predicts E(answer).
    pub fn generate_ranked(
        &self,
        targets: &[Vec<f32>],
        n: usize,
        strategy: Strategy,
        embedder: &dyn vec2prompt_core::Embedder,
        surrogate: &crate::LatentModel,
    ) -> Result<Vec<Vec<(String, f32)>>> {
        let prompts = self.generate(targets, n, strategy)?;
        rank_by(prompts, targets, &|texts: &[String], target: &[f32]| {
            let predicted = surrogate.predict(&embedder.embed(texts)?)?;
            Ok(predicted
                .iter()
                .map(|p| vec2prompt_core::cosine(p, target))
                .collect())
        })
    }

    /// Writes the adapter (f16) and its manifest into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_adapter(&self.varmap, &self.manifest, dir)
    }
}

/// A scorer of one target's candidate prompts (higher is better).
pub type Scorer<'a> = dyn Fn(&[String], &[f32]) -> Result<Vec<f32>> + 'a;

/// Each target's prompts without duplicates or empty ones, best `score` first.
pub fn rank_by(
    prompts: Vec<Vec<String>>,
    targets: &[Vec<f32>],
    score: &Scorer,
) -> Result<Vec<Vec<(String, f32)>>> {
    prompts
        .into_iter()
        .zip(targets)
        .map(|(ps, target)| {
            let mut unique: Vec<String> = Vec::with_capacity(ps.len());
            for p in ps {
                if !p.is_empty() && !unique.contains(&p) {
                    unique.push(p);
                }
            }
            if unique.is_empty() {
                return Ok(Vec::new());
            }
            let scores = score(&unique, target)?;
            if scores.len() != unique.len() {
                return Err(Error::invalid(
                    "scorer",
                    format!("{} scores for {} prompts", scores.len(), unique.len()),
                ));
            }
            let mut ranked: Vec<(String, f32)> = unique.into_iter().zip(scores).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            Ok(ranked)
        })
        .collect()
}

/// Sets every variable of `varmap` from `tensors` (converted to f32).
pub fn set_vars(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
) -> std::result::Result<(), String> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| "poisoned".to_string())?
        .clone();
    for (name, var) in vars {
        let t = tensors
            .get(&name)
            .ok_or_else(|| format!("the adapter lacks {name}"))?;
        if t.dims() != var.dims() {
            return Err(format!(
                "{name} has shape {:?}, the model expects {:?}",
                t.dims(),
                var.dims()
            ));
        }
        let t = t.to_dtype(DType::F32).map_err(|e| e.to_string())?;
        var.set(&t).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes `varmap`'s tensors in f16 and `manifest` into `dir`, each file atomically.
pub fn save_adapter(varmap: &VarMap, manifest: &AdapterManifest, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tensors: HashMap<String, Tensor> = crate::params::weights(varmap)
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_dtype(DType::F16)?)))
        .collect::<candle_core::Result<_>>()
        .map_err(candle_err("adapter"))?;
    let path = dir.join(WEIGHTS_FILE);
    vec2prompt_core::write_atomic_with(&path, |tmp| {
        candle_core::safetensors::save(&tensors, tmp).map_err(candle_err("adapter"))
    })?;
    let json = serde_json::to_string_pretty(manifest)
        .map_err(|e| Error::invalid("manifest", e.to_string()))?;
    vec2prompt_core::write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_follows_the_scorer_and_drops_duplicates() {
        let prompts = vec![vec![
            "bb".to_string(),
            "a".into(),
            "bb".into(),
            "ccc".into(),
            String::new(),
        ]];
        // Scores the length of each prompt, weighted by the target.
        let score = |texts: &[String], target: &[f32]| -> Result<Vec<f32>> {
            Ok(texts.iter().map(|t| t.len() as f32 * target[0]).collect())
        };
        let up = rank_by(prompts.clone(), &[vec![1.0]], &score).unwrap();
        let order: Vec<&str> = up[0].iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(order, ["ccc", "bb", "a"]);
        let down = rank_by(prompts, &[vec![-1.0]], &score).unwrap();
        assert_eq!(down[0][0].0, "a");
    }
}
