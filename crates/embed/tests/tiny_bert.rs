//! Fast tests of [`LocalEmbedder`] on a tiny random BERT written into a temporary
//! sentence-transformers directory by the test itself (no model files, no network).
//!
//! The pooled vectors are checked against a reference computed here from candle's
//! `BertModel` run on one text at a time (no padding) with the pooling written out by hand.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use vec2prompt_core::{Embedder, Error, ErrorType, Pooling, cosine};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};

#[path = "support/tiny_st.rs"]
mod tiny_st;

use tiny_st::*;

/// The expected vector of `text`: candle's BERT on that text alone (no padding, no mask),
/// pooled and normalized by hand.
fn reference(dir: &Path, ids: &[u32], pooling: Pooling, normalize: bool) -> Vec<f32> {
    let cfg: BertConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu).unwrap();
    let model = BertModel::load(vb, &cfg).unwrap();
    let input = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let types = input.zeros_like().unwrap();
    let hidden: Vec<Vec<f32>> = model
        .forward(&input, &types, None)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    let mut v: Vec<f32> = match pooling {
        Pooling::Cls => hidden[0].clone(),
        Pooling::Mean => (0..HIDDEN)
            .map(|d| hidden.iter().map(|h| h[d]).sum::<f32>() / hidden.len() as f32)
            .collect(),
        Pooling::Max => (0..HIDDEN)
            .map(|d| {
                hidden
                    .iter()
                    .map(|h| h[d])
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect(),
    };
    if normalize {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn assert_same(a: &[f32], b: &[f32], what: &str) {
    let c = cosine(a, b);
    let d = max_abs_diff(a, b);
    assert!(c > 0.99999 && d < 1e-5, "{what}: cos {c}, max abs diff {d}");
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

const SHORT: &str = "the cat sat";
const LONG_A: &str = "the quick brown fox jumps over the lazy dog and ran far away";
const LONG_B: &str = "hello world , a big red dog sat on the mat and the cat ran !";

#[test]
fn loads_and_reports_its_info() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let e = tiny.load().unwrap();
    let info = e.info();
    assert_eq!(info.name, "tiny-bert");
    assert_eq!(info.dimension, HIDDEN);
    assert_eq!(info.pooling, Pooling::Mean);
    assert!(info.normalized);
    assert_eq!(info.max_tokens, MAX_SEQ);
    let v = e.embed_one(SHORT).unwrap();
    assert_eq!(v.len(), HIDDEN);
    assert!(v.iter().all(|x| x.is_finite()));
}

#[test]
fn tokenizes_with_cls_and_sep_and_lowercases() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let e = tiny.load().unwrap();
    let id = |t: &str| VOCAB.iter().position(|v| *v == t).unwrap() as u32;
    let ids = e.tokenize("The CAT sat, zebra").unwrap();
    assert_eq!(
        ids,
        vec![
            id("[CLS]"),
            id("the"),
            id("cat"),
            id("sat"),
            id(","),
            id("[UNK]"),
            id("[SEP]")
        ]
    );
    // WordPiece continuation pieces.
    assert_eq!(
        e.tokenize("dogs").unwrap(),
        vec![id("[CLS]"), id("dog"), id("##s"), id("[SEP]")]
    );
}

#[test]
fn mean_pooled_vectors_match_the_reference_and_have_unit_norm() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let e = tiny.load().unwrap();
    let texts = strings(&[SHORT, LONG_A, LONG_B]);
    let got = e.embed(&texts).unwrap();
    for (t, v) in texts.iter().zip(&got) {
        assert!((norm(v) - 1.0).abs() < 1e-5, "norm {} for {t:?}", norm(v));
        let ids = e.tokenize(t).unwrap();
        assert_same(v, &reference(&tiny.dir, &ids, Pooling::Mean, true), t);
    }
    // Different texts give clearly different vectors (the model is not degenerate).
    assert!(
        cosine(&got[0], &got[1]) < 0.999,
        "cos {}",
        cosine(&got[0], &got[1])
    );
}

#[test]
fn padding_is_masked_in_a_batch_with_longer_texts() {
    for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Max] {
        let tiny = TinyDir::new(pooling, true);
        let e = tiny.load().unwrap();
        let alone = e.embed_one(SHORT).unwrap();
        // One batch: the short text is padded to the longest (12 pad positions).
        let batch = e.embed(&strings(&[LONG_A, SHORT, LONG_B])).unwrap();
        assert_same(&alone, &batch[1], &format!("{pooling:?} alone vs batch"));
        let (long, mut short) = (e.tokenize(LONG_A).unwrap(), e.tokenize(SHORT).unwrap());
        assert!(long.len() >= short.len() + 8);
        // Control: had the pad positions been attended to (and pooled), the vector would
        // differ, so the comparison above can detect a masking bug.
        short.resize(long.len(), 0);
        let unmasked = reference(&tiny.dir, &short, pooling, true);
        let d = max_abs_diff(&alone, &unmasked);
        assert!(
            d > 1e-3,
            "{pooling:?}: unmasked padding changes nothing ({d})"
        );
    }
}

#[test]
fn outputs_follow_input_order_across_batches() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    // Batches of 2 after sorting by length: inputs are reordered internally.
    let e = LocalEmbedder::load(&tiny.dir, LocalEmbedderConfig { batch_size: 2 }).unwrap();
    let texts = strings(&["cat", LONG_A, "the dog", LONG_B, "hello world !"]);
    let got = e.embed(&texts).unwrap();
    assert_eq!(got.len(), texts.len());
    for (i, t) in texts.iter().enumerate() {
        assert_same(
            &got[i],
            &e.embed_one(t).unwrap(),
            &format!("texts[{i}] = {t:?}"),
        );
        for j in 0..i {
            assert!(
                cosine(&got[i], &got[j]) < 0.9999,
                "texts {j} and {i} give the same vector"
            );
        }
    }
    assert!(e.embed(&[]).unwrap().is_empty());
}

#[test]
fn long_texts_are_truncated_at_max_seq_length() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let e = tiny.load().unwrap();
    let long = [LONG_A, LONG_B, LONG_A].join(" ");
    let ids = e.tokenize(&long).unwrap();
    assert_eq!(ids.len(), MAX_SEQ);
    assert_eq!(
        (ids[0], ids[MAX_SEQ - 1]),
        (2, 3),
        "[CLS] ... [SEP] kept: {ids:?}"
    );
    // Everything after the first 14 word pieces is cut: a different tail changes nothing.
    // Both start with LONG_A (13 words) then "hello" (first word of LONG_B).
    let other_tail = format!("{LONG_A} {LONG_B} {LONG_B} {LONG_B}");
    let v = e.embed(&strings(&[&long, &other_tail])).unwrap();
    assert_same(&v[0], &v[1], "same first 14 tokens");
    assert_same(
        &v[0],
        &reference(&tiny.dir, &ids, Pooling::Mean, true),
        "truncated reference",
    );
}

#[test]
fn max_seq_length_is_capped_by_position_embeddings() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    write_json(
        &tiny.dir.join("sentence_bert_config.json"),
        &json!({"max_seq_length": 512}),
    );
    let e = tiny.load().unwrap();
    assert_eq!(e.info().max_tokens, MAX_POS);
    let long = vec!["cat"; 100].join(" ");
    assert_eq!(e.tokenize(&long).unwrap().len(), MAX_POS);
    // The longest possible input runs (no position beyond the embedding table).
    assert_eq!(e.embed_one(&long).unwrap().len(), HIDDEN);
}

#[test]
fn cls_and_max_pooling_match_the_reference() {
    let texts = strings(&[SHORT, LONG_A, "hello world"]);
    let mut by_mode = Vec::new();
    for pooling in [Pooling::Cls, Pooling::Max] {
        let tiny = TinyDir::new(pooling, true);
        let e = tiny.load().unwrap();
        assert_eq!(e.info().pooling, pooling);
        let got = e.embed(&texts).unwrap();
        for (t, v) in texts.iter().zip(&got) {
            let ids = e.tokenize(t).unwrap();
            assert_same(
                v,
                &reference(&tiny.dir, &ids, pooling, true),
                &format!("{pooling:?} {t:?}"),
            );
            assert!((norm(v) - 1.0).abs() < 1e-5);
        }
        by_mode.push(got[1].clone());
    }
    let mean = TinyDir::new(Pooling::Mean, true)
        .load()
        .unwrap()
        .embed_one(LONG_A)
        .unwrap();
    assert!(cosine(&by_mode[0], &by_mode[1]) < 0.999, "cls == max");
    assert!(cosine(&by_mode[0], &mean) < 0.999, "cls == mean");
}

#[test]
fn without_normalize_module_vectors_are_raw() {
    let tiny = TinyDir::new(Pooling::Mean, false);
    let e = tiny.load().unwrap();
    assert!(!e.info().normalized);
    let v = e.embed_one(LONG_A).unwrap();
    assert!(
        (norm(&v) - 1.0).abs() > 1e-3,
        "norm {} looks normalized",
        norm(&v)
    );
    let ids = e.tokenize(LONG_A).unwrap();
    assert_same(
        &v,
        &reference(&tiny.dir, &ids, Pooling::Mean, false),
        "raw mean",
    );
    // Without modules.json at all: no normalization either.
    std::fs::remove_file(tiny.dir.join("modules.json")).unwrap();
    assert!(!tiny.load().unwrap().info().normalized);
}

#[test]
fn weights_with_a_bert_prefix_load() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let plain = tiny.load().unwrap().embed_one(LONG_B).unwrap();
    let prefixed: HashMap<String, Tensor> = random_weights(42)
        .into_iter()
        .map(|(k, v)| (format!("bert.{k}"), v))
        .collect();
    candle_core::safetensors::save(&prefixed, tiny.dir.join("model.safetensors")).unwrap();
    assert_same(
        &tiny.load().unwrap().embed_one(LONG_B).unwrap(),
        &plain,
        "bert. prefix",
    );
}

fn load_err(dir: &Path) -> Error {
    match LocalEmbedder::load(dir, LocalEmbedderConfig::default()) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e,
    }
}

fn assert_names(e: &Error, path: &Path, what: &str) {
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{what}: {msg:?} does not name {}",
        path.display()
    );
}

#[test]
fn missing_directory_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no-such-model");
    let e = load_err(&dir);
    assert_eq!(e.error_type(), ErrorType::Model);
    assert_names(&e, &dir, "missing dir");
    assert!(e.to_string().contains("not a directory"), "{e}");
}

#[test]
fn missing_or_damaged_weights_are_errors_naming_the_file() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let weights = tiny.dir.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();

    std::fs::remove_file(&weights).unwrap();
    let e = load_err(&tiny.dir);
    assert_names(&e, &weights, "missing weights");
    assert!(e.to_string().contains("missing"), "{e}");

    let mut rng = StdRng::seed_from_u64(7);
    let noise: Vec<u8> = (0..4096).map(|_| rng.random()).collect();
    std::fs::write(&weights, noise).unwrap();
    let e = load_err(&tiny.dir);
    assert_eq!(e.error_type(), ErrorType::Model);
    assert_names(&e, &weights, "random bytes");

    std::fs::write(&weights, &good[..good.len() / 2]).unwrap();
    let e = load_err(&tiny.dir);
    assert_eq!(e.error_type(), ErrorType::Model);
    assert_names(&e, &weights, "truncated");

    std::fs::write(&weights, &good).unwrap();
    assert!(tiny.load().is_ok(), "restored file loads");
}

fn without_tensor(tiny: &TinyDir, gone: &str) -> Error {
    let mut w = random_weights(42);
    assert!(w.remove(gone).is_some());
    candle_core::safetensors::save(&w, tiny.dir.join("model.safetensors")).unwrap();
    load_err(&tiny.dir)
}

#[test]
fn a_missing_tensor_is_an_error_naming_the_file() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    for gone in [
        "encoder.layer.1.output.dense.weight",
        "embeddings.word_embeddings.weight",
    ] {
        let e = without_tensor(&tiny, gone);
        assert_eq!(e.error_type(), ErrorType::Model);
        assert_names(&e, &tiny.dir.join("model.safetensors"), gone);
        assert!(e.to_string().contains("not found"), "{e}");
    }
}

/// Library bug (crates/embed/src/local.rs, `LocalEmbedder::load`): when a tensor is missing,
/// the error of the first attempt is discarded by `.or_else(|_| BertModel::load(vb.pp("bert")))`
/// and the message names `bert.embeddings.word_embeddings.weight` instead of the tensor
/// that is really missing.
#[test]
fn a_missing_tensor_error_names_the_missing_tensor() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let gone = "encoder.layer.1.output.dense.weight";
    let e = without_tensor(&tiny, gone);
    assert!(e.to_string().contains(gone), "{e}");
}

#[test]
fn a_tensor_of_the_wrong_shape_is_an_error() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let weights = tiny.dir.join("model.safetensors");
    let mut w = random_weights(42);
    w.insert(
        "encoder.layer.0.attention.self.query.weight".into(),
        Tensor::zeros((HIDDEN, HIDDEN + 1), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&w, &weights).unwrap();
    assert_names(&load_err(&tiny.dir), &weights, "wrong shape");
}

#[test]
fn bad_configs_are_errors_naming_the_file() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let config = tiny.dir.join("config.json");
    std::fs::write(&config, "{ \"hidden_size\": 32, ").unwrap();
    let e = load_err(&tiny.dir);
    assert_names(&e, &config, "invalid json");
    assert!(e.to_string().contains("not a valid config"), "{e}");
    write_json(&config, &json!({"hidden_size": 32}));
    assert_names(&load_err(&tiny.dir), &config, "missing fields");
    write_json(&config, &config_json());

    let pooling = tiny.dir.join("1_Pooling/config.json");
    let mut two = pooling_json(Pooling::Mean);
    two["pooling_mode_cls_token"] = json!(true);
    write_json(&pooling, &two);
    assert_names(&load_err(&tiny.dir), &pooling, "two pooling modes");
    let mut sqrt = pooling_json(Pooling::Mean);
    sqrt["pooling_mode_mean_sqrt_len_tokens"] = json!(true);
    write_json(&pooling, &sqrt);
    let e = load_err(&tiny.dir);
    assert_names(&e, &pooling, "sqrt pooling");
    assert!(e.to_string().contains("mean_sqrt_len"), "{e}");
    write_json(&pooling, &pooling_json(Pooling::Mean));

    let tok = tiny.dir.join("tokenizer.json");
    std::fs::write(&tok, "not a tokenizer").unwrap();
    assert_names(&load_err(&tiny.dir), &tok, "bad tokenizer");
    std::fs::remove_file(&tok).unwrap();
    assert_names(&load_err(&tiny.dir), &tok, "missing tokenizer");
}

#[test]
fn empty_text_is_an_invalid_input_error() {
    let tiny = TinyDir::new(Pooling::Mean, true);
    let e = tiny.load().unwrap();
    for texts in [strings(&[""]), strings(&[SHORT, "   \n"])] {
        let err = e.embed(&texts).unwrap_err();
        assert_eq!(err.error_type(), ErrorType::InvalidInput);
        assert!(err.to_string().contains("empty"), "{err}");
    }
    let err = e.embed_one("").unwrap_err();
    assert!(err.to_string().contains("texts[0]"), "{err}");
}
