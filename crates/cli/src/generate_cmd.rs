//! `vec2prompt generate`: the mission in one command. Given a target (a text to embed or a
//! vector), search for a prompt whose LLM answer lands near it: candidates from the learned
//! inverter (and the dataset's nearest neighbours when one is ingested), ranked by the
//! surrogate, the best few checked with the real LLM within the budget.

use crate::config::Config;
use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vec2prompt_core::{Embedder, TargetVector, text};
use vec2prompt_latent::LatentModel;
use vec2prompt_search::{
    Environment, Neighbours, SearchBudget, SearchOptions, SearchResult, Searcher,
};

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Target text: its embedding is the target vector.
    #[clap(long, env = "VEC2PROMPT_TARGET_TEXT", conflicts_with = "vector_file")]
    pub target_text: Option<String>,
    /// Target vector as JSON (an array, or an object with an "embedding" array).
    #[clap(long, env = "VEC2PROMPT_VECTOR_FILE")]
    pub vector_file: Option<PathBuf>,
    /// Most LLM calls spent choosing the prompt; 0 is fast mode (no LLM call).
    #[clap(long, env = "VEC2PROMPT_BUDGET", default_value_t = 4)]
    pub budget: usize,
    /// Wall-time limit of the search in seconds (no new LLM round starts after it).
    #[clap(long, env = "VEC2PROMPT_MAX_SECONDS")]
    pub max_seconds: Option<f64>,
    /// Candidate prompts to print, best first.
    #[clap(long, env = "VEC2PROMPT_VARIANTS", default_value_t = 3)]
    pub variants: usize,
    /// Ingested dataset whose train prompts join the candidates [default:
    /// $VEC2PROMPT_HOME/datasets/alpaca when it exists].
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: Option<PathBuf>,
    /// Seed of the inverter's sampling.
    #[clap(long, env = "VEC2PROMPT_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of text.
    #[clap(long, env = "VEC2PROMPT_JSON")]
    pub json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    result: &'a SearchResult,
    learned_models: Option<String>,
    dataset: Option<String>,
    load_ms: f64,
}

/// Runs `generate`.
pub fn run(args: &GenerateArgs, config: &Config) -> Result<()> {
    let t = Instant::now();
    let embedder: Arc<dyn Embedder> = Arc::new(config.load_embedder()?);
    let dim = embedder.info().dimension;
    let target = match (&args.target_text, &args.vector_file) {
        (Some(t), None) => {
            text::require_non_empty("--target-text", t)?;
            TargetVector::new("--target-text", embedder.embed_one(t)?, dim)?
        }
        (None, Some(p)) => {
            let json = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
            TargetVector::from_json("--vector-file", &json, dim)?
        }
        _ => bail!("give the target as --target-text TEXT or --vector-file FILE"),
    };
    let latent = match &config.latent {
        Some(dir) => Some(Arc::new(LatentModel::load(dir)?)),
        None => None,
    };
    let dataset = args
        .dataset
        .clone()
        .or_else(|| Some(config.home.root.join("datasets/alpaca")))
        .filter(|d| d.join("records.jsonl").exists());
    let neighbours = match &dataset {
        Some(d) => Some(Arc::new(Neighbours::load(d, embedder.info())?)),
        None => None,
    };
    if latent.is_none() && neighbours.is_none() {
        bail!(
            "no candidates: no learned model was found (train one with `vec2prompt train`, or \
             pass --latent) and no dataset is ingested (`vec2prompt ingest`)"
        );
    }
    let llm = Arc::new(config.load_llm()?);
    let env = Environment::new(llm, embedder);
    let searcher = Searcher::new(env, neighbours, latent.clone())?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let options = SearchOptions {
        budget: SearchBudget {
            max_llm_calls: args.budget,
            max_wall: args.max_seconds.map(Duration::from_secs_f64),
        },
        variants: args.variants.max(1),
        seed: args.seed,
        ..SearchOptions::default()
    };
    let result = searcher.search(&target, &options)?;
    if args.json {
        let out = Output {
            result: &result,
            learned_models: latent.map(|l| l.dir.display().to_string()),
            dataset: dataset.map(|d| d.display().to_string()),
            load_ms,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("prompt: {}", result.best.prompt);
    match result.best.similarity {
        Some(s) => println!("similarity: {s:.4} (measured: LLM answer embedded and compared)"),
        None => println!(
            "predicted similarity: {:.4} (fast mode: not checked with the LLM)",
            result.best.predicted
        ),
    }
    if let Some(a) = &result.best.answer {
        println!("answer: {}", a.trim());
    }
    println!(
        "method: {} · LLM calls: {} · search {:.0} ms (propose {:.0}, rank {:.0}, evaluate {:.0}) · load {:.0} ms",
        result.method,
        result.llm_calls,
        result.timings.total_ms,
        result.timings.propose_ms,
        result.timings.rank_ms,
        result.timings.evaluate_ms,
        load_ms
    );
    if result.candidates.len() > 1 {
        println!("variants:");
        for c in &result.candidates {
            let score = c
                .similarity
                .map_or(format!("predicted {:.3}", c.predicted), |s| {
                    format!("measured {s:.3}")
                });
            println!("  [{:?}, {score}] {}", c.source, c.prompt);
        }
    }
    Ok(())
}
