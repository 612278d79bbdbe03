//! Rebuilding the model's tokenizer from GGUF metadata (`tokenizer.ggml.*`).
//!
//! Only byte-level BPE (`tokenizer.ggml.model = gpt2`) is supported, which covers SmolLM2,
//! Llama 3, Qwen and most current small models. The pre-tokenizer follows
//! `tokenizer.ggml.pre`: for `smollm` it is `Digits(individual) + ByteLevel(no prefix
//! space)`, as in the model's own `tokenizer.json` (candle's `TokenizerFromGguf` adds a
//! leading space to every piece there). Control tokens become special added
//! tokens, so chat markers such as `<|im_start|>` are recognised in text.

use crate::gguf::GgufFile;
use candle_core::quantized::gguf_file::Value;
use serde_json::json;
use std::str::FromStr;
use tokenizers::Tokenizer;
use vec2prompt_core::{Error, Result};

/// GGUF token type of control tokens (llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL`).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of user-defined tokens.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The tokenizer of a GGUF model and its special ids.
pub struct GgufTokenizer {
    /// The rebuilt tokenizer.
    pub inner: Tokenizer,
    /// Beginning-of-sequence id, if the model has one.
    pub bos_id: Option<u32>,
    /// The declared end-of-sequence id (`tokenizer.ggml.eos_token_id`), if any.
    pub eos_id: Option<u32>,
    /// Whether a BOS token must be prepended to prompts.
    pub add_bos: bool,
    /// Token ids that end an answer (EOS and end-of-turn markers).
    pub stop_ids: Vec<u32>,
    /// Text of every token, by id.
    pub tokens: Vec<String>,
}

fn strings(file: &GgufFile, key: &str) -> Result<Vec<String>> {
    let values = file.get(key)?.to_vec().map_err(|e| file.bad(key, e))?;
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| file.bad(key, e)))
        .collect()
}

fn pre_tokenizer(pre: &str) -> serde_json::Value {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    match pre {
        "smollm" | "starcoder" | "refact" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level]}),
        _ => byte_level,
    }
}

impl GgufTokenizer {
    /// Builds the tokenizer described by `file`'s metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let model = file.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::model(
                &file.path,
                format!(
                    "tokenizer.ggml.model = {model:?} is not supported (only byte-level BPE, \"gpt2\")"
                ),
                "use a model with a byte-level BPE tokenizer (SmolLM2, Llama 3, Qwen 2)",
            ));
        }
        let tokens = strings(file, "tokenizer.ggml.tokens")?;
        let merges = strings(file, "tokenizer.ggml.merges")?;
        let types: Vec<i32> = match file.content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| file.bad("tokenizer.ggml.token_type", e))?
                .iter()
                .map(|t| {
                    t.to_i32()
                        .map_err(|e| file.bad("tokenizer.ggml.token_type", e))
                })
                .collect::<Result<_>>()?,
            None => vec![1; tokens.len()],
        };
        let pre = file.get_str("tokenizer.ggml.pre").unwrap_or("default");
        let vocab: serde_json::Map<String, serde_json::Value> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), json!(i)))
            .collect();
        let added: Vec<serde_json::Value> = types
            .iter()
            .enumerate()
            .filter(|&(_, &t)| t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_USER_DEFINED)
            .map(|(i, &t)| {
                json!({"id": i, "content": tokens[i], "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": t == TOKEN_TYPE_CONTROL})
            })
            .collect();
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer(pre),
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null,
                      "continuing_subword_prefix": null, "end_of_word_suffix": null,
                      "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": merges},
        });
        let inner = Tokenizer::from_str(&spec.to_string()).map_err(|e| {
            Error::model(
                &file.path,
                format!("tokenizer metadata is invalid: {e}"),
                "use another GGUF",
            )
        })?;
        let id = |key: &str| file.content.metadata.get(key).and_then(|v| v.to_u32().ok());
        let bos_id = id("tokenizer.ggml.bos_token_id");
        let add_bos = file
            .content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v: &Value| v.to_bool().ok())
            .unwrap_or(false);
        let eos_id = id("tokenizer.ggml.eos_token_id");
        let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
        stop_ids.extend(id("tokenizer.ggml.eot_token_id"));
        for marker in [
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<end_of_turn>",
            "</s>",
        ] {
            if let Some(i) = tokens.iter().position(|t| t == marker)
                && types.get(i) == Some(&TOKEN_TYPE_CONTROL)
            {
                stop_ids.push(i as u32);
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        if stop_ids.is_empty() {
            return Err(Error::model(
                &file.path,
                "the model declares no end-of-sequence token",
                "use a GGUF with tokenizer.ggml.eos_token_id",
            ));
        }
        Ok(Self {
            inner,
            bos_id,
            eos_id,
            add_bos,
            stop_ids,
            tokens,
        })
    }

    /// Token ids of `text`; special markers in the text become their control tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::backend("GGUF tokenizer", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, without special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| Error::backend("GGUF tokenizer", e))
    }

    /// The text of token `id`, if it exists.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(|s| s.as_str())
    }
}
