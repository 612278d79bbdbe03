//! `vec2prompt eval-prompt`: one turn of the measurable loop, prompt → LLM → answer →
//! embedding → cosine with the target.

use crate::config::Config;
use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
use vec2prompt_core::{GenerationParams, TargetVector, answer_score, is_empty_answer, text};

/// Arguments of `eval-prompt`.
#[derive(Debug, Args)]
pub struct EvalPromptArgs {
    /// The prompt sent to the LLM (as the user turn).
    #[clap(long, env = "VEC2PROMPT_PROMPT", conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// Read the prompt from this file instead.
    #[clap(long)]
    pub prompt_file: Option<PathBuf>,
    /// Target text: its embedding is the target vector.
    #[clap(long, conflicts_with = "target_file")]
    pub target_text: Option<String>,
    /// Target vector as JSON (an array, or an object with an "embedding" array).
    #[clap(long)]
    pub target_file: Option<PathBuf>,
    /// Most tokens in the answer.
    #[clap(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Print one JSON object instead of text.
    #[clap(long)]
    pub json: bool,
}

/// Machine-readable result of `eval-prompt --json`.
#[derive(Debug, Serialize)]
struct Report {
    prompt: String,
    answer: String,
    similarity: f32,
    prompt_tokens: usize,
    completion_tokens: usize,
    finish_reason: vec2prompt_core::FinishReason,
    llm: String,
    embedder: String,
    timings_ms: Timings,
}

#[derive(Debug, Serialize)]
struct Timings {
    load_embedder: f64,
    load_llm: f64,
    embed_target: f64,
    generate: f64,
    embed_answer: f64,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs `eval-prompt`.
pub fn run(args: &EvalPromptArgs, config: &Config) -> Result<()> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(p), None) => p.clone(),
        (None, Some(f)) => {
            let bytes = std::fs::read(f)
                .map_err(|e| anyhow::anyhow!("cannot read --prompt-file {}: {e}", f.display()))?;
            text::utf8("--prompt-file", bytes)?
        }
        _ => bail!("give the prompt with --prompt TEXT or --prompt-file FILE"),
    };
    text::require_non_empty("--prompt", &prompt)?;
    if let Some(t) = &args.target_text {
        text::require_non_empty("--target-text", t)?;
    }
    if args.target_text.is_none() && args.target_file.is_none() {
        bail!("give the target with --target-text TEXT or --target-file VECTOR.json");
    }
    if args.max_new_tokens == 0 {
        bail!("--max-new-tokens must be at least 1");
    }
    let t = Instant::now();
    let embedder = config.load_embedder()?;
    let load_embedder = ms(t);
    let t = Instant::now();
    let dim = embedder.info().dimension;
    let target = match (&args.target_text, &args.target_file) {
        (Some(text), _) => TargetVector::new("--target-text", embedder.embed_one(text)?, dim)?,
        (None, Some(file)) => TargetVector::from_file("--target-file", file, dim)?,
        (None, None) => unreachable!("checked above"),
    };
    let embed_target = ms(t);
    let t = Instant::now();
    let llm = config.load_llm()?;
    let load_llm = ms(t);
    let t = Instant::now();
    let params = GenerationParams {
        max_new_tokens: args.max_new_tokens,
        ..Default::default()
    };
    let generation = llm.answer(&prompt, &params)?;
    let generate = ms(t);
    let t = Instant::now();
    let answer_vector = if is_empty_answer(&generation.text) {
        Vec::new()
    } else {
        embedder.embed_one(&generation.text)?
    };
    let similarity = answer_score(&target.values, &answer_vector);
    let embed_answer = ms(t);
    let report = Report {
        prompt,
        answer: generation.text,
        similarity,
        prompt_tokens: generation.prompt_tokens,
        completion_tokens: generation.completion_tokens,
        finish_reason: generation.finish_reason,
        llm: llm.info().name.clone(),
        embedder: embedder.info().name.clone(),
        timings_ms: Timings {
            load_embedder,
            load_llm,
            embed_target,
            generate,
            embed_answer,
        },
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let t = &report.timings_ms;
        println!("prompt:     {}", report.prompt);
        println!("answer:     {}", report.answer.trim());
        println!("similarity: {:.4}", report.similarity);
        println!(
            "timings:    load {:.0} ms + {:.0} ms · generate {:.0} ms ({} tokens, {:.1} tok/s) · embed {:.0} ms",
            t.load_embedder,
            t.load_llm,
            t.generate,
            report.completion_tokens,
            report.completion_tokens as f64 / (t.generate / 1e3),
            t.embed_target + t.embed_answer
        );
    }
    Ok(())
}
