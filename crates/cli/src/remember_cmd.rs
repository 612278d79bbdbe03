//! `vec2prompt remember`: build (or extend) the environment memory of a dataset, the
//! configured LLM's own answers to its train prompts, and say where it stands.

use crate::common::records_path;
use crate::config::Config;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use vec2prompt_core::GenerationParams;
use vec2prompt_core::progress::Progress;
use vec2prompt_dataset::read_records;
use vec2prompt_memory::{BuildOptions, DEFAULT_ORDER_SEED, Memory, MemoryConfig, Status};
use vec2prompt_store::EmbeddingStore;

/// Prompts per LLM call by default: two waves of the default 32-sequence batch, measured
/// as the best answers/s on this machine (BENCHMARKS.md); also what a crash can lose.
pub const DEFAULT_BATCH: usize = 64;

/// Arguments of `remember`.
#[derive(Debug, Args)]
pub struct RememberArgs {
    /// Dataset directory made by `ingest` (its train prompts are answered).
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// Build or extend the memory to the first N train records of its seeded order (any
    /// prefix is a uniform sample of the train split) [default: all of them].
    #[clap(long)]
    pub limit: Option<usize>,
    /// Prompts per LLM call; each batch is on disk before the next starts.
    #[clap(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Most new tokens per answer (the evaluation's setting: 128); part of the memory's key.
    #[clap(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Only print where the memory stands (answers done of the train split, its LLM key).
    #[clap(long)]
    pub status: bool,
}

/// Runs `remember`.
pub fn run(args: &RememberArgs, config: &Config) -> Result<()> {
    if args.batch == 0 || args.max_new_tokens == 0 || args.limit == Some(0) {
        bail!("--batch, --max-new-tokens and --limit must be at least 1");
    }
    let path = records_path(&args.dataset);
    if !path.exists() {
        bail!(
            "{} has no records.jsonl: run `vec2prompt ingest --dataset {}` first",
            args.dataset.display(),
            args.dataset.display()
        );
    }
    // The memory is keyed by the LLM's configuration (local file and weights, or remote
    // model and service), so another LLM builds its own.
    let key = config.llm_key(args.max_new_tokens);
    if args.status {
        return print_status(args, &key);
    }
    let records = read_records(&path)?;
    let embedder = config.load_embedder()?;
    // The answers are embedded like the dataset's outputs; refuse another embedder.
    EmbeddingStore::open(&args.dataset, embedder.info())?;
    let llm = config.load_llm()?;
    let memory_config = MemoryConfig {
        llm: key.clone(),
        params: GenerationParams {
            max_new_tokens: args.max_new_tokens,
            ..GenerationParams::default()
        },
        order_seed: DEFAULT_ORDER_SEED,
    };
    let mut memory = Memory::open(&args.dataset, &records, embedder.info(), &memory_config)?;
    let total = memory.order().len();
    let target = args.limit.unwrap_or(total).min(total);
    eprintln!("memory of {key}: {}", memory.dir().display());
    eprintln!(
        "{} of {total} train answers remembered; building to {target}",
        memory.len()
    );
    let mut progress = Progress::new("remember", target);
    let started = Instant::now();
    let report = memory.build(
        &records,
        llm.as_ref(),
        embedder.as_ref(),
        &BuildOptions {
            limit: Some(target),
            batch: args.batch,
        },
        &mut |done, _| progress.set(done),
    )?;
    progress.finish();
    let wall = started.elapsed().as_secs_f64();
    if report.answered > 0 {
        eprintln!(
            "answered {} prompts in {wall:.1} s: {:.2} answers/s, {:.1} generated tokens/s \
             (LLM {:.1} s, embedder {:.1} s)",
            report.answered,
            report.answered as f64 / wall,
            report.completion_tokens as f64 / report.generate_seconds.max(1e-9),
            report.generate_seconds,
            report.embed_seconds
        );
    }
    eprintln!("{} of {total} train answers remembered", memory.len());
    Ok(())
}

fn print_status(args: &RememberArgs, key: &str) -> Result<()> {
    let status = Status::of(&args.dataset, key)?;
    println!("llm:       {key}");
    println!("directory: {}", status.dir.display());
    let Some(manifest) = &status.manifest else {
        println!("answers:   none yet (run `vec2prompt remember` to build the memory)");
        return Ok(());
    };
    let total = manifest.train_records;
    println!(
        "answers:   {} of {total} train records ({:.1}%)",
        status.done,
        100.0 * status.done as f64 / total.max(1) as f64
    );
    if status.done > 0 {
        let per = status.seconds / status.done as f64;
        println!(
            "generation: {:.1} s so far ({per:.2} s per answer, {:.0} tokens per answer); \
             ~{:.1} h for the rest at that rate",
            status.seconds,
            status.completion_tokens as f64 / status.done as f64,
            per * (total - status.done) as f64 / 3600.0
        );
    }
    println!(
        "order:     seed {}, embedder {}",
        manifest.order_seed, manifest.embedder.name
    );
    Ok(())
}
