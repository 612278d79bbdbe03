//! The trained latent-space models, loaded together from one directory: `tokenizer.json`,
//! and for each of `surrogate`, `inverter`, `corrector` a `<name>.safetensors` (f16 or f32)
//! with its `<name>.json` shape. The inverter and corrector are optional; the surrogate
//! is required. `embedder.json` names the embedder the models were trained for, so a
//! search with another embedder is refused rather than fed vectors of another space.

use crate::bpe::{BOS, PromptTokenizer, SEP};
use crate::decode::{Decoded, Strategy, beam_batch, beam_batch_from, decode, sample_batch};
use crate::decoder::{ConditionalDecoder, DecoderConfig};
use crate::surrogate::{Surrogate, SurrogateConfig};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use vec2prompt_core::{EmbedderInfo, Error, Result};

/// The loaded models.
pub struct LatentModel {
    /// Where they were loaded from.
    pub dir: PathBuf,
    /// Prompt embedding → predicted answer embedding.
    pub surrogate: Surrogate,
    /// The prompt tokenizer (present with a decoder).
    pub tokenizer: Option<PromptTokenizer>,
    /// Answer embedding → prompt.
    pub inverter: Option<ConditionalDecoder>,
    /// (e*, ê, e* − ê) + current prompt → better prompt.
    pub corrector: Option<ConditionalDecoder>,
    /// The embedder the models were trained for, when recorded (`embedder.json`).
    pub embedder: Option<EmbedderInfo>,
}

/// The file naming the embedder of a model directory.
const EMBEDDER_FILE: &str = "embedder.json";

/// Whether two embedders make vectors of the same space: the same model (name) and
/// width. Pooling and normalization are the model's own, not a choice of the caller.
pub fn same_space(a: &EmbedderInfo, b: &EmbedderInfo) -> bool {
    a.name == b.name && a.dimension == b.dimension
}

/// Records in `dir` that its models are trained for `embedder`, refusing a directory
/// whose models were trained for another one (mixing them would pair a surrogate of one
/// space with an inverter of another).
pub fn claim_for_embedder(dir: &Path, embedder: &EmbedderInfo) -> Result<()> {
    let path = dir.join(EMBEDDER_FILE);
    if path.exists() {
        let recorded: EmbedderInfo = read_json(&path)?;
        if !same_space(&recorded, embedder) {
            return Err(Error::invalid(
                "--out",
                format!(
                    "the models in {} were trained for the embedder {} ({} dimensions), not {} \
                     ({} dimensions): train into another directory",
                    dir.display(),
                    recorded.name,
                    recorded.dimension,
                    embedder.name,
                    embedder.dimension
                ),
            ));
        }
        return Ok(());
    }
    let text = serde_json::to_string_pretty(embedder).map_err(|e| model_err(&path, e))?;
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

fn model_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::model(
        path,
        e.to_string(),
        "train it with `vec2prompt train` or point --latent at a trained model directory",
    )
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| model_err(path, e))
}

fn var_builder(path: &Path) -> Result<VarBuilder<'static>> {
    // SAFETY: the file is memory-mapped read-only; vec2prompt never writes a model file in
    // place (exports go through a temporary name and a rename).
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, &Device::Cpu) }
        .map_err(|e| model_err(path, e))
}

impl LatentModel {
    /// Whether `dir` holds at least a surrogate.
    pub fn exists(dir: &Path) -> bool {
        dir.join("surrogate.safetensors").exists()
    }

    /// Loads every model present in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let sp = dir.join("surrogate.safetensors");
        if !sp.exists() {
            return Err(model_err(&sp, "no surrogate in the model directory"));
        }
        let sc: SurrogateConfig = read_json(&dir.join("surrogate.json"))?;
        let surrogate = Surrogate::new(&sc, var_builder(&sp)?).map_err(|e| model_err(&sp, e))?;
        let tp = dir.join("tokenizer.json");
        let tokenizer = if tp.exists() {
            Some(PromptTokenizer::load(&tp)?)
        } else {
            None
        };
        let decoder = |name: &str| -> Result<Option<ConditionalDecoder>> {
            let p = dir.join(format!("{name}.safetensors"));
            if !p.exists() || tokenizer.is_none() {
                return Ok(None);
            }
            let c: DecoderConfig = read_json(&dir.join(format!("{name}.json")))?;
            Ok(Some(
                ConditionalDecoder::new(&c, var_builder(&p)?).map_err(|e| model_err(&p, e))?,
            ))
        };
        let ep = dir.join(EMBEDDER_FILE);
        let embedder = if ep.exists() {
            Some(read_json(&ep)?)
        } else {
            None
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            embedder,
            inverter: decoder("inverter")?,
            corrector: decoder("corrector")?,
            surrogate,
            tokenizer,
        })
    }

    /// Assembles already built models (tests, custom training code).
    pub fn from_parts(
        dir: PathBuf,
        surrogate: Surrogate,
        tokenizer: Option<PromptTokenizer>,
        inverter: Option<ConditionalDecoder>,
        corrector: Option<ConditionalDecoder>,
    ) -> Self {
        Self {
            dir,
            surrogate,
            tokenizer,
            inverter,
            corrector,
            embedder: None,
        }
    }

    /// Predicted answer embeddings of prompt embeddings.
    pub fn predict(&self, prompt_vectors: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.surrogate
            .predict(prompt_vectors)
            .map_err(|e| model_err(&self.dir, e))
    }

    fn texts(&self, decoded: Vec<Decoded>) -> Result<Vec<String>> {
        let Some(tok) = &self.tokenizer else {
            return Ok(Vec::new());
        };
        let mut out: Vec<String> = Vec::new();
        for d in decoded {
            let t = tok.decode(&d.ids)?.trim().to_string();
            if !t.is_empty() && !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Prompts decoded by the inverter from `target`, best first (none without an
    /// inverter).
    pub fn invert(&self, target: &[f32], strategy: Strategy) -> Result<Vec<String>> {
        let Some(inv) = &self.inverter else {
            return Ok(Vec::new());
        };
        let max = inv.config().max_tokens;
        let decoded =
            decode(inv, target, &[BOS], strategy, max).map_err(|e| model_err(&self.dir, e))?;
        self.texts(decoded)
    }

    /// The inverter's greedy prompt for each of `targets` (at most `max_new` tokens),
    /// decoded as one batch (an empty string where it decoded nothing; none without an
    /// inverter).
    pub fn invert_greedy_batch(&self, targets: &[Vec<f32>], max_new: usize) -> Result<Vec<String>> {
        let (Some(inv), Some(tok)) = (&self.inverter, &self.tokenizer) else {
            return Ok(Vec::new());
        };
        beam_batch(inv, targets, &[BOS], 1, max_new)
            .map_err(|e| model_err(&self.dir, e))?
            .iter()
            .map(|d| match d.first() {
                Some(best) => Ok(tok.decode(&best.ids)?.trim().to_string()),
                None => Ok(String::new()),
            })
            .collect()
    }

    /// Beam search of `width` (1: greedy) from the inverter for each of `targets`, decoded
    /// as one batch (the same prompts as [`Self::invert`] with [`Strategy::Beam`]); none
    /// without an inverter.
    pub fn invert_beams_batch(
        &self,
        targets: &[Vec<f32>],
        width: usize,
    ) -> Result<Vec<Vec<String>>> {
        let Some(inv) = &self.inverter else {
            return Ok(Vec::new());
        };
        let max = inv.config().max_tokens;
        beam_batch(inv, targets, &[BOS], width, max)
            .map_err(|e| model_err(&self.dir, e))?
            .into_iter()
            .map(|d| self.texts(d))
            .collect()
    }

    /// `n` seeded samples from the inverter for each of `targets` (target `i` with
    /// `seeds[i]`, the same prompts as [`Self::invert`] with [`Strategy::Sample`] and that
    /// seed), decoded as one batch; none without an inverter.
    pub fn invert_samples_batch(
        &self,
        targets: &[Vec<f32>],
        n: usize,
        temperature: f32,
        top_p: f32,
        seeds: &[u64],
    ) -> Result<Vec<Vec<String>>> {
        let Some(inv) = &self.inverter else {
            return Ok(Vec::new());
        };
        let max = inv.config().max_tokens;
        sample_batch(inv, targets, &[BOS], n, temperature, top_p, seeds, max)
            .map_err(|e| model_err(&self.dir, e))?
            .into_iter()
            .map(|d| self.texts(d))
            .collect()
    }

    /// [`Self::correct`] with beam search of `width` for many targets at once: target `i`'s
    /// `currents[i]` (whose answer embeds to `current_answers[i]`) is rewritten towards
    /// `targets[i]`; all rewrites decode in shared forward passes. Each target gets what a
    /// one-target call gives; empty lists without a corrector.
    pub fn correct_batch(
        &self,
        targets: &[Vec<f32>],
        current_answers: &[Vec<f32>],
        currents: &[String],
        hypothesis_tokens: usize,
        width: usize,
    ) -> Result<Vec<Vec<String>>> {
        let (Some(cor), Some(tok)) = (&self.corrector, &self.tokenizer) else {
            return Ok(vec![Vec::new(); targets.len()]);
        };
        let mut conditions = Vec::with_capacity(targets.len());
        let mut starts = Vec::with_capacity(targets.len());
        for ((target, answer), current) in targets.iter().zip(current_answers).zip(currents) {
            conditions.push(correction_condition(target, answer));
            let mut start = vec![BOS];
            start.extend(tok.encode(current)?.into_iter().take(hypothesis_tokens));
            start.push(SEP);
            starts.push(start);
        }
        let max = cor.config().max_tokens;
        beam_batch_from(cor, &conditions, &starts, width, max)
            .map_err(|e| model_err(&self.dir, e))?
            .into_iter()
            .map(|d| self.texts(d))
            .collect()
    }

    /// Rewrites of `current` (whose answer embeds to `current_answer`) towards `target`,
    /// best first (none without a corrector).
    pub fn correct(
        &self,
        target: &[f32],
        current_answer: &[f32],
        current: &str,
        hypothesis_tokens: usize,
        strategy: Strategy,
    ) -> Result<Vec<String>> {
        let (Some(cor), Some(tok)) = (&self.corrector, &self.tokenizer) else {
            return Ok(Vec::new());
        };
        let condition = correction_condition(target, current_answer);
        let mut start = vec![BOS];
        start.extend(tok.encode(current)?.into_iter().take(hypothesis_tokens));
        start.push(SEP);
        let max = cor.config().max_tokens;
        let decoded =
            decode(cor, &condition, &start, strategy, max).map_err(|e| model_err(&self.dir, e))?;
        self.texts(decoded)
    }
}

/// The corrector's condition: (e*, ê, e* − ê).
fn correction_condition(target: &[f32], current_answer: &[f32]) -> Vec<f32> {
    let mut condition = Vec::with_capacity(3 * target.len());
    condition.extend_from_slice(target);
    condition.extend_from_slice(current_answer);
    condition.extend(target.iter().zip(current_answer).map(|(a, b)| a - b));
    condition
}
