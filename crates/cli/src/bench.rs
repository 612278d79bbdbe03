//! `vec2prompt bench`: throughput of the embedder and the LLM on this machine.
//!
//! Speed lives here, never in timed tests. BENCHMARKS.md records the output with date,
//! machine and command.

use crate::config::{Config, LlmBackend};
use anyhow::Result;
use clap::{Args, ValueEnum};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;
use vec2prompt_core::{Embedder, GenerationParams};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};
use vec2prompt_llm::LocalLlm;

/// What to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// Embedding throughput.
    Embed,
    /// LLM prefill, decode and batched decode.
    Llm,
    /// Training steps of the reference decoder shape compared with PyTorch (d256, 4 layers,
    /// vocab 16k, batch 32 × 32 tokens); not part of `all`.
    Train,
    /// Training steps of the generator (frozen SmolLM2 base + soft prompts + LoRA,
    /// batch 8 × 24 prompt tokens); not part of `all`.
    GeneratorTrain,
    /// The generator's proposals as the search asks for them (4 beams and 8 seeded samples
    /// per target), for 1 and for 8 targets, decoded by its trainable f32 network and by
    /// the copy with merged adapters in the LLM's weight format; needs a trained
    /// generator; not part of `all`.
    GeneratorDecode,
    /// Latency of the prompt optimizer at 0 LLM calls (embed + greedy rewrite) for a prompt
    /// of about 40 tokens; needs a trained optimizer; not part of `all`.
    Optimize,
    /// Content candidates: embedding the lexicon's words (its first build, in a
    /// temporary directory) and choosing one target's topic lists; not part of `all`.
    Content,
    /// Int8 arithmetic: the CPU's measured peak multiply-add rate, the packed int8
    /// kernel's rate on one of the model's projections, and batched decode's rate in the
    /// same units; not part of `all`.
    Int8,
    /// Resident memory added by each model as the server loads them (the LLM, the
    /// embedder, the learned models, the generator, the lexicon, the optimizer), in MB;
    /// not part of `all`.
    Memory,
    /// Embedding and LLM.
    All,
}

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[clap(long, value_enum, default_value = "all")]
    pub part: Part,
    /// Sentences embedded per batch-size setting.
    #[clap(long, default_value_t = 256)]
    pub sentences: usize,
    /// New tokens per sequence in the decode measurements.
    #[clap(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Print JSON instead of a table.
    #[clap(long)]
    pub json: bool,
}

/// One measured number.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    value: f64,
    unit: &'static str,
    target: Option<f64>,
}

const WORDS: &[&str] = &[
    "the",
    "model",
    "learns",
    "a",
    "quick",
    "summary",
    "of",
    "each",
    "answer",
    "and",
    "writes",
    "short",
    "clear",
    "instructions",
    "for",
    "users",
    "who",
    "want",
    "recipes",
    "poems",
    "code",
    "history",
    "science",
    "travel",
    "tips",
    "about",
    "healthy",
    "food",
    "in",
    "three",
    "simple",
    "steps",
    "while",
    "keeping",
    "every",
    "detail",
    "accurate",
    "explain",
    "why",
    "sky",
    "is",
    "blue",
    "describe",
    "city",
    "river",
    "market",
    "today",
    "students",
    "teachers",
    "with",
];

/// Deterministic English-like sentences of 10–30 words.
fn sentences(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let len = rng.random_range(10..=30);
            let mut s: Vec<&str> = (0..len)
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect();
            s.push(".");
            s.join(" ")
        })
        .collect()
}

fn bench_embed(args: &BenchArgs, config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    let texts = sentences(args.sentences, 1);
    let path = config.local_embedder("bench")?;
    for batch in [1usize, 16, 64] {
        let embedder = LocalEmbedder::load(path, LocalEmbedderConfig { batch_size: batch })?;
        let n = if batch == 1 {
            texts.len().min(64)
        } else {
            texts.len()
        };
        embedder.embed(&texts[..batch.min(n)])?; // warm-up
        let t = Instant::now();
        embedder.embed(&texts[..n])?;
        let rate = n as f64 / t.elapsed().as_secs_f64();
        eprintln!("embed batch {batch}: {rate:.1} sentences/s");
        rows.push(Row {
            name: format!("embed_batch_{batch}"),
            value: rate,
            unit: "sentences/s",
            target: Some(150.0),
        });
    }
    Ok(())
}

fn bench_llm(args: &BenchArgs, config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    let (path, llm_config) = config.local_llm("bench")?;
    let llm = LocalLlm::load(path, llm_config.clone())?;
    let greedy = |n| GenerationParams {
        max_new_tokens: n,
        ..Default::default()
    };
    // Prefill: one prompt of ~256 tokens.
    let long = sentences(20, 2).join(" ");
    let mut prompt = llm.prompt_ids(&long)?;
    prompt.truncate(256);
    llm.generate_ids(&[prompt.clone()], &greedy(1), true)?; // warm-up
    let t = Instant::now();
    llm.generate_ids(&[prompt.clone()], &greedy(1), true)?;
    let prefill_s = t.elapsed().as_secs_f64();
    let prefill = prompt.len() as f64 / prefill_s;
    eprintln!("prefill: {prefill:.1} tokens/s ({} tokens)", prompt.len());
    rows.push(Row {
        name: "llm_prefill".into(),
        value: prefill,
        unit: "tokens/s",
        target: None,
    });
    // Decode: short prompts, fixed number of new tokens (stop tokens ignored).
    let n = args.new_tokens.max(2);
    let short: Vec<Vec<u32>> = sentences(32, 3)
        .iter()
        .map(|s| llm.prompt_ids(&format!("Write a story about: {s}")))
        .collect::<vec2prompt_core::Result<_>>()?;
    for batch in [1usize, 4, 8, 16, 32] {
        let prompts = &short[..batch];
        // Time of the prefill + first token, to subtract from the total.
        let t = Instant::now();
        llm.generate_ids(prompts, &greedy(1), true)?;
        let first = t.elapsed().as_secs_f64();
        let t = Instant::now();
        llm.generate_ids(prompts, &greedy(n), true)?;
        let total = t.elapsed().as_secs_f64();
        let decode = (batch * (n - 1)) as f64 / (total - first).max(1e-9);
        let overall = (batch * n) as f64 / total;
        eprintln!("decode batch {batch}: {decode:.1} tokens/s (with prefill: {overall:.1})");
        let (name, target) = match batch {
            1 => ("llm_decode_single".to_string(), Some(90.0)),
            b => (format!("llm_decode_batch_{b}"), Some(250.0)),
        };
        rows.push(Row {
            name,
            value: decode,
            unit: "tokens/s",
            target,
        });
    }
    Ok(())
}

/// The int8 roofline of this CPU: the peak rate of the kernel's instruction sequence
/// (registers only), the packed kernel on a gate/up-shaped projection (1536 × 576) at 1 to
/// 64 input rows, and batched decode (32 sequences) converted to operations per second by
/// the model's projection weights per token. Units: GOPS, one multiply-add = 2 operations.
fn bench_int8(args: &BenchArgs, config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    use vec2prompt_llm::q8::{self, Kernel, PackedQ8};
    let Some(kernel) = q8::best_kernel() else {
        anyhow::bail!(
            "this CPU has neither AVX-512 VNNI nor AVX2: there is no int8 kernel to time"
        );
    };
    let mut push = |name: String, value: f64| {
        eprintln!("{name}: {value:.1} GOPS");
        rows.push(Row {
            name,
            value,
            unit: "GOPS",
            target: None,
        });
    };
    for k in [Kernel::Vnni, Kernel::Avx2] {
        if let Some(ops) = q8::peak_int8_ops_with(k, 2.0) {
            push(format!("int8_peak_{k:?}").to_lowercase(), ops / 1e9);
        }
    }
    let (n, k) = (1536usize, 576usize);
    let mut rng = StdRng::seed_from_u64(5);
    let w: Vec<f32> = (0..n * k).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let packed = PackedQ8::with_kernel(&w, n, k, kernel)
        .ok_or_else(|| anyhow::anyhow!("the {kernel:?} kernel does not take a {n} × {k} matrix"))?;
    for m in [1usize, 8, 32, 64] {
        let x: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        std::hint::black_box(packed.matmul(&x, m)); // warm-up
        let (mut calls, t) = (0usize, Instant::now());
        while t.elapsed().as_secs_f64() < 1.0 {
            std::hint::black_box(packed.matmul(&x, m));
            calls += 1;
        }
        let ops = 2.0 * (m * n * k * calls) as f64 / t.elapsed().as_secs_f64();
        push(format!("q8_kernel_rows_{m}"), ops / 1e9);
    }
    let (path, llm_config) = config.local_llm("bench")?;
    let llm = LocalLlm::load(path, llm_config.clone())?;
    let per_token = llm.projection_weights() as f64;
    let tokens = args.new_tokens.max(2);
    let prompts: Vec<Vec<u32>> = sentences(32, 3)
        .iter()
        .map(|s| llm.prompt_ids(&format!("Write a story about: {s}")))
        .collect::<vec2prompt_core::Result<_>>()?;
    let greedy = |n| GenerationParams {
        max_new_tokens: n,
        ..Default::default()
    };
    let t = Instant::now();
    llm.generate_ids(&prompts, &greedy(1), true)?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    llm.generate_ids(&prompts, &greedy(tokens), true)?;
    let decode_s = (t.elapsed().as_secs_f64() - first).max(1e-9);
    let tok_s = (prompts.len() * (tokens - 1)) as f64 / decode_s;
    eprintln!(
        "decode ×32: {tok_s:.1} tokens/s × {:.1} M projection weights per token",
        per_token / 1e6
    );
    push("decode_batch_32".into(), 2.0 * tok_s * per_token / 1e9);
    Ok(())
}

/// Runs `bench`.
pub fn run(args: &BenchArgs, config: &Config) -> Result<()> {
    let mut rows = Vec::new();
    if matches!(args.part, Part::Embed | Part::All) {
        bench_embed(args, config, &mut rows)?;
    }
    if matches!(args.part, Part::Llm | Part::All) {
        bench_llm(args, config, &mut rows)?;
    }
    if matches!(args.part, Part::Train) {
        bench_train(&mut rows)?;
    }
    if matches!(args.part, Part::GeneratorTrain) {
        bench_generator(config, &mut rows)?;
    }
    if matches!(args.part, Part::GeneratorDecode) {
        bench_generator_decode(config, &mut rows)?;
    }
    if matches!(args.part, Part::Optimize) {
        bench_optimize(config, &mut rows)?;
    }
    if matches!(args.part, Part::Content) {
        bench_content(config, &mut rows)?;
    }
    if matches!(args.part, Part::Int8) {
        bench_int8(args, config, &mut rows)?;
    }
    if matches!(args.part, Part::Memory) {
        for step in crate::bench_memory::measure(config)? {
            rows.push(Row {
                name: format!("rss_{}", step.name),
                value: step.added_mb,
                unit: "MB added",
                target: None,
            });
        }
        if let Some(total) = crate::bench_memory::resident_mb() {
            rows.push(Row {
                name: "rss_total".into(),
                value: total,
                unit: "MB",
                target: Some(900.0),
            });
        }
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_default();
    let weights = match &config.llm {
        LlmBackend::Local { config, .. } => format!("{:?}", config.weights),
        LlmBackend::Openai(_) => "remote".to_string(),
    };
    if args.json {
        let out = serde_json::json!({
            "threads": threads,
            "llm_weights": weights,
            "results": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("threads: {threads}, llm weights: {weights}");
        println!(
            "{:<22} {:>10} {:<12} {:>8}",
            "benchmark", "value", "unit", "target"
        );
        for r in &rows {
            let target = r.target.map_or("-".into(), |t| format!("{t:.0}"));
            println!(
                "{:<22} {:>10.1} {:<12} {:>8}",
                r.name, r.value, r.unit, target
            );
        }
    }
    Ok(())
}

/// The content lexicon's first build (words embedded per second, into a temporary
/// directory so the home's cache is neither read nor written) and the choice of topic
/// lists for one target at a time (milliseconds per target, the mean over 32 targets).
fn bench_content(config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    use vec2prompt_search::lexicon::{Lexicon, TopicOptions, vocabulary_words};
    let path = config.local_embedder("bench")?;
    let embedder = LocalEmbedder::load(path, LocalEmbedderConfig::default())?;
    let words = vocabulary_words(&path.join("tokenizer.json"))?;
    let n = words.len();
    let scratch = std::env::temp_dir().join(format!("vec2prompt-bench-{}", std::process::id()));
    let t = Instant::now();
    let built = Lexicon::load_or_build(words, &embedder, &scratch, &mut |_, _| {});
    let _ = std::fs::remove_dir_all(&scratch);
    let lexicon = built?;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("lexicon build: {n} words, {rate:.0} words/s");
    rows.push(Row {
        name: "lexicon_build".into(),
        value: rate,
        unit: "words/s",
        target: None,
    });
    let targets = embedder.embed(&sentences(32, 7))?;
    // The default (a few extensions of each list embedded per step, chosen by an
    // estimate) beside every extension embedded: time, and how near the best list lands.
    let exact = TopicOptions {
        checked: 0,
        ..TopicOptions::default()
    };
    for (name, options) in [
        ("topic_lists", TopicOptions::default()),
        ("topic_lists_all", exact),
    ] {
        lexicon.topic_lists_batch(&targets[..1], &embedder, &options)?; // warm-up
        let t = Instant::now();
        let mut best = 0.0;
        for q in &targets {
            let lists = lexicon.topic_lists_batch(std::slice::from_ref(q), &embedder, &options)?;
            best += lists
                .first()
                .and_then(|l| l.first())
                .map_or(0.0, |t| t.similarity as f64);
        }
        let ms = t.elapsed().as_secs_f64() * 1e3 / targets.len() as f64;
        let best = best / targets.len() as f64;
        eprintln!("{name}: {ms:.0} ms per target, best list's cosine {best:.4} on average");
        rows.push(Row {
            name: format!("{name}_per_target"),
            value: ms,
            unit: "ms",
            target: None,
        });
        rows.push(Row {
            name: format!("{name}_best_cosine"),
            value: best,
            unit: "cosine",
            target: None,
        });
    }
    Ok(())
}

/// Tokens per second of full generator training steps on the configured base LLM.
fn bench_generator(config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    let (positions, prompt) =
        vec2prompt_train::generator::bench_stage1(config.local_llm("bench")?.0, 8, 24, 3)?;
    rows.push(Row {
        name: "generator step b8×24".into(),
        value: positions,
        unit: "positions/s",
        target: None,
    });
    rows.push(Row {
        name: "generator step b8×24".into(),
        value: prompt,
        unit: "prompt tok/s",
        target: None,
    });
    Ok(())
}

/// Tokens per second of full training steps (forward, backward, AdamW) of the reference
/// decoder shape, on random tokens.
fn bench_train(rows: &mut Vec<Row>) -> Result<()> {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};
    use vec2prompt_latent::{ConditionalDecoder, DecoderConfig};
    use vec2prompt_train::kit::optim::AdamW;
    let (batch, len) = (32usize, 32usize);
    let config = DecoderConfig {
        vocab: 16_384,
        dim: 256,
        layers: 4,
        heads: 4,
        hidden: 1024,
        prefix: 8,
        condition: 384,
        max_tokens: len,
    };
    let varmap = VarMap::new();
    let decoder = ConditionalDecoder::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut adam = AdamW::new(vars, 0.01)?;
    let dev = Device::Cpu;
    let ids = Tensor::rand(0f32, 16_000f32, (batch, len), &dev)?.to_dtype(DType::U32)?;
    let targets = Tensor::rand(0f32, 16_000f32, (batch, len), &dev)?.to_dtype(DType::U32)?;
    let weights = Tensor::ones((batch, len), DType::F32, &dev)?;
    let cond = Tensor::randn(0f32, 1.0, (batch, 384), &dev)?;
    let mut step = || -> Result<()> {
        let loss = decoder.loss(&cond, &ids, &targets, &weights)?;
        let grads = loss.backward()?;
        adam.step(&grads, 1e-4)?;
        Ok(())
    };
    step()?;
    let steps = 5;
    let t = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let secs = t.elapsed().as_secs_f64();
    rows.push(Row {
        name: "train step d256×4 b32×32".into(),
        value: (steps * batch * len) as f64 / secs,
        unit: "tokens/s",
        // PyTorch 2.15 on the project machine, same model and step
        // (scripts/torch_train_bench.py, BENCHMARKS.md).
        target: Some(2750.0),
    });
    Ok(())
}

/// p50 and p90 latency of one optimization at 0 LLM calls: embedding the instruction and
/// the optimizer's greedy rewrite, as `/optimize` does it (after one warm-up call).
/// Seconds of the median of three calls of `f` after one warm-up call.
fn median_of_3(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[1])
}

fn bench_generator_decode(config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    use vec2prompt_latent::generator_decode::Strategy;
    let Some(mut generator) = config.load_merged_generator(false)? else {
        anyhow::bail!("no generator is configured (--generator DIR)");
    };
    let embedder = config.load_embedder()?;
    let texts: Vec<String> = (0..8)
        .map(|i| {
            let words: Vec<&str> = (0..12)
                .map(|j| WORDS[(i * 5 + j * 3) % WORDS.len()])
                .collect();
            words.join(" ")
        })
        .collect();
    let targets = embedder.embed(&texts)?;
    let propose = |g: &vec2prompt_latent::Generator, targets: &[Vec<f32>]| -> Result<()> {
        std::hint::black_box(g.generate(targets, 4, Strategy::Beam { width: 4 })?);
        let sample = Strategy::Sample {
            temperature: 0.8,
            top_p: 0.95,
            seed: 0,
        };
        std::hint::black_box(g.generate(targets, 8, sample)?);
        Ok(())
    };
    // The format the loader merged in (the local LLM's, int8 with a remote one).
    let format = match &config.llm {
        LlmBackend::Local { config, .. } => config.weights,
        LlmBackend::Openai(_) => vec2prompt_llm::WeightFormat::Q8_0,
    };
    let weights = format!("{format:?}");
    for n in [1, 8] {
        let merged = median_of_3(|| propose(&generator, &targets[..n]))?;
        generator.unmerge()?;
        let f32_net = median_of_3(|| propose(&generator, &targets[..n]))?;
        generator.merge_for_inference(format)?;
        eprintln!(
            "generator proposals ×{n}: f32 network {f32_net:.3} s, merged ({weights}) {merged:.3} s ({:.2}×)",
            f32_net / merged
        );
        rows.push(Row {
            name: format!("gen propose x{n} f32"),
            value: f32_net,
            unit: "s",
            target: None,
        });
        rows.push(Row {
            name: format!("gen propose x{n} merged"),
            value: merged,
            unit: "s",
            target: None,
        });
    }
    Ok(())
}

fn bench_optimize(config: &Config, rows: &mut Vec<Row>) -> Result<()> {
    use vec2prompt_optimizer::service::{OptimizeRequest, Optimizer};
    let dir = crate::common::optimizer_dir(None, config)?;
    let model = crate::common::load_optimizer_model(config, &dir)?;
    let embedder = config.load_embedder()?;
    let service = Optimizer {
        model,
        surrogate: None,
        head: None,
    };
    // About 40 tokens of the base model's vocabulary.
    let raw = "write a short story for children about a small robot who learns to paint, \
               with a happy ending, a friendly tone and simple words, in under two hundred words";
    let tokens = service.model.base.encode(raw)?.len();
    let request = OptimizeRequest {
        raw_prompt: raw.to_string(),
        max_length: 200,
        num_return_sequences: 1,
        style: vec2prompt_optimizer::Style::Precise,
        budget: 0,
        target: None,
    };
    let mut times = Vec::new();
    for i in 0..11 {
        let t = Instant::now();
        let e = embedder.embed(&request.texts_to_embed())?;
        let e = vec2prompt_optimizer::service::RawEmbedding::from_vectors(e);
        let d = service.draft(&request, &e)?;
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(d);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    rows.push(Row {
        name: format!("optimize p50 ({tokens} tok)"),
        value: at(0.5),
        unit: "s",
        target: Some(1.0),
    });
    rows.push(Row {
        name: "optimize p90".into(),
        value: at(0.9),
        unit: "s",
        target: None,
    });
    Ok(())
}
