//! `vec2prompt generate`: the mission in one command. Given a target (a text to embed or a
//! vector), search for a prompt whose LLM answer lands near it: candidates from the learned
//! inverter (and the dataset's nearest neighbours when one is ingested), ranked by the
//! surrogate, the best few checked with the real LLM within the budget.

use crate::config::{Config, Loaded};
use crate::target_arg;
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use vec2prompt_search::{SearchBudget, SearchOptions, SearchResult};

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Target text: its embedding is the target vector. Repeat it for several texts: the
    /// target is then their centroid (the normalized mean of their embeddings).
    #[clap(long, env = "VEC2PROMPT_TARGET_TEXT", conflicts_with = "vector_file")]
    pub target_text: Vec<String>,
    /// Target vector as JSON (an array, or an object with an "embedding" array); a file
    /// with several (an array of arrays, or JSONL from `vec2prompt embed`) gives their
    /// centroid.
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
    /// Spend the budget in this many rounds, each real answer recalibrating the ranking
    /// of the rest (the closed loop; not yet measured on the leaderboard) [default: the
    /// two-stage search].
    #[clap(long, env = "VEC2PROMPT_ROUNDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,
    /// How much one real answer is trusted against the surrogate's calibrated prediction
    /// when the measured candidates are compared, in [0, 1]: 1 chooses on the measured
    /// similarity alone; lower favours prompts whose expected answer lands near the target
    /// (for an LLM that samples).
    #[clap(long, env = "VEC2PROMPT_ANSWER_WEIGHT", default_value_t = vec2prompt_search::DEFAULT_ANSWER_WEIGHT, value_parser = parse_weight)]
    pub answer_weight: f32,
    /// How much, in cosine, a template around the target's topic words ("Write about a,
    /// b and c.") must beat every other candidate by to be answered or chosen, in [0, 2]:
    /// 0 ranks every source alike, 2 keeps the templates as a fallback.
    #[clap(long, env = "VEC2PROMPT_CONTENT_MARGIN", default_value_t = vec2prompt_search::DEFAULT_CONTENT_MARGIN, value_parser = crate::session::parse_content_margin)]
    pub content_margin: f32,
    /// Print one JSON object instead of text.
    #[clap(long, env = "VEC2PROMPT_JSON")]
    pub json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    result: &'a SearchResult,
    learned_models: Option<String>,
    generator: Option<String>,
    dataset: Option<String>,
    load_ms: f64,
}

/// An answer weight in [0, 1].
fn parse_weight(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(w) if (0.0..=1.0).contains(&w) => Ok(w),
        Ok(w) => Err(format!("{w} is not in [0, 1]")),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
}

/// A content margin in [0, 2].
/// Runs `generate`.
pub fn run(args: &GenerateArgs, config: &Config) -> Result<()> {
    let Loaded {
        searcher,
        embedder,
        latent,
        dataset,
        load_ms,
    } = config.searcher(&config.backends()?, args.dataset.as_deref())?;
    let target = target_arg::target(
        &args.target_text,
        args.vector_file.as_deref(),
        embedder.as_ref(),
        ("--target-text", "--vector-file"),
    )?;
    let options = SearchOptions {
        budget: SearchBudget {
            max_llm_calls: args.budget,
            max_wall: args.max_seconds.map(Duration::from_secs_f64),
        },
        variants: args.variants.max(1),
        seed: args.seed,
        rounds: args.rounds.map(|r| r as usize),
        answer_weight: args.answer_weight,
        content_margin: args.content_margin,
        ..SearchOptions::default()
    };
    let result = searcher.search(&target, &options)?;
    if args.json {
        let out = Output {
            result: &result,
            learned_models: latent.map(|l| l.dir.display().to_string()),
            generator: config
                .generator
                .as_ref()
                .filter(|_| searcher.generator().is_some())
                .map(|d| d.display().to_string()),
            dataset: dataset.map(|d| d.display().to_string()),
            load_ms,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("prompt: {}", result.best.prompt);
    match result.best.similarity {
        Some(s) => {
            println!("similarity: {s:.4} (measured: LLM answer embedded and compared)");
            if let Some(e) = result.best.estimate.filter(|e| (e - s).abs() > 1e-4) {
                println!(
                    "expected similarity: {e:.4} (the measurement shrunk towards the prediction)"
                );
            }
        }
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
