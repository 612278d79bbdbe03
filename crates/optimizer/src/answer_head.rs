//! The answer head: the embedding of a raw prompt (its input included) → the embedding of
//! the answer its intent should get.
//!
//! With a budget and no target of the user's, `/optimize` ranks the measured answers by
//! their cosine to a predicted answer. Without a head that prediction is the surrogate's
//! for the raw prompt, a model of the environment's answers to well-formed prompts (the
//! surrogate's prediction for the optimizer's intent vector, the goal before either,
//! landed further from the references than the raw prompt's own embedding). The head is
//! fitted directly on (raw prompt written by a training family →
//! reference answer of the record's own instruction) pairs of the train split, so it
//! learns what a vague request is after, input and all. It has the surrogate's shape
//! (residual MLP with a linear skip, unit-length output) and is usually warm-started from
//! it. It never sees a reference at inference: only the raw prompt's embedding.
//!
//! Files, in the optimizer's directory: `answer-head.safetensors` (f16) and
//! `answer-head.json` ([`AnswerHeadManifest`]).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use vec2prompt_core::{Error, Result};
use vec2prompt_latent::{Surrogate, SurrogateConfig};

/// Weights file of the answer head.
pub const HEAD_WEIGHTS: &str = "answer-head.safetensors";
/// Manifest file of the answer head.
pub const HEAD_MANIFEST: &str = "answer-head.json";

/// What a saved head is and what it was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerHeadManifest {
    /// The network's shape.
    pub model: SurrogateConfig,
    /// The embedder whose space it maps (name).
    pub embedder: String,
    /// Its width.
    pub embedder_dim: usize,
    /// What it learned to predict, in words (e.g. the reference answers of Alpaca's
    /// train split).
    pub target: String,
    /// The raw families its inputs were written by.
    pub families: Vec<String>,
    /// Validation: mean cosine of its prediction to the answer, and the baselines'.
    pub validation: Vec<(String, f64)>,
}

/// A loaded answer head.
#[derive(Debug, Clone)]
pub struct AnswerHead {
    net: Surrogate,
    /// Its manifest.
    pub manifest: AnswerHeadManifest,
}

/// A network of the head's (and the surrogate's) shape from named tensors of any float
/// type, held as f32.
pub fn net_from_tensors(
    config: &SurrogateConfig,
    tensors: &HashMap<String, Tensor>,
) -> candle_core::Result<Surrogate> {
    let f32s = tensors
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F32)?)))
        .collect::<candle_core::Result<HashMap<_, _>>>()?;
    Surrogate::new(
        config,
        VarBuilder::from_tensors(f32s, DType::F32, &Device::Cpu),
    )
}

fn head_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::model(
        path,
        e.to_string(),
        "retrain it with `vec2prompt train answer-head`",
    )
}

impl AnswerHead {
    /// Whether `dir` holds a head.
    pub fn exists(dir: &Path) -> bool {
        dir.join(HEAD_MANIFEST).exists() && dir.join(HEAD_WEIGHTS).exists()
    }

    /// A head from its manifest and named tensors (any float type).
    pub fn from_tensors(
        manifest: AnswerHeadManifest,
        tensors: &HashMap<String, Tensor>,
    ) -> candle_core::Result<Self> {
        let net = net_from_tensors(&manifest.model, tensors)?;
        Ok(Self { net, manifest })
    }

    /// Loads the head saved in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mpath = dir.join(HEAD_MANIFEST);
        let text = std::fs::read_to_string(&mpath).map_err(|e| Error::io(&mpath, e))?;
        let manifest: AnswerHeadManifest =
            serde_json::from_str(&text).map_err(|e| head_err(&mpath, e))?;
        if manifest.model.dim != manifest.embedder_dim {
            return Err(head_err(
                &mpath,
                format!(
                    "maps {} numbers but names a {}-dimensional embedder",
                    manifest.model.dim, manifest.embedder_dim
                ),
            ));
        }
        let wpath = dir.join(HEAD_WEIGHTS);
        let tensors = candle_core::safetensors::load(&wpath, &Device::Cpu)
            .map_err(|e| head_err(&wpath, e))?;
        Self::from_tensors(manifest, &tensors).map_err(|e| head_err(&wpath, e))
    }

    /// Writes `tensors` (as f16) and `manifest` into `dir`, each through a temporary file.
    pub fn save(
        dir: &Path,
        manifest: &AnswerHeadManifest,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let f16s = tensors
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F16)?)))
            .collect::<candle_core::Result<HashMap<_, _>>>()
            .map_err(|e| head_err(dir, e))?;
        let wpath = dir.join(HEAD_WEIGHTS);
        vec2prompt_core::write_atomic_with(&wpath, |tmp| {
            candle_core::safetensors::save(&f16s, tmp).map_err(|e| head_err(tmp, e))
        })?;
        let json = serde_json::to_string_pretty(manifest)
            .map_err(|e| Error::invalid("manifest", e.to_string()))?;
        vec2prompt_core::write_atomic(&dir.join(HEAD_MANIFEST), json.as_bytes())
    }

    /// The predicted answer embeddings (unit length) of raw-prompt embeddings; an error
    /// when a row is not of the embedder's width.
    pub fn predict(&self, e_prompts: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let dim = self.manifest.embedder_dim;
        if let Some(bad) = e_prompts.iter().find(|r| r.len() != dim) {
            return Err(Error::invalid(
                "embedding",
                format!(
                    "has {} numbers but the answer head was fitted on {dim}-dimensional embeddings ({})",
                    bad.len(),
                    self.manifest.embedder
                ),
            ));
        }
        self.net
            .predict(e_prompts)
            .map_err(|e| Error::invalid("answer head", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn manifest(dim: usize) -> AnswerHeadManifest {
        AnswerHeadManifest {
            model: SurrogateConfig {
                dim,
                hidden: 16,
                loss: "cosine".into(),
            },
            embedder: "tiny".into(),
            embedder_dim: dim,
            target: "test".into(),
            families: vec!["typos".into()],
            validation: vec![("head".into(), 0.5)],
        }
    }

    #[test]
    fn a_saved_head_loads_and_predicts_unit_vectors_of_the_same_values() {
        let dir = tempfile::tempdir().unwrap();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let m = manifest(8);
        let net = Surrogate::new(&m.model, vb).unwrap();
        let tensors: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        AnswerHead::save(dir.path(), &m, &tensors).unwrap();
        assert!(AnswerHead::exists(dir.path()));
        let head = AnswerHead::load(dir.path()).unwrap();
        assert_eq!(head.manifest, m);
        let x = vec![(0..8).map(|i| i as f32 / 8.0 - 0.4).collect::<Vec<f32>>()];
        let got = head.predict(&x).unwrap();
        let want = net.predict(&x).unwrap();
        let norm: f32 = got[0].iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit length, got {norm}");
        // Saved as f16: equal to the f32 network within half precision.
        for (a, b) in got[0].iter().zip(&want[0]) {
            assert!((a - b).abs() < 1e-2, "{a} vs {b}");
        }
        let err = head.predict(&[vec![0.0; 3]]).unwrap_err().to_string();
        assert!(err.contains("8-dimensional"), "{err}");
    }

    #[test]
    fn a_manifest_whose_width_disagrees_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest(8);
        m.embedder_dim = 4;
        std::fs::write(
            dir.path().join(HEAD_MANIFEST),
            serde_json::to_string(&m).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join(HEAD_WEIGHTS), b"").unwrap();
        let err = AnswerHead::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("4-dimensional"), "{err}");
    }
}
