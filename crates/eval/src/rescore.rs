//! Robust, not lucky: the prompts every method chose in the default environment (greedy
//! answers, the default weights), scored again in a perturbed one: answers sampled at a
//! temperature (the mean over a few seeded samples), or the model's exact `f32` weights.
//! A method that picked a prompt on the luck of one greedy answer loses its edge here;
//! one that chose prompts whose *expected* answer lands near the target keeps it.
//!
//! The methods do not choose again: their choices, LLM calls and times are the default
//! environment's, and only the scores change.

use crate::cached_llm::CachedLlm;
use crate::report::{MethodReport, Report};
use crate::stats;
use std::collections::{HashMap, HashSet};
use vec2prompt_core::{Embedder, Error, Result, answer_score, is_empty_answer};
use vec2prompt_dataset::Record;

/// One perturbed environment: a name for the report and the LLMs whose answers are
/// averaged (one per seeded sample; one for a deterministic change such as the weights).
pub struct Perturbed<'a> {
    /// How the report names it (e.g. `sampled T=0.7, 4 seeds`).
    pub name: String,
    /// The answering LLMs, each with its own cache.
    pub llms: Vec<&'a CachedLlm>,
}

/// The report `greedy` re-scored in `env`: the same choices, their scores the mean over
/// `env`'s LLMs of cos(target, E(answer)). `records` and `outputs` are the run's dataset
/// (all records in file order, their output embeddings), `progress` gets (done, total)
/// answers.
pub fn rescore(
    greedy: &Report,
    records: &[Record],
    outputs: &[f32],
    env: &Perturbed<'_>,
    embedder: &dyn Embedder,
    resamples: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report> {
    let d = embedder.info().dimension;
    if outputs.len() != records.len() * d || env.llms.is_empty() {
        return Err(Error::invalid(
            "rescore",
            "the dataset's embeddings do not match, or no LLM answers",
        ));
    }
    let by_index: HashMap<usize, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.index, i))
        .collect();
    let position = |index: usize| {
        by_index.get(&index).copied().ok_or_else(|| {
            Error::invalid(
                "report",
                format!("names record row {index}, which the dataset does not have"),
            )
        })
    };
    // Every chosen prompt, once.
    let mut prompts: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut chosen: Vec<Vec<String>> = Vec::with_capacity(greedy.per_target.len());
    for row in &greedy.per_target {
        let mut texts = Vec::with_capacity(row.choices.len());
        for c in &row.choices {
            let text = match (&c.prompt, c.prompt_record) {
                (Some(p), _) => p.clone(),
                (None, Some(index)) => records[position(index)?].prompt.clone(),
                (None, None) => {
                    return Err(Error::invalid("report", "a choice names no prompt"));
                }
            };
            if seen.insert(text.clone()) {
                prompts.push(text.clone());
            }
            texts.push(text);
        }
        chosen.push(texts);
    }
    // Answer them in every LLM of the environment, then embed every answer once.
    let total = prompts.len() * env.llms.len();
    let mut done = 0;
    for llm in &env.llms {
        llm.fill(&prompts, &mut |n, _| progress(done + n, total))?;
        done += prompts.len();
        progress(done, total);
    }
    let mut mean_vector: HashMap<&str, Vec<Vec<f32>>> = HashMap::new();
    for llm in &env.llms {
        let answers: Vec<(usize, String)> = prompts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| llm.get(p).map(|a| (i, a.answer)))
            .filter(|(_, a)| !is_empty_answer(a))
            .collect();
        let mut vectors = Vec::with_capacity(answers.len());
        for chunk in answers.chunks(256) {
            let batch: Vec<String> = chunk.iter().map(|(_, a)| a.clone()).collect();
            vectors.extend(embedder.embed(&batch)?);
        }
        for ((i, _), v) in answers.iter().zip(vectors) {
            mean_vector.entry(prompts[*i].as_str()).or_default().push(v);
        }
    }
    let samples = env.llms.len() as f64;
    // An empty answer scores 0, like in the default environment.
    let score = |prompt: &str, target: usize| -> f64 {
        let t = &outputs[target * d..(target + 1) * d];
        mean_vector.get(prompt).map_or(0.0, |vs| {
            vs.iter().map(|v| answer_score(t, v) as f64).sum::<f64>() / samples
        })
    };
    let mut report = greedy.clone();
    report.environment = env.name.clone();
    report.perturbed = Vec::new();
    report.ranking = None;
    report.answers_generated = 0;
    report.answers_cached = 0;
    for (row, texts) in report.per_target.iter_mut().zip(&chosen) {
        let target = position(row.index)?;
        for (c, text) in row.choices.iter_mut().zip(texts) {
            c.score = score(text, target);
        }
    }
    let columns: Vec<Vec<f64>> = (0..greedy.methods.len())
        .map(|m| {
            report
                .per_target
                .iter()
                .map(|r| r.choices[m].score)
                .collect()
        })
        .collect();
    let column = |name: &str| {
        report
            .methods
            .iter()
            .position(|m| m.method == name)
            .map(|m| &columns[m])
    };
    let (random, oracle) = match (column("random"), column("oracle")) {
        (Some(r), Some(o)) => (stats::mean(r), stats::mean(o)),
        _ => {
            return Err(Error::invalid(
                "report",
                "lacks the random and oracle references",
            ));
        }
    };
    let oracle_scores = column("oracle").cloned().unwrap_or_default();
    let seed = greedy.seed;
    report.methods = greedy
        .methods
        .iter()
        .zip(&columns)
        .map(|(m, xs)| MethodReport {
            mean: stats::mean(xs),
            median: stats::median(xs),
            ci95: stats::bootstrap_ci95(xs, resamples, seed),
            normalized: stats::normalized(stats::mean(xs), random, oracle),
            win_rate_vs_oracle: stats::win_rate(xs, &oracle_scores),
            ..m.clone()
        })
        .collect();
    Ok(report)
}
