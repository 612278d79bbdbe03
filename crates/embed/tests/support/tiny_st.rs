//! A tiny random BERT written into a temporary sentence-transformers directory (config,
//! WordPiece tokenizer, pooling, weights): the embedder's own tests use it, and the CLI's
//! end-to-end tests use it as an embedder of another width than the default.

#![allow(dead_code)] // each test file uses its own subset

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vec2prompt_core::Pooling;
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};

pub const HIDDEN: usize = 32;
pub const LAYERS: usize = 2;
pub const INTERMEDIATE: usize = 64;
pub const MAX_POS: usize = 64;
pub const MAX_SEQ: usize = 16;

pub const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat", "on", "mat",
    "quick", "brown", "fox", "jumps", "over", "lazy", "hello", "world", "and", "ran", "far",
    "away", "##s", "##ing", ".", ",", "!", "?", "big", "red",
];

pub fn config_json() -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "vocab_size": VOCAB.len(),
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 4,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": MAX_POS,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "model_type": "bert"
    })
}

pub fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = VOCAB
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = VOCAB[..5]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
                       "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

pub fn pooling_json(mode: Pooling) -> serde_json::Value {
    json!({
        "word_embedding_dimension": HIDDEN,
        "pooling_mode_cls_token": mode == Pooling::Cls,
        "pooling_mode_mean_tokens": mode == Pooling::Mean,
        "pooling_mode_max_tokens": mode == Pooling::Max,
        "pooling_mode_mean_sqrt_len_tokens": false,
        "pooling_mode_weightedmean_tokens": false,
        "pooling_mode_lasttoken": false,
        "include_prompt": true
    })
}

pub fn modules_json(normalize: bool) -> serde_json::Value {
    let mut m = vec![
        json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if normalize {
        m.push(json!({"idx": 2, "name": "2", "path": "2_Normalize",
                      "type": "sentence_transformers.models.Normalize"}));
    }
    json!(m)
}

/// Random weights under the Hugging Face BERT tensor names, from a fixed seed.
pub fn random_weights(seed: u64) -> HashMap<String, Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = HashMap::new();
    let mut put = |name: String, shape: &[usize], center: f32, scale: f32| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| center + scale * (rng.random::<f32>() * 2.0 - 1.0))
            .collect();
        out.insert(name, Tensor::from_vec(data, shape, &Device::Cpu).unwrap());
    };
    let e = "embeddings";
    put(
        format!("{e}.word_embeddings.weight"),
        &[VOCAB.len(), HIDDEN],
        0.0,
        1.0,
    );
    put(
        format!("{e}.position_embeddings.weight"),
        &[MAX_POS, HIDDEN],
        0.0,
        0.5,
    );
    put(
        format!("{e}.token_type_embeddings.weight"),
        &[2, HIDDEN],
        0.0,
        0.5,
    );
    put(format!("{e}.LayerNorm.weight"), &[HIDDEN], 1.0, 0.1);
    put(format!("{e}.LayerNorm.bias"), &[HIDDEN], 0.0, 0.1);
    let w = 1.0 / (HIDDEN as f32).sqrt();
    for i in 0..LAYERS {
        let l = format!("encoder.layer.{i}");
        for p in ["query", "key", "value"] {
            put(
                format!("{l}.attention.self.{p}.weight"),
                &[HIDDEN, HIDDEN],
                0.0,
                2.0 * w,
            );
            put(format!("{l}.attention.self.{p}.bias"), &[HIDDEN], 0.0, 0.1);
        }
        put(
            format!("{l}.attention.output.dense.weight"),
            &[HIDDEN, HIDDEN],
            0.0,
            w,
        );
        put(
            format!("{l}.attention.output.dense.bias"),
            &[HIDDEN],
            0.0,
            0.1,
        );
        put(
            format!("{l}.attention.output.LayerNorm.weight"),
            &[HIDDEN],
            1.0,
            0.1,
        );
        put(
            format!("{l}.attention.output.LayerNorm.bias"),
            &[HIDDEN],
            0.0,
            0.1,
        );
        put(
            format!("{l}.intermediate.dense.weight"),
            &[INTERMEDIATE, HIDDEN],
            0.0,
            w,
        );
        put(
            format!("{l}.intermediate.dense.bias"),
            &[INTERMEDIATE],
            0.0,
            0.1,
        );
        put(
            format!("{l}.output.dense.weight"),
            &[HIDDEN, INTERMEDIATE],
            0.0,
            w,
        );
        put(format!("{l}.output.dense.bias"), &[HIDDEN], 0.0, 0.1);
        put(format!("{l}.output.LayerNorm.weight"), &[HIDDEN], 1.0, 0.1);
        put(format!("{l}.output.LayerNorm.bias"), &[HIDDEN], 0.0, 0.1);
    }
    out
}

pub fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// A complete tiny sentence-transformers directory `<tmp>/tiny-bert`.
pub struct TinyDir {
    /// Keeps the directory alive.
    pub _tmp: tempfile::TempDir,
    /// The sentence-transformers directory.
    pub dir: PathBuf,
}

impl TinyDir {
    pub fn new(pooling: Pooling, normalize: bool) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tiny-bert");
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        write_json(&dir.join("config.json"), &config_json());
        write_json(&dir.join("tokenizer.json"), &tokenizer_json());
        write_json(&dir.join("1_Pooling/config.json"), &pooling_json(pooling));
        write_json(&dir.join("modules.json"), &modules_json(normalize));
        write_json(
            &dir.join("sentence_bert_config.json"),
            &json!({"max_seq_length": MAX_SEQ, "do_lower_case": false}),
        );
        candle_core::safetensors::save(&random_weights(42), dir.join("model.safetensors")).unwrap();
        Self { _tmp: tmp, dir }
    }

    pub fn load(&self) -> vec2prompt_core::Result<LocalEmbedder> {
        LocalEmbedder::load(&self.dir, LocalEmbedderConfig::default())
    }
}
