//! Fast tests of the local GGUF LLM on a tiny random llama written by the test itself
//! with candle's GGUF writer (no model files, no network).
//!
//! The model: 2 blocks, width 64, 4 query heads sharing 2 KV heads (head size 16), context
//! 64, a byte-level BPE vocabulary (3 control tokens, the 256 GPT-2 byte symbols and a few
//! merges). Projections are stored as Q4_1 (the `Native` path), the embedding as Q8_0.
//!
//! The weights are random but shaped so generation is predictable where a test needs it:
//! every token embedding has a large constant first component, so the final hidden state
//! points along it, and the output matrix gives control tokens a large negative weight
//! there (they are never generated) or one chosen token a large positive weight (it is
//! always generated).

use candle_core::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, ErrorType, FinishReason, GenerationParams, Llm, Sampling};
use vec2prompt_llm::gguf::GgufFile;
use vec2prompt_llm::llama::Llama;
use vec2prompt_llm::{LocalLlm, LocalLlmConfig, WeightFormat};

use vec2prompt_llm::tiny::*;

/// A tiny model file in its own temporary directory.
struct Tiny {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Tiny {
    fn new(opts: Opts) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("tiny-llama.gguf");
        write_gguf(&path, &opts).unwrap();
        Self { _tmp: tmp, path }
    }

    fn default() -> Self {
        Self::new(Opts::default())
    }

    fn load(&self, weights: WeightFormat) -> LocalLlm {
        LocalLlm::load(
            &self.path,
            LocalLlmConfig {
                weights,
                max_batch: 32,
            },
        )
        .unwrap()
    }

    fn llama(&self, weights: WeightFormat) -> Llama {
        Llama::load(&mut GgufFile::open(&self.path).unwrap(), weights).unwrap()
    }
}

fn greedy(max_new_tokens: usize) -> GenerationParams {
    GenerationParams {
        max_new_tokens,
        sampling: Sampling::Greedy,
        n: 1,
    }
}

fn sampled(max_new_tokens: usize, n: usize, seed: u64) -> GenerationParams {
    GenerationParams {
        max_new_tokens,
        sampling: Sampling::Sample {
            temperature: 1.0,
            top_p: 1.0,
            seed,
        },
        n,
    }
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits after the last token of `ids` (one sequence, fed at once).
fn last_logits(model: &Llama, ids: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache(1, ids.len()).unwrap();
    let l = model.forward(&[ids.to_vec()], &[0], &mut cache).unwrap();
    l.to_vec2::<f32>().unwrap().remove(0)
}

// ---------------------------------------------------------------- reference forward

/// A plain-loops llama forward pass over the dequantized weights of the file, following
/// llama.cpp's semantics (RMS norm, RoPE on adjacent pairs, grouped-query causal attention,
/// SiLU-gated MLP). Returns the logits after the last token.
fn reference_logits(path: &Path, ids: &[u32]) -> Vec<f32> {
    let mut file = GgufFile::open(path).unwrap();
    let dev = Device::Cpu;
    let mut mat = |name: &str| -> Vec<Vec<f32>> {
        let t = file.tensor(name, &dev).unwrap().dequantize(&dev).unwrap();
        if t.rank() == 1 {
            vec![t.to_vec1().unwrap()]
        } else {
            t.to_vec2().unwrap()
        }
    };
    let embd = mat("token_embd.weight");
    let output = mat("output.weight");
    let out_norm = mat("output_norm.weight").remove(0);
    let matvec = |w: &[Vec<f32>], x: &[f32]| -> Vec<f32> {
        w.iter()
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    };
    let rms = |x: &[f32], w: &[f32]| -> Vec<f32> {
        let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let s = 1.0 / (ms + RMS_EPS).sqrt();
        x.iter().zip(w).map(|(v, g)| v * s * g).collect()
    };
    let rope = |v: &mut [f32], pos: usize| {
        for head in v.chunks_mut(HEAD_DIM) {
            for i in 0..HEAD_DIM / 2 {
                let theta = pos as f32 / ROPE_BASE.powf(2.0 * i as f32 / HEAD_DIM as f32);
                let (c, s) = (theta.cos(), theta.sin());
                let (a, b) = (head[2 * i], head[2 * i + 1]);
                head[2 * i] = a * c - b * s;
                head[2 * i + 1] = a * s + b * c;
            }
        }
    };
    let mut xs: Vec<Vec<f32>> = ids.iter().map(|&t| embd[t as usize].clone()).collect();
    for layer in 0..LAYERS {
        let mut w = |n: &str| mat(&format!("blk.{layer}.{n}.weight"));
        let (wq, wk, wv, wo) = (w("attn_q"), w("attn_k"), w("attn_v"), w("attn_output"));
        let (gate, up, down) = (w("ffn_gate"), w("ffn_up"), w("ffn_down"));
        let (attn_norm, ffn_norm) = (w("attn_norm").remove(0), w("ffn_norm").remove(0));
        let mut qs = Vec::new();
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for (pos, x) in xs.iter().enumerate() {
            let h = rms(x, &attn_norm);
            let (mut q, mut k) = (matvec(&wq, &h), matvec(&wk, &h));
            rope(&mut q, pos);
            rope(&mut k, pos);
            qs.push(q);
            ks.push(k);
            vs.push(matvec(&wv, &h));
        }
        for (pos, x) in xs.iter_mut().enumerate() {
            let mut attn = vec![0f32; HIDDEN];
            for head in 0..HEADS {
                let kvh = head / (HEADS / KV_HEADS);
                let q = &qs[pos][head * HEAD_DIM..(head + 1) * HEAD_DIM];
                let scores: Vec<f32> = (0..=pos)
                    .map(|t| {
                        let k = &ks[t][kvh * HEAD_DIM..(kvh + 1) * HEAD_DIM];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (HEAD_DIM as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = e.iter().sum();
                for (t, p) in e.iter().enumerate() {
                    let v = &vs[t][kvh * HEAD_DIM..(kvh + 1) * HEAD_DIM];
                    for d in 0..HEAD_DIM {
                        attn[head * HEAD_DIM + d] += p / z * v[d];
                    }
                }
            }
            for (xi, oi) in x.iter_mut().zip(matvec(&wo, &attn)) {
                *xi += oi;
            }
            let h = rms(x, &ffn_norm);
            let act: Vec<f32> = matvec(&gate, &h)
                .iter()
                .zip(matvec(&up, &h))
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            for (xi, mi) in x.iter_mut().zip(matvec(&down, &act)) {
                *xi += mi;
            }
        }
    }
    matvec(&output, &rms(xs.last().unwrap(), &out_norm))
}

// ---------------------------------------------------------------- loading and tokenizer

#[test]
fn loads_and_reports_its_config() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    assert_eq!(llm.info().name, "tiny-llama");
    assert_eq!(llm.info().context_length, CONTEXT);
    let c = llm.model_config();
    assert_eq!(
        (c.n_layer, c.n_head, c.n_kv_head, c.head_dim, c.hidden),
        (LAYERS, HEADS, KV_HEADS, HEAD_DIM, HIDDEN)
    );
    assert_eq!(c.vocab_size, vocabulary().len());
    assert_eq!((c.rms_eps as f32, c.rope_base), (RMS_EPS, ROPE_BASE));
    let tok = llm.tokenizer();
    assert_eq!(tok.bos_id, Some(IM_START));
    assert!(!tok.add_bos);
    // EOS plus the control end markers.
    assert_eq!(tok.stop_ids, vec![ENDOFTEXT, IM_END]);
    assert_eq!(tok.token(IM_END), Some("<|im_end|>"));
}

#[test]
fn encode_decode_round_trips_ascii_and_unicode() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    let tok = llm.tokenizer();
    // Merges apply; a space becomes part of the following word ("Ġworld").
    assert_eq!(
        tok.encode("hello world").unwrap(),
        vec![token_id("hello"), token_id("Ġworld")]
    );
    assert_eq!(tok.encode("user").unwrap(), vec![token_id("user")]);
    // Digits are split one by one (the smollm pre-tokenizer).
    let digits = tok.encode("2024").unwrap();
    assert_eq!(
        digits,
        "2024".bytes().map(|b| 3 + b as u32).collect::<Vec<_>>()
    );
    for text in [
        "hello world",
        "  leading and trailing spaces  ",
        "tabs\tand\nnewlines\r\n",
        "héllo wörld — naïve café",
        "東京 🙂 ∑ x² ≤ 1",
        "",
    ] {
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), text, "ids {ids:?}");
        if !text.is_empty() {
            assert!(
                ids.iter().all(|&i| i >= 3),
                "no control token in {text:?}: {ids:?}"
            );
        }
    }
    // A 4-byte character is 4 byte tokens.
    assert_eq!(tok.encode("🙂").unwrap().len(), 4);
}

#[test]
fn control_tokens_in_text_become_single_ids_and_are_dropped_on_decode() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    let tok = llm.tokenizer();
    let ids = tok
        .encode("<|im_start|>user\nhello<|im_end|><|endoftext|>")
        .unwrap();
    assert_eq!(
        ids,
        vec![
            IM_START,
            token_id("user"),
            token_id("Ċ"),
            token_id("hello"),
            IM_END,
            ENDOFTEXT
        ]
    );
    assert_eq!(tok.decode(&ids).unwrap(), "user\nhello");
    assert_eq!(
        tok.inner.decode(&ids, false).unwrap(),
        "<|im_start|>user\nhello<|im_end|><|endoftext|>"
    );
    // A marker split by a character is plain text.
    assert!(tok.encode("<|im_ end|>").unwrap().iter().all(|&i| i >= 3));
}

#[test]
fn prompt_ids_apply_the_chat_template() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    let ids = llm.prompt_ids("hello world").unwrap();
    let text = llm.tokenizer().inner.decode(&ids, false).unwrap();
    assert_eq!(
        text,
        "<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(ids[0], IM_START);
    assert_eq!(ids.iter().filter(|&&i| i == IM_START).count(), 2);
    assert_eq!(ids.iter().filter(|&&i| i == IM_END).count(), 1);

    // A model's own template is used (here one with a system turn and bos_token).
    const WITH_SYSTEM: &str = "{{ bos_token }}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}{{ '<|im_start|>assistant\n' }}";
    let tiny = Tiny::new(Opts {
        template: Some(WITH_SYSTEM),
        bos: ENDOFTEXT,
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    let ids = llm.prompt_ids("hi").unwrap();
    assert_eq!(
        llm.tokenizer().inner.decode(&ids, false).unwrap(),
        "<|endoftext|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );

    // Without a template in the file: ChatML.
    let tiny = Tiny::new(Opts {
        template: None,
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    let text = llm
        .tokenizer()
        .inner
        .decode(&llm.prompt_ids("hi").unwrap(), false)
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );

    // add_bos_token: BOS is prepended once.
    let tiny = Tiny::new(Opts {
        add_bos: true,
        bos: ENDOFTEXT,
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    let ids = llm.prompt_ids("hi").unwrap();
    assert_eq!(&ids[..2], &[ENDOFTEXT, IM_START]);
    let tiny = Tiny::new(Opts {
        add_bos: true,
        bos: IM_START,
        ..Opts::default()
    });
    let ids = tiny.load(WeightFormat::Native).prompt_ids("hi").unwrap();
    assert_eq!(&ids[..2], &[IM_START, token_id("user")]);
}

/// Library bug (crates/llm/src/local.rs, `LocalLlm::load`): the template's `eos_token` is
/// taken as `tokenizer.stop_ids.first()`, but `stop_ids` is sorted, so it is the smallest
/// stop id (`<|endoftext|>`, id 0 here and in SmolLM2), not `tokenizer.ggml.eos_token_id`
/// (`<|im_end|>`, id 2).
#[test]
fn template_eos_token_is_the_declared_eos() {
    let tiny = Tiny::new(Opts {
        template: Some("{{ eos_token }}"),
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    assert_eq!(llm.prompt_ids("hi").unwrap(), vec![IM_END]);
}

// ---------------------------------------------------------------- the transformer

#[test]
fn f32_logits_match_a_plain_reference_implementation() {
    let tiny = Tiny::default();
    let model = tiny.llama(WeightFormat::F32);
    let ids = tiny
        .load(WeightFormat::F32)
        .prompt_ids("hello world, 42!")
        .unwrap();
    let got = last_logits(&model, &ids);
    let want = reference_logits(&tiny.path, &ids);
    let d = max_abs_diff(&got, &want);
    assert!(d < 1e-3, "max abs diff {d}");
    // The logits are not degenerate: they spread over several units.
    let spread = want.iter().copied().fold(f32::MIN, f32::max)
        - want[3..].iter().copied().fold(f32::MAX, f32::min);
    assert!(spread > 1.0, "spread {spread}");
}

#[test]
fn prefill_equals_feeding_tokens_one_by_one() {
    let tiny = Tiny::default();
    let model = tiny.llama(WeightFormat::F32);
    let ids = tiny
        .load(WeightFormat::F32)
        .prompt_ids("hello world")
        .unwrap();
    let whole = last_logits(&model, &ids);
    let mut cache = model.new_cache(1, ids.len()).unwrap();
    let mut step = Vec::new();
    for &t in &ids {
        step = model
            .forward(&[vec![t]], &[0], &mut cache)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
    }
    assert_eq!(cache.len(), ids.len());
    let d = max_abs_diff(&whole, &step[0]);
    assert!(d < 1e-3, "max abs diff {d}");
    // Prefill of a part, then the rest in one step, too.
    let mut cache = model.new_cache(1, ids.len()).unwrap();
    model
        .forward(&[ids[..5].to_vec()], &[0], &mut cache)
        .unwrap();
    let rest = model
        .forward(&[ids[5..].to_vec()], &[0], &mut cache)
        .unwrap();
    let d = max_abs_diff(&whole, &rest.to_vec2::<f32>().unwrap()[0]);
    assert!(d < 1e-3, "max abs diff {d}");
    // Going past the cache capacity is an error, not a panic.
    assert!(model.forward(&[vec![5]], &[0], &mut cache).is_err());
}

#[test]
fn every_position_logits_match_the_last_position_forward() {
    let tiny = Tiny::default();
    let model = tiny.llama(WeightFormat::F32);
    let ids = tiny
        .load(WeightFormat::F32)
        .prompt_ids("hello world")
        .unwrap();
    let all = model.forward_all(&ids).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(all.len(), ids.len());
    for n in [1, ids.len() / 2, ids.len()] {
        let d = max_abs_diff(&last_logits(&model, &ids[..n]), &all[n - 1]);
        assert!(d < 1e-3, "position {n}: max abs diff {d}");
    }
    assert!(model.forward_all(&[]).is_err());
    // Perplexity is finite and positive; an empty text is a clear error.
    let llm = tiny.load(WeightFormat::F32);
    let p = llm.perplexity("hello world").unwrap();
    assert!(p.is_finite() && p > 0.0, "{p}");
    assert!(llm.perplexity("").is_err());
}

#[test]
fn left_padded_batch_rows_equal_each_sequence_alone() {
    let tiny = Tiny::default();
    let model = tiny.llama(WeightFormat::F32);
    let llm = tiny.load(WeightFormat::F32);
    let seqs: Vec<Vec<u32>> = ["hello world, this is longer", "hi", "user 12"]
        .iter()
        .map(|p| llm.prompt_ids(p).unwrap())
        .collect();
    let longest = seqs.iter().map(Vec::len).max().unwrap();
    let pads: Vec<usize> = seqs.iter().map(|s| longest - s.len()).collect();
    assert!(pads.iter().any(|&p| p >= 10), "{pads:?}");
    let rows: Vec<Vec<u32>> = seqs
        .iter()
        .zip(&pads)
        .map(|(s, &p)| [vec![ENDOFTEXT; p], s.clone()].concat())
        .collect();
    let mut cache = model.new_cache(rows.len(), longest + 2).unwrap();
    let batch = model
        .forward(&rows, &pads, &mut cache)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let next: Vec<Vec<u32>> = (0..rows.len()).map(|i| vec![10 + i as u32]).collect();
    let step = model
        .forward(&next, &pads, &mut cache)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (i, s) in seqs.iter().enumerate() {
        let alone = last_logits(&model, s);
        let d = max_abs_diff(&alone, &batch[i]);
        assert!(
            d < 1e-3,
            "row {i} (pad {}): prefill max abs diff {d}",
            pads[i]
        );
        let alone = last_logits(&model, &[s.clone(), next[i].clone()].concat());
        let d = max_abs_diff(&alone, &step[i]);
        assert!(
            d < 1e-3,
            "row {i} (pad {}): decode max abs diff {d}",
            pads[i]
        );
    }
    // Control: the same rows with the padding not declared give different logits, so the
    // comparison above detects unmasked padding.
    let mut cache = model.new_cache(rows.len(), longest).unwrap();
    let unmasked = model
        .forward(&rows, &[0, 0, 0], &mut cache)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let i = pads.iter().position(|&p| p > 0).unwrap();
    assert!(max_abs_diff(&unmasked[i], &batch[i]) > 1e-2);
}

/// The logits of `seq` fed as a prefill then `steps` one token at a time, run as row
/// `at` of a left-padded batch whose other rows are `others`, in prefill chunks of
/// `chunk`.
fn logits_in_batch(
    model: &Llama,
    seq: &[u32],
    others: &[Vec<u32>],
    at: usize,
    steps: &[u32],
    chunk: usize,
) -> Vec<Vec<f32>> {
    let mut seqs = others.to_vec();
    seqs.insert(at, seq.to_vec());
    let longest = seqs.iter().map(Vec::len).max().unwrap();
    let pads: Vec<usize> = seqs.iter().map(|s| longest - s.len()).collect();
    let rows: Vec<Vec<u32>> = seqs
        .iter()
        .zip(&pads)
        .map(|(s, &p)| [vec![ENDOFTEXT; p], s.clone()].concat())
        .collect();
    let mut cache = model.new_cache(rows.len(), longest + steps.len()).unwrap();
    let mut out = vec![
        model
            .prefill(&rows, &pads, &mut cache, chunk)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
            .remove(at),
    ];
    for &t in steps {
        let next = vec![vec![t]; rows.len()];
        let l = model.forward(&next, &pads, &mut cache).unwrap();
        out.push(l.to_vec2::<f32>().unwrap().remove(at));
    }
    out
}

#[test]
fn a_sequence_has_the_same_logits_bit_for_bit_alone_and_in_batches_of_4_and_32() {
    let tiny = Tiny::default();
    let mut rng = StdRng::seed_from_u64(11);
    let mut random_seq =
        |n: usize| -> Vec<u32> { (0..n).map(|_| rng.random_range(3..259)).collect() };
    let seq = random_seq(9);
    let steps = [40u32, 41, 42];
    let others: Vec<Vec<u32>> = (0..31).map(|i| random_seq(1 + (i * 7) % 40)).collect();
    for format in [WeightFormat::Native, WeightFormat::Q8_0, WeightFormat::F32] {
        let model = tiny.llama(format);
        let alone = logits_in_batch(&model, &seq, &[], 0, &steps, 256);
        for (batch, at, chunk) in [(4, 1, 256), (4, 3, 5), (32, 0, 256), (32, 17, 8)] {
            let got = logits_in_batch(&model, &seq, &others[..batch - 1], at, &steps, chunk);
            for (step, (a, b)) in alone.iter().zip(&got).enumerate() {
                assert!(
                    a == b,
                    "{format:?}: batch {batch}, row {at}, chunk {chunk}, step {step}: \
                     max abs diff {}",
                    max_abs_diff(a, b)
                );
            }
        }
    }
}

#[test]
fn greedy_answers_are_the_same_alone_and_in_batches_of_4_and_32() {
    let tiny = Tiny::default();
    let words = [
        "hello", "world", "user", "hi", "there", "12", "says", "longer",
    ];
    let prompts: Vec<String> = (0..32)
        .map(|i| {
            (0..1 + (i * 5) % 9)
                .map(|j| words[(i + j * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for format in [WeightFormat::Native, WeightFormat::Q8_0] {
        let llm = tiny.load(format);
        let ids: Vec<Vec<u32>> = prompts.iter().map(|p| llm.prompt_ids(p).unwrap()).collect();
        let alone: Vec<Vec<u32>> = ids
            .iter()
            .map(|p| {
                llm.generate_ids(std::slice::from_ref(p), &greedy(12), true)
                    .unwrap()
                    .remove(0)
                    .remove(0)
                    .ids
            })
            .collect();
        for batch in [4, 32] {
            for (c, chunk) in ids.chunks(batch).enumerate() {
                let got = llm.generate_ids(chunk, &greedy(12), true).unwrap();
                for (i, answers) in got.iter().enumerate() {
                    assert_eq!(
                        answers[0].ids,
                        alone[c * batch + i],
                        "{format:?}: prompt {} in a batch of {batch}",
                        c * batch + i
                    );
                }
            }
        }
    }
}

#[test]
fn every_weight_format_loads_and_computes_the_same_function() {
    let tiny = Tiny::default();
    let ids = tiny
        .load(WeightFormat::F32)
        .prompt_ids("hello world")
        .unwrap();
    let f32_model = tiny.llama(WeightFormat::F32);
    let q8_model = tiny.llama(WeightFormat::Q8_0);
    let reference = last_logits(&f32_model, &ids);
    for (format, model) in [
        (WeightFormat::Native, &tiny.llama(WeightFormat::Native)),
        (WeightFormat::Q8_0, &q8_model),
    ] {
        let got = last_logits(model, &ids);
        let d = max_abs_diff(&got, &reference);
        // Q8 activations and (for Q8_0) requantized weights: small differences only.
        assert!(d < 0.25, "{format:?}: max abs diff {d} against f32");
        let cos = vec2prompt_core::cosine(&got[3..], &reference[3..]);
        assert!(cos > 0.999, "{format:?}: cos {cos}");
        // Not the same numbers as f32: the quantized kernels really ran.
        assert!(d > 1e-6, "{format:?} equals f32 exactly");
    }
    for format in [WeightFormat::Native, WeightFormat::Q8_0, WeightFormat::F32] {
        let llm = tiny.load(format);
        let out = llm
            .generate(&strings(&["hello", "world"]), &greedy(5))
            .unwrap();
        assert_eq!(out.len(), 2);
        for g in out.iter().flatten() {
            assert_eq!(
                (g.completion_tokens, g.finish_reason),
                (5, FinishReason::Length)
            );
        }
    }
    // The names the CLI accepts.
    for (s, f) in [
        ("native", WeightFormat::Native),
        ("Q8_0", WeightFormat::Q8_0),
        ("q8", WeightFormat::Q8_0),
        ("F32", WeightFormat::F32),
    ] {
        assert_eq!(s.parse::<WeightFormat>().unwrap(), f);
    }
    assert!("auto".parse::<WeightFormat>().is_err());
    let e = "q4".parse::<WeightFormat>().unwrap_err();
    assert_eq!(e.error_type(), ErrorType::InvalidInput);
}

#[test]
fn tied_embeddings_are_used_as_output() {
    let tiny = Tiny::new(Opts {
        tied: true,
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    let p = llm.prompt_ids("hello").unwrap();
    let out = llm.generate_ids(&[p], &greedy(4), true).unwrap();
    assert_eq!(out[0][0].ids.len(), 4);
    assert!(
        out[0][0]
            .ids
            .iter()
            .all(|&i| (i as usize) < vocabulary().len())
    );
}

// ---------------------------------------------------------------- generation

#[test]
fn greedy_generation_is_deterministic_and_respects_max_new_tokens() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::F32);
    let prompts = strings(&["hello world", "hi", "user 42 says hello"]);
    let a = llm.generate(&prompts, &greedy(7)).unwrap();
    let b = llm.generate(&prompts, &greedy(7)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), prompts.len());
    for (p, gens) in prompts.iter().zip(&a) {
        assert_eq!(gens.len(), 1);
        let g = &gens[0];
        // Control tokens are never generated by this model: no stop, so Length.
        assert_eq!(
            (g.completion_tokens, g.finish_reason),
            (7, FinishReason::Length)
        );
        assert_eq!(g.prompt_tokens, llm.prompt_ids(p).unwrap().len());
        // The same prompt alone gives the same answer as in the batch.
        assert_eq!(llm.answer(p, &greedy(7)).unwrap(), *g);
    }
    // The prompt matters: different prompts give different next-token logits.
    let model = tiny.llama(WeightFormat::F32);
    let logits = |p: &str| last_logits(&model, &llm.prompt_ids(p).unwrap());
    let d = max_abs_diff(&logits("hello world"), &logits("hi"));
    assert!(d > 1e-2, "max abs diff {d}");
    // Batched in waves of one sequence: the same answers.
    let one = LocalLlm::load(
        &tiny.path,
        LocalLlmConfig {
            weights: WeightFormat::F32,
            max_batch: 1,
        },
    )
    .unwrap();
    assert_eq!(one.generate(&prompts, &greedy(7)).unwrap(), a);
}

#[test]
fn greedy_tokens_are_the_argmax_of_the_reference_logits() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::F32);
    let mut ids = llm.prompt_ids("hello").unwrap();
    let out = llm
        .generate_ids(&[ids.clone()], &greedy(3), false)
        .unwrap()
        .remove(0)
        .remove(0);
    for &tok in &out.ids {
        let logits = reference_logits(&tiny.path, &ids);
        let best = vec2prompt_llm::sampler::argmax(&logits);
        // The argmax, or a token tied with it within float rounding.
        let gap = logits[best as usize] - logits[tok as usize];
        assert!(
            tok == best || gap < 1e-4,
            "after {ids:?}: {tok} instead of {best}"
        );
        ids.push(tok);
    }
}

#[test]
fn a_favoured_stop_token_ends_generation() {
    let tiny = Tiny::new(Opts {
        favour: Some((IM_END, 20.0)),
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    let prompts = strings(&["hello", "a longer prompt here"]);
    for params in [greedy(8), sampled(8, 3, 5)] {
        for g in llm.generate(&prompts, &params).unwrap().iter().flatten() {
            assert_eq!(g.finish_reason, FinishReason::Stop);
            assert_eq!(g.completion_tokens, 1);
            assert_eq!(g.text, "");
        }
    }
    // ignore_stop runs past the stop token to exactly max_new_tokens.
    let p = llm.prompt_ids("hello").unwrap();
    let out = llm
        .generate_ids(std::slice::from_ref(&p), &greedy(6), false)
        .unwrap();
    assert_eq!(out[0][0].ids, vec![IM_END]);
    assert_eq!(out[0][0].finish, FinishReason::Stop);
    let out = llm.generate_ids(&[p], &greedy(6), true).unwrap();
    assert_eq!(out[0][0].ids, vec![IM_END; 6]);
    assert_eq!(out[0][0].finish, FinishReason::Length);
}

#[test]
fn sequences_stopping_at_different_steps_keep_their_own_answers() {
    // <|im_end|> is likely but not certain: some samples stop early, others run on, so
    // finished rows are dropped from the batch and its cache mid-generation.
    let tiny = Tiny::new(Opts {
        favour: Some((IM_END, 1.2)),
        ..Opts::default()
    });
    let prompts = strings(&["hello", "hi there, world"]);
    let params = sampled(10, 8, 11);
    let load = |max_batch| {
        LocalLlm::load(
            &tiny.path,
            LocalLlmConfig {
                weights: WeightFormat::F32,
                max_batch,
            },
        )
        .unwrap()
    };
    let batched = load(32).generate(&prompts, &params).unwrap();
    let finishes: Vec<FinishReason> = batched.iter().flatten().map(|g| g.finish_reason).collect();
    let stops = finishes
        .iter()
        .filter(|&&f| f == FinishReason::Stop)
        .count();
    assert!(stops >= 2 && stops + 2 <= finishes.len(), "{finishes:?}");
    let lengths: std::collections::HashSet<usize> = batched
        .iter()
        .flatten()
        .map(|g| g.completion_tokens)
        .collect();
    assert!(lengths.len() >= 3, "stops at only {lengths:?}");
    for g in batched.iter().flatten() {
        match g.finish_reason {
            FinishReason::Stop => assert!(g.completion_tokens <= 10),
            FinishReason::Length => assert_eq!(g.completion_tokens, 10),
        }
    }
    // Each sequence alone in its batch gives the same answer.
    assert_eq!(load(1).generate(&prompts, &params).unwrap(), batched);
    // The stop token ends the ids and is not in the text.
    let llm = load(32);
    let p = llm.prompt_ids("hello").unwrap();
    for a in llm.generate_ids(&[p], &params, false).unwrap().remove(0) {
        let stop_at = a.ids.iter().position(|&t| t == IM_END);
        match a.finish {
            FinishReason::Stop => assert_eq!(stop_at, Some(a.ids.len() - 1)),
            FinishReason::Length => assert_eq!(stop_at, None),
        }
    }
}

#[test]
fn a_favoured_word_is_decoded_into_the_text() {
    let tiny = Tiny::new(Opts {
        favour: Some((token_id("hello"), 20.0)),
        ..Opts::default()
    });
    let llm = tiny.load(WeightFormat::Native);
    let g = llm.answer("hi", &greedy(3)).unwrap();
    assert_eq!(g.text, "hellohellohello");
    assert_eq!(
        (g.completion_tokens, g.finish_reason),
        (3, FinishReason::Length)
    );
}

#[test]
fn ignore_stop_returns_exactly_max_new_tokens() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    let prompts: Vec<Vec<u32>> = ["hello", "hi there"]
        .iter()
        .map(|p| llm.prompt_ids(p).unwrap())
        .collect();
    for max in [1, 9] {
        let before = llm.forward_passes().unwrap();
        let out = llm
            .generate_ids(&prompts, &sampled(max, 3, 9), true)
            .unwrap();
        // One wave of 6 sequences: one prefill pass (the first token comes from it), then
        // one pass per further token for the whole batch.
        assert_eq!(llm.forward_passes().unwrap() - before, max as u64);
        assert_eq!(out.len(), 2);
        for a in out.iter().flatten() {
            assert_eq!(a.ids.len(), max);
            assert_eq!(a.finish, FinishReason::Length);
        }
        assert_eq!(out[0].len(), 3);
    }
}

#[test]
fn seeded_samples_are_reproducible_and_differ_across_seeds() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::F32);
    let prompts = strings(&["hello world", "hi"]);
    let run = |seed| llm.generate(&prompts, &sampled(8, 4, seed)).unwrap();
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(a, run(2));
    for gens in &a {
        assert_eq!(gens.len(), 4);
        let texts: std::collections::HashSet<&str> = gens.iter().map(|g| g.text.as_str()).collect();
        assert!(
            texts.len() > 1,
            "the 4 samples of a prompt are all the same"
        );
        for g in gens {
            assert_eq!(
                (g.completion_tokens, g.finish_reason),
                (8, FinishReason::Length)
            );
        }
    }
    // A prompt's samples do not depend on what else shares its batch.
    let alone = llm.generate(&prompts[..1], &sampled(8, 4, 1)).unwrap();
    assert_eq!(alone[0], a[0]);
}

// ---------------------------------------------------------------- bad input

fn load_err(path: &Path) -> Error {
    match LocalLlm::load(path, LocalLlmConfig::default()) {
        Ok(_) => panic!("{} loaded but should not", path.display()),
        Err(e) => e,
    }
}

fn assert_names(e: &Error, path: &Path) {
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{msg:?} does not name {}",
        path.display()
    );
}

#[test]
fn a_truncated_file_is_reported_as_truncated() {
    let tiny = Tiny::default();
    let bytes = std::fs::read(&tiny.path).unwrap();
    std::fs::write(&tiny.path, &bytes[..bytes.len() / 2]).unwrap();
    for e in [
        load_err(&tiny.path),
        GgufFile::open(&tiny.path).err().unwrap(),
    ] {
        assert_eq!(e.error_type(), ErrorType::Model);
        assert_names(&e, &tiny.path);
        assert!(e.to_string().contains("truncated"), "{e}");
    }
    // Cut inside the metadata: not a valid GGUF, still naming the file.
    std::fs::write(&tiny.path, &bytes[..200]).unwrap();
    let e = load_err(&tiny.path);
    assert_eq!(e.error_type(), ErrorType::Model);
    assert_names(&e, &tiny.path);
}

#[test]
fn a_file_that_is_not_gguf_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("noise.gguf");
    let mut rng = StdRng::seed_from_u64(3);
    let noise: Vec<u8> = (0..10_000).map(|_| rng.random()).collect();
    std::fs::write(&path, noise).unwrap();
    let e = load_err(&path);
    assert_eq!(e.error_type(), ErrorType::Model);
    assert_names(&e, &path);
    assert!(e.to_string().contains("not a valid GGUF"), "{e}");
    std::fs::write(&path, b"").unwrap();
    assert_names(&load_err(&path), &path);
}

#[test]
fn a_directory_or_missing_path_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let e = load_err(tmp.path());
    assert_names(&e, tmp.path());
    assert!(e.to_string().contains("directory"), "{e}");
    let missing = tmp.path().join("missing.gguf");
    let e = load_err(&missing);
    assert_eq!(e.error_type(), ErrorType::Model);
    assert_names(&e, &missing);
}

#[test]
fn unsupported_models_are_errors() {
    let tiny = Tiny::new(Opts {
        arch: "gpt2",
        ..Opts::default()
    });
    let e = load_err(&tiny.path);
    assert_names(&e, &tiny.path);
    assert!(
        e.to_string().contains("architecture") && e.to_string().contains("gpt2"),
        "{e}"
    );

    let tiny = Tiny::new(Opts {
        tokenizer_model: "llama",
        ..Opts::default()
    });
    let e = load_err(&tiny.path);
    assert_names(&e, &tiny.path);
    assert!(e.to_string().contains("tokenizer.ggml.model"), "{e}");

    let tiny = Tiny::new(Opts {
        drop_tensor: Some("blk.1.ffn_down.weight"),
        ..Opts::default()
    });
    let e = load_err(&tiny.path);
    assert_names(&e, &tiny.path);
    assert!(e.to_string().contains("blk.1.ffn_down.weight"), "{e}");

    let tiny = Tiny::new(Opts {
        template: Some("{% for %}"),
        ..Opts::default()
    });
    assert_names(&load_err(&tiny.path), &tiny.path);
}

#[test]
fn a_prompt_longer_than_the_context_is_an_error() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    let long = "x ".repeat(40);
    let e = llm
        .generate(&strings(&["hi", &long]), &greedy(4))
        .unwrap_err();
    assert_eq!(e.error_type(), ErrorType::InvalidInput);
    assert!(
        e.to_string().contains("context") && e.to_string().contains("prompts[1]"),
        "{e}"
    );
    // Prompt + max_new_tokens over the context, even though the prompt alone fits.
    let p = llm.prompt_ids("hello").unwrap();
    let e = llm
        .generate_ids(
            std::slice::from_ref(&p),
            &greedy(CONTEXT - p.len() + 1),
            false,
        )
        .unwrap_err();
    assert!(e.to_string().contains("context"), "{e}");
    // Exactly filling the context works.
    let out = llm
        .generate_ids(std::slice::from_ref(&p), &greedy(CONTEXT - p.len()), true)
        .unwrap();
    assert_eq!(out[0][0].ids.len(), CONTEXT - p.len());
}

#[test]
fn empty_prompts_are_errors() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    for prompts in [strings(&[""]), strings(&["hi", "  \n\t"])] {
        let e = llm.generate(&prompts, &greedy(4)).unwrap_err();
        assert_eq!(e.error_type(), ErrorType::InvalidInput);
        assert!(e.to_string().contains("empty"), "{e}");
    }
    let e = llm.generate_ids(&[vec![]], &greedy(4), false).unwrap_err();
    assert_eq!(e.error_type(), ErrorType::InvalidInput);
    assert!(llm.generate(&[], &greedy(4)).unwrap().is_empty());
}

#[test]
fn invalid_generation_params_are_invalid_input() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::Native);
    let prompts = strings(&["hi"]);
    let sample = |temperature: f64, top_p: f64| GenerationParams {
        max_new_tokens: 4,
        sampling: Sampling::Sample {
            temperature,
            top_p,
            seed: 0,
        },
        n: 1,
    };
    let cases = [
        ("max_new_tokens", greedy(0)),
        ("n", GenerationParams { n: 0, ..greedy(4) }),
        ("temperature", sample(0.0, 1.0)),
        ("temperature", sample(-1.0, 1.0)),
        ("temperature", sample(f64::NAN, 1.0)),
        ("top_p", sample(1.0, 0.0)),
        ("top_p", sample(1.0, 1.5)),
    ];
    for (arg, params) in cases {
        let e = llm.generate(&prompts, &params).unwrap_err();
        assert_eq!(e.error_type(), ErrorType::InvalidInput, "{params:?}");
        assert!(e.to_string().contains(arg), "{params:?}: {e}");
    }
}

#[test]
fn chunked_prefill_equals_one_pass_for_a_padded_batch() {
    let tiny = Tiny::default();
    let model = tiny.llama(WeightFormat::F32);
    let llm = tiny.load(WeightFormat::F32);
    let long = llm.prompt_ids("hello world hello world user").unwrap();
    let short = llm.prompt_ids("hi").unwrap();
    let pad = long.len() - short.len();
    let mut padded = vec![0u32; pad];
    padded.extend_from_slice(&short);
    let rows = vec![long.clone(), padded];
    let pads = [0, pad];
    let mut cache = model.new_cache(2, long.len() + 1).unwrap();
    let whole = model
        .forward(&rows, &pads, &mut cache)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for chunk in [1, 3, 7, long.len(), 1000] {
        let mut cache = model.new_cache(2, long.len() + 1).unwrap();
        let chunked = model
            .prefill(&rows, &pads, &mut cache, chunk)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(cache.len(), long.len(), "chunk {chunk}");
        for (a, b) in whole.iter().zip(&chunked) {
            let d = max_abs_diff(a, b);
            assert!(d < 1e-3, "chunk {chunk}: max abs diff {d}");
        }
    }
}

#[test]
fn a_cancelled_prompt_stops_decoding_and_the_others_are_untouched() {
    let tiny = Tiny::default();
    let llm = tiny.load(WeightFormat::F32);
    let prompts: Vec<Vec<u32>> = ["hello", "hi there"]
        .iter()
        .map(|p| llm.prompt_ids(p).unwrap())
        .collect();
    let alone = llm.generate_ids(&prompts, &greedy(12), true).unwrap();
    // Prompt 0 is cancelled after 3 steps: the callback is asked once per live sequence and
    // step, so count its questions.
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let cancelled =
        |p: usize| p == 0 && asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3;
    let out = llm
        .generate_ids_cancellable(&prompts, &greedy(12), true, &cancelled)
        .unwrap();
    assert!(out[0][0].ids.len() < 12, "{:?}", out[0][0]);
    assert_eq!(out[1], alone[1]);
    // Cancelled before it starts: nothing is decoded for it.
    let out = llm
        .generate_ids_cancellable(&prompts, &greedy(12), true, &|p| p == 1)
        .unwrap();
    assert!(out[1][0].ids.is_empty());
    assert_eq!(out[0], alone[0]);
}

#[test]
fn projection_weights_count_every_matrix_a_token_goes_through() {
    let tiny = Tiny::default();
    let per_block = HIDDEN * (HEADS + 2 * KV_HEADS) * HEAD_DIM // q, k, v
        + HEADS * HEAD_DIM * HIDDEN // output
        + 2 * FFN * HIDDEN // gate, up
        + FFN * HIDDEN; // down
    for weights in [WeightFormat::F32, WeightFormat::Q8_0, WeightFormat::Native] {
        let llm = tiny.load(weights);
        let vocab = llm.model_config().vocab_size;
        assert!(vocab >= vocabulary().len());
        assert_eq!(
            llm.projection_weights(),
            LAYERS * per_block + vocab * HIDDEN,
            "{weights:?}"
        );
    }
}

#[test]
fn the_measured_int8_peak_is_positive_where_a_kernel_runs() {
    use vec2prompt_llm::q8;
    match q8::best_kernel() {
        Some(_) => {
            let ops = q8::peak_int8_ops(0.1).unwrap();
            assert!(ops.is_finite() && ops > 1e6, "{ops}");
        }
        None => assert!(q8::peak_int8_ops(0.1).is_none()),
    }
}
