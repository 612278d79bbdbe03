//! A tiny random llama written as a GGUF file, for tests of code that needs a real model
//! file (tokenizer, chat template, weights) without downloading one.
//!
//! The model: 2 blocks, width 64, 4 query heads sharing 2 KV heads (head size 16), context
//! 64, a byte-level BPE vocabulary (3 control tokens, the 256 GPT-2 byte symbols and a few
//! merges). Projections are stored as Q4_1, the embedding as Q8_0.
//!
//! The weights are random but shaped so generation is predictable where a test needs it:
//! every token embedding has a large constant first component, so the final hidden state
//! points along it, and the output matrix gives control tokens a large negative weight
//! there (they are never generated) or one chosen token a large positive weight (it is
//! always generated).

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// Model width.
pub const HIDDEN: usize = 64;
/// Feed-forward width.
pub const FFN: usize = 128;
/// Blocks.
pub const LAYERS: usize = 2;
/// Query heads.
pub const HEADS: usize = 4;
/// Key/value heads.
pub const KV_HEADS: usize = 2;
/// Width of one head.
pub const HEAD_DIM: usize = HIDDEN / HEADS;
/// Context length.
pub const CONTEXT: usize = 64;
/// RMS-norm epsilon.
pub const RMS_EPS: f32 = 1e-5;
/// RoPE base.
pub const ROPE_BASE: f32 = 10_000.0;

/// `<|endoftext|>` id.
pub const ENDOFTEXT: u32 = 0;
/// `<|im_start|>` id.
pub const IM_START: u32 = 1;
/// `<|im_end|>` id (end of turn).
pub const IM_END: u32 = 2;
/// The control tokens, ids 0–2.
pub const CONTROL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// The BPE merges after the byte symbols.
pub const MERGES: [(&str, &str); 12] = [
    ("h", "e"),
    ("l", "l"),
    ("he", "ll"),
    ("hell", "o"),
    ("Ġ", "w"),
    ("o", "r"),
    ("Ġw", "or"),
    ("l", "d"),
    ("Ġwor", "ld"),
    ("u", "s"),
    ("e", "r"),
    ("us", "er"),
];

/// A ChatML chat template.
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// GPT-2's `bytes_to_unicode`: the printable symbol standing for each byte.
pub fn byte_symbols() -> Vec<char> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('?')
            }
        })
        .collect()
}

/// Control tokens, then the 256 byte symbols (id `3 + byte`), then the merge results.
pub fn vocabulary() -> Vec<String> {
    let mut tokens: Vec<String> = CONTROL.iter().map(|s| s.to_string()).collect();
    tokens.extend(byte_symbols().into_iter().map(String::from));
    tokens.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
    tokens
}

/// The id of a token of the tiny vocabulary.
pub fn token_id(text: &str) -> u32 {
    vocabulary()
        .iter()
        .position(|t| t == text)
        .expect("a token of the tiny vocabulary") as u32
}

/// Variations of the tiny model.
#[derive(Clone)]
pub struct Opts {
    /// `general.architecture`.
    pub arch: &'static str,
    /// `tokenizer.ggml.model`.
    pub tokenizer_model: &'static str,
    /// No `output.weight`: the output projection reuses the embedding.
    pub tied: bool,
    /// A token every step's logits favour, and by how much (20: always chosen).
    pub favour: Option<(u32, f32)>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: u32,
    /// `tokenizer.chat_template`, if any.
    pub template: Option<&'static str>,
    /// A tensor left out of the file.
    pub drop_tensor: Option<&'static str>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            arch: "llama",
            tokenizer_model: "gpt2",
            tied: false,
            favour: None,
            add_bos: false,
            bos: IM_START,
            template: Some(CHATML),
            drop_tensor: None,
        }
    }
}

struct Rand(StdRng);

impl Rand {
    /// Uniform values of standard deviation `std`.
    fn tensor(&mut self, shape: (usize, usize), std: f32) -> Vec<f32> {
        let a = std * 3f32.sqrt();
        (0..shape.0 * shape.1)
            .map(|_| a * (self.0.random::<f32>() * 2.0 - 1.0))
            .collect()
    }
}

fn qtensor(data: Vec<f32>, shape: &[usize], dtype: GgmlDType) -> QTensor {
    let t = Tensor::from_vec(data, shape, &Device::Cpu).expect("a tensor of the given shape");
    QTensor::quantize(&t, dtype).expect("quantizable rows")
}

/// Writes the tiny model to `path`.
pub fn write_gguf(path: &Path, opts: &Opts) -> candle_core::Result<()> {
    let tokens = vocabulary();
    let vocab = tokens.len();
    let mut r = Rand(StdRng::seed_from_u64(1234));
    let arch = opts.arch;
    let s = |v: &str| Value::String(v.to_string());
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), s(arch)),
        ("general.name".into(), s("tiny-llama")),
        (format!("{arch}.block_count"), Value::U32(LAYERS as u32)),
        (format!("{arch}.context_length"), Value::U32(CONTEXT as u32)),
        (
            format!("{arch}.embedding_length"),
            Value::U32(HIDDEN as u32),
        ),
        (
            format!("{arch}.feed_forward_length"),
            Value::U32(FFN as u32),
        ),
        (
            format!("{arch}.attention.head_count"),
            Value::U32(HEADS as u32),
        ),
        (
            format!("{arch}.attention.head_count_kv"),
            Value::U32(KV_HEADS as u32),
        ),
        (format!("{arch}.rope.freq_base"), Value::F32(ROPE_BASE)),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            Value::F32(RMS_EPS),
        ),
        (
            format!("{arch}.rope.dimension_count"),
            Value::U32(HEAD_DIM as u32),
        ),
        ("tokenizer.ggml.model".into(), s(opts.tokenizer_model)),
        ("tokenizer.ggml.pre".into(), s("smollm")),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.iter().map(|t| s(t)).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(
                (0..vocab)
                    .map(|i| Value::I32(if i < 3 { 3 } else { 1 }))
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(MERGES.iter().map(|(a, b)| s(&format!("{a} {b}"))).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(opts.bos)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(IM_END)),
        (
            "tokenizer.ggml.padding_token_id".into(),
            Value::U32(ENDOFTEXT),
        ),
        (
            "tokenizer.ggml.add_bos_token".into(),
            Value::Bool(opts.add_bos),
        ),
    ];
    if let Some(t) = opts.template {
        md.push(("tokenizer.chat_template".into(), s(t)));
    }

    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    // Embedding: a large constant first component plus noise.
    let mut embd = r.tensor((vocab, HIDDEN), 1.0);
    for row in embd.chunks_mut(HIDDEN) {
        row[0] = 8.0;
    }
    tensors.push((
        "token_embd.weight".into(),
        qtensor(embd, &[vocab, HIDDEN], GgmlDType::Q8_0),
    ));
    if !opts.tied {
        let mut out = r.tensor((vocab, HIDDEN), 0.3);
        for (i, row) in out.chunks_mut(HIDDEN).enumerate() {
            row[0] = if let Some((_, w)) = opts.favour.filter(|f| f.0 == i as u32) {
                w
            } else if i < CONTROL.len() {
                -20.0
            } else {
                0.0
            };
        }
        tensors.push((
            "output.weight".into(),
            qtensor(out, &[vocab, HIDDEN], GgmlDType::Q8_0),
        ));
    }
    let norm = |r: &mut Rand| r.tensor((1, HIDDEN), 0.1).iter().map(|x| 1.0 + x).collect();
    tensors.push((
        "output_norm.weight".into(),
        qtensor(vec![1.0; HIDDEN], &[HIDDEN], GgmlDType::F32),
    ));
    let kv = KV_HEADS * HEAD_DIM;
    for i in 0..LAYERS {
        let lin = |r: &mut Rand, name: &str, rows: usize, cols: usize| {
            let data = r.tensor((rows, cols), 1.0 / (cols as f32).sqrt());
            (
                format!("blk.{i}.{name}.weight"),
                qtensor(data, &[rows, cols], GgmlDType::Q4_1),
            )
        };
        tensors.push(lin(&mut r, "attn_q", HIDDEN, HIDDEN));
        tensors.push(lin(&mut r, "attn_k", kv, HIDDEN));
        tensors.push(lin(&mut r, "attn_v", kv, HIDDEN));
        tensors.push(lin(&mut r, "attn_output", HIDDEN, HIDDEN));
        tensors.push(lin(&mut r, "ffn_gate", FFN, HIDDEN));
        tensors.push(lin(&mut r, "ffn_up", FFN, HIDDEN));
        tensors.push(lin(&mut r, "ffn_down", HIDDEN, FFN));
        for n in ["attn_norm", "ffn_norm"] {
            let w = qtensor(norm(&mut r), &[HIDDEN], GgmlDType::F32);
            tensors.push((format!("blk.{i}.{n}.weight"), w));
        }
    }
    tensors.retain(|(name, _)| Some(name.as_str()) != opts.drop_tensor);

    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path)?;
    gguf_file::write(&mut f, &md_refs, &t_refs)
}
