//! Reading a sentence-transformers model directory.

use candle_transformers::models::bert::Config as BertConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Pooling, Result};

const HINT: &str = "give a sentence-transformers directory (config.json, tokenizer.json, \
    model.safetensors, 1_Pooling/config.json) or run `vec2prompt models fetch`";

/// The parsed configuration of a sentence-transformers directory.
#[derive(Debug, Clone)]
pub struct SentenceTransformerDir {
    /// The directory.
    pub dir: PathBuf,
    /// The transformer's `config.json`.
    pub bert: BertConfig,
    /// Pooling mode from `1_Pooling/config.json`.
    pub pooling: Pooling,
    /// Whether `modules.json` ends with a `Normalize` module.
    pub normalize: bool,
    /// Token limit: `max_seq_length` from `sentence_bert_config.json`, capped by the
    /// model's position embeddings.
    pub max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct StConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::model(path, e.to_string(), HINT))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::model(path, format!("not a valid config: {e}"), HINT))
}

impl SentenceTransformerDir {
    /// Reads the configuration files of `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::model(dir, "is not a directory", HINT));
        }
        let bert: BertConfig = read_json(&dir.join("config.json"))?;
        let pooling_path = dir.join("1_Pooling/config.json");
        let pooling = if pooling_path.exists() {
            let p: PoolingConfig = read_json(&pooling_path)?;
            match (
                p.pooling_mode_mean_tokens,
                p.pooling_mode_cls_token,
                p.pooling_mode_max_tokens,
            ) {
                _ if p.pooling_mode_mean_sqrt_len_tokens => {
                    return Err(Error::model(
                        &pooling_path,
                        "pooling_mode_mean_sqrt_len_tokens is not supported",
                        "use a model with mean, cls or max pooling",
                    ));
                }
                (true, false, false) => Pooling::Mean,
                (false, true, false) => Pooling::Cls,
                (false, false, true) => Pooling::Max,
                _ => {
                    return Err(Error::model(
                        &pooling_path,
                        "exactly one of mean, cls or max pooling must be enabled",
                        "fix the pooling config",
                    ));
                }
            }
        } else {
            Pooling::Mean
        };
        let modules_path = dir.join("modules.json");
        let normalize = if modules_path.exists() {
            let modules: Vec<Module> = read_json(&modules_path)?;
            modules.iter().any(|m| m.kind.ends_with(".Normalize"))
        } else {
            false
        };
        let st_path = dir.join("sentence_bert_config.json");
        let max_seq_length = if st_path.exists() {
            read_json::<StConfig>(&st_path)?.max_seq_length
        } else {
            None
        }
        .unwrap_or(bert.max_position_embeddings)
        .min(bert.max_position_embeddings);
        for file in ["tokenizer.json", "model.safetensors"] {
            if !dir.join(file).is_file() {
                return Err(Error::model(dir.join(file), "missing", HINT));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            bert,
            pooling,
            normalize,
            max_seq_length,
        })
    }
}
