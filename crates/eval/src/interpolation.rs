//! The interpolation report: does walking from one target to another in embedding space
//! walk the answers too?
//!
//! Pairs of held-out targets (output embeddings of validation or test records) are joined
//! by a path of `steps` points; the search writes a prompt for every point; each chosen
//! prompt is answered once (or its measured answer is reused when the search already
//! measured it), and the answer's similarity to the start, to the end and to its own point
//! is recorded. Along the path the similarity to the start should fall and to the end
//! should rise: the report gives the mean Spearman correlation of each with the position
//! (−1 and +1 are perfect), and the mean similarity of each answer to its own point.

use crate::stats;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use vec2prompt_core::{Error, Result, TargetVector, answer_score, cosine};
use vec2prompt_search::interpolation::{self, PathKind};
use vec2prompt_search::{SearchBudget, SearchOptions, Searcher};

/// Settings of an interpolation report.
#[derive(Debug, Clone)]
pub struct InterpolationEvalConfig {
    /// Pairs of targets (each pair is two distinct records).
    pub pairs: usize,
    /// Points per path, both ends included.
    pub steps: usize,
    /// The path between the ends.
    pub path: PathKind,
    /// LLM calls the search may spend per point (0 = fast mode).
    pub budget: usize,
    /// Seed of the bootstrap (the pairing is [`pick_pairs`]'s, before the run).
    pub seed: u64,
    /// Bootstrap resamples of the confidence intervals.
    pub resamples: usize,
    /// Points per search batch.
    pub chunk: usize,
    /// The command line, recorded in the report.
    pub command: String,
    /// The split the targets come from, recorded in the report.
    pub split: String,
    /// Where the candidates come from, recorded in the report.
    pub candidates: String,
}

/// One point of one path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalkPoint {
    /// Fraction of the way from start to end.
    pub t: f64,
    /// The chosen prompt.
    pub prompt: String,
    /// Cosine of the real answer to this point.
    pub on_point: f32,
    /// Cosine of the real answer to the start.
    pub to_start: f32,
    /// Cosine of the real answer to the end.
    pub to_end: f32,
}

/// One path of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterpolationPair {
    /// Record id of the start.
    pub from_id: String,
    /// Record id of the end.
    pub to_id: String,
    /// Cosine between the two ends.
    pub ends_similarity: f32,
    /// Spearman correlation of the answers' similarity to the start with the position
    /// (−1: it falls all the way); null when all similarities are equal.
    pub spearman_start: Option<f64>,
    /// Spearman correlation of the answers' similarity to the end with the position
    /// (+1: it rises all the way); null when all similarities are equal.
    pub spearman_end: Option<f64>,
    /// Distinct prompts along the path.
    pub distinct_prompts: usize,
    /// The points, start to end.
    pub points: Vec<WalkPoint>,
}

/// A summary number with its bootstrap 95% CI.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Estimate {
    /// Mean over the pairs (or points).
    pub mean: f64,
    /// Bootstrap 95% confidence interval of the mean.
    pub ci95: [f64; 2],
    /// Values counted.
    pub n: usize,
}

/// The interpolation report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterpolationReport {
    /// The command that produced it.
    pub command: String,
    /// Split of the targets.
    pub split: String,
    /// Where the candidate prompts came from.
    #[serde(default)]
    pub candidates: String,
    /// Path kind.
    pub path: PathKind,
    /// Points per path.
    pub steps: usize,
    /// LLM calls the search could spend per point.
    pub budget: usize,
    /// LLM calls spent choosing prompts, all points together.
    pub llm_calls: usize,
    /// Answers generated to score the chosen prompts (not counted in `llm_calls`).
    pub scoring_answers: usize,
    /// Mean Spearman of similarity-to-start against position (−1 is ideal).
    pub spearman_start: Estimate,
    /// Mean Spearman of similarity-to-end against position (+1 is ideal).
    pub spearman_end: Estimate,
    /// Mean cosine of each answer to its own point.
    pub on_point: Estimate,
    /// Mean cosine of each answer to its own point, by position.
    pub on_point_by_t: Vec<(f64, f64)>,
    /// Mean cosine of the answers to the start, by position.
    pub to_start_by_t: Vec<(f64, f64)>,
    /// Mean cosine of the answers to the end, by position.
    pub to_end_by_t: Vec<(f64, f64)>,
    /// Mean number of distinct prompts per path.
    pub distinct_prompts: f64,
    /// Seconds the run took.
    pub seconds: f64,
    /// Every path.
    pub pairs: Vec<InterpolationPair>,
    /// What made the report: the commit, the models' hashes, the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<vec2prompt_core::provenance::Provenance>,
}

fn estimate(xs: &[f64], resamples: usize, seed: u64) -> Estimate {
    Estimate {
        mean: stats::mean(xs),
        ci95: stats::bootstrap_ci95(xs, resamples, seed),
        n: xs.len(),
    }
}

/// The `2 × pairs` of `available` targets a report uses, by position: a seeded shuffle,
/// so the pairs are a uniform sample; pair `p` is `(picked[2p], picked[2p + 1])`.
pub fn pick_pairs(available: usize, pairs: usize, seed: u64) -> Result<Vec<usize>> {
    if available < 2 * pairs {
        return Err(Error::invalid(
            "pairs",
            format!(
                "{pairs} pairs need {} targets, the split has {available}",
                2 * pairs
            ),
        ));
    }
    let mut order: Vec<usize> = (0..available).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order.truncate(2 * pairs);
    Ok(order)
}

/// Runs the report with `searcher` on `targets` (id, output embedding), taken two by two:
/// pair `p` joins `targets[2p]` and `targets[2p + 1]` (see [`pick_pairs`]).
pub fn run_interpolation(
    targets: &[(String, Vec<f32>)],
    searcher: &Searcher,
    config: &InterpolationEvalConfig,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<InterpolationReport> {
    let started = std::time::Instant::now();
    if targets.len() != 2 * config.pairs {
        return Err(Error::invalid(
            "pairs",
            format!(
                "{} pairs need {} targets, got {}",
                config.pairs,
                2 * config.pairs,
                targets.len()
            ),
        ));
    }
    let order: Vec<usize> = (0..targets.len()).collect();
    let dim = searcher.dimension();
    // Every point of every path, in path order.
    let mut points: Vec<(usize, f64, Vec<f32>)> = Vec::new();
    for p in 0..config.pairs {
        let (a, b) = (&targets[order[2 * p]].1, &targets[order[2 * p + 1]].1);
        let path = interpolation::interpolate(a, b, config.steps, config.path)?;
        for (t, v) in interpolation::positions(config.steps).into_iter().zip(path) {
            points.push((p, t, v));
        }
    }
    let options = SearchOptions {
        budget: SearchBudget::calls(config.budget),
        keep_vectors: true,
        ..SearchOptions::default()
    };
    let mut chosen = Vec::with_capacity(points.len());
    let mut llm_calls = 0;
    for chunk in points.chunks(config.chunk.max(1)) {
        let ts = chunk
            .iter()
            .map(|(_, _, v)| TargetVector::new("point", v.clone(), dim))
            .collect::<Result<Vec<_>>>()?;
        for r in searcher.search_batch(&ts, &options) {
            let r = r?;
            llm_calls += r.llm_calls;
            chosen.push(r.best);
        }
        progress("points searched", chosen.len(), points.len());
    }
    // Score the chosen prompts that the search did not measure, in one batch.
    let missing: Vec<usize> = (0..chosen.len())
        .filter(|&i| chosen[i].answer_vector.is_none())
        .collect();
    for (k, part) in missing.chunks(config.chunk.max(1) * 2).enumerate() {
        let prompts: Vec<String> = part.iter().map(|&i| chosen[i].prompt.clone()).collect();
        let tv: Vec<&[f32]> = part.iter().map(|&i| &points[i].2[..]).collect();
        let evals = searcher.environment().evaluate(&prompts, &tv)?;
        for (&i, e) in part.iter().zip(evals) {
            chosen[i].answer_vector = Some(e.vector);
        }
        let done = (k * config.chunk.max(1) * 2 + part.len()).min(missing.len());
        progress("answers scored", done, missing.len());
    }
    let mut pairs = Vec::with_capacity(config.pairs);
    for p in 0..config.pairs {
        let (ia, ib) = (order[2 * p], order[2 * p + 1]);
        let (a, b) = (&targets[ia].1, &targets[ib].1);
        let mut pts = Vec::new();
        for (i, (_, t, v)) in points.iter().enumerate().filter(|(_, x)| x.0 == p) {
            let av = chosen[i].answer_vector.as_deref().unwrap_or_default();
            let score = |x: &[f32]| answer_score(x, av);
            pts.push(WalkPoint {
                t: *t,
                prompt: chosen[i].prompt.clone(),
                on_point: score(v),
                to_start: score(a),
                to_end: score(b),
            });
        }
        let ts: Vec<f64> = pts.iter().map(|x| x.t).collect();
        let to_a: Vec<f64> = pts.iter().map(|x| f64::from(x.to_start)).collect();
        let to_b: Vec<f64> = pts.iter().map(|x| f64::from(x.to_end)).collect();
        let mut distinct: Vec<&str> = pts.iter().map(|x| x.prompt.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        pairs.push(InterpolationPair {
            from_id: targets[ia].0.clone(),
            to_id: targets[ib].0.clone(),
            ends_similarity: cosine(a, b),
            spearman_start: stats::spearman(&ts, &to_a),
            spearman_end: stats::spearman(&ts, &to_b),
            distinct_prompts: distinct.len(),
            points: pts,
        });
    }
    // A path whose answers are all alike has no order; it counts as 0 (no monotonicity),
    // not as missing, so a search that returns one prompt per path is not flattered.
    let ss: Vec<f64> = pairs
        .iter()
        .map(|p| p.spearman_start.unwrap_or(0.0))
        .collect();
    let se: Vec<f64> = pairs
        .iter()
        .map(|p| p.spearman_end.unwrap_or(0.0))
        .collect();
    let on: Vec<f64> = pairs
        .iter()
        .flat_map(|p| p.points.iter().map(|x| f64::from(x.on_point)))
        .collect();
    let by_t = |f: &dyn Fn(&WalkPoint) -> f32| -> Vec<(f64, f64)> {
        interpolation::positions(config.steps)
            .into_iter()
            .enumerate()
            .map(|(k, t)| {
                let xs: Vec<f64> = pairs.iter().map(|p| f64::from(f(&p.points[k]))).collect();
                (t, stats::mean(&xs))
            })
            .collect()
    };
    let distinct = stats::mean(
        &pairs
            .iter()
            .map(|p| p.distinct_prompts as f64)
            .collect::<Vec<_>>(),
    );
    Ok(InterpolationReport {
        command: config.command.clone(),
        split: config.split.clone(),
        candidates: config.candidates.clone(),
        path: config.path,
        steps: config.steps,
        budget: config.budget,
        llm_calls,
        scoring_answers: missing.len(),
        spearman_start: estimate(&ss, config.resamples, config.seed),
        spearman_end: estimate(&se, config.resamples, config.seed + 1),
        on_point: estimate(&on, config.resamples, config.seed + 2),
        on_point_by_t: by_t(&|x| x.on_point),
        to_start_by_t: by_t(&|x| x.to_start),
        to_end_by_t: by_t(&|x| x.to_end),
        distinct_prompts: distinct,
        seconds: started.elapsed().as_secs_f64(),
        pairs,
        provenance: None,
    })
}

impl InterpolationReport {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let e = |x: &Estimate| format!("{:+.3} [{:+.3}, {:+.3}]", x.mean, x.ci95[0], x.ci95[1]);
        let _ = writeln!(s, "# Interpolation report\n");
        match &self.provenance {
            Some(p) => {
                let _ = writeln!(s, "{}", p.markdown());
            }
            None => {
                let _ = writeln!(s, "Command: `{}`\n", self.command);
            }
        }
        let _ = writeln!(s, "Candidates: {}\n", self.candidates);
        let _ = writeln!(
            s,
            "{} pairs of {} targets, {:?} path, {} points each (ends included), search budget {} \
             per point ({} LLM calls choosing; {} answers to score the choices). {:.0} s.\n",
            self.pairs.len(),
            self.split,
            self.path,
            self.steps,
            self.budget,
            self.llm_calls,
            self.scoring_answers,
            self.seconds
        );
        let _ = writeln!(s, "| measure | mean [95% CI] | ideal |\n|---|---|---|");
        let _ = writeln!(
            s,
            "| Spearman(position, answer similarity to start) | {} | −1 |",
            e(&self.spearman_start)
        );
        let _ = writeln!(
            s,
            "| Spearman(position, answer similarity to end) | {} | +1 |",
            e(&self.spearman_end)
        );
        let _ = writeln!(
            s,
            "| answer similarity to its own point | {} | 1 |",
            e(&self.on_point)
        );
        let _ = writeln!(
            s,
            "| distinct prompts per path | {:.2} | {} |\n",
            self.distinct_prompts, self.steps
        );
        let _ = writeln!(s, "Mean answer similarity along the path:\n");
        let _ = writeln!(
            s,
            "| t | to start | to end | to its point |\n|---:|---:|---:|---:|"
        );
        for ((a, b), c) in self
            .to_start_by_t
            .iter()
            .zip(&self.to_end_by_t)
            .zip(&self.on_point_by_t)
        {
            let _ = writeln!(s, "| {:.2} | {:.3} | {:.3} | {:.3} |", a.0, a.1, b.1, c.1);
        }
        let _ = writeln!(
            s,
            "\nA path whose answers are all equally similar to an end counts as Spearman 0. \
             Per-pair rows (record ids, prompts, scores) are in the JSON file."
        );
        s
    }

    /// Mean similarity of the answers to the start, the end and their own point along the
    /// path, as an SVG line chart.
    pub fn to_svg(&self) -> String {
        use vec2prompt_core::chart::{Series, line_chart};
        line_chart(
            "Answers along the interpolation path (mean over pairs)",
            "position t on the path (0 = start, 1 = end)",
            &[
                Series {
                    name: "to start",
                    points: self.to_start_by_t.clone(),
                    color: "#d62728",
                },
                Series {
                    name: "to end",
                    points: self.to_end_by_t.clone(),
                    color: "#1f77b4",
                },
                Series {
                    name: "to its point",
                    points: self.on_point_by_t.clone(),
                    color: "#2ca02c",
                },
            ],
        )
    }
}
