//! The raw → optimized benchmark.
//!
//! For each held-out record (validation for development, test for reports) the raw prompt
//! is the instruction written by one raw family ([`RawFamily`]: telegraphic, typos,
//! chat-speak, query order, format stripped, or the "topic lost" stress test), its input
//! kept. A method sees only that raw prompt, never the reference output or its
//! embedding. Its prompt is answered by the LLM with the evaluation's generation settings
//! and scored by cos(E(answer), E(reference output)); an empty answer scores 0.
//!
//! Scores are normalized per method mean: the raw prompt is 0 and the record's own
//! human prompt is 1. Beside the optimizers run the baselines with the same information:
//! the raw prompt itself, a rule clean-up ([`rule_cleanup`]) and, when the train
//! instructions' embeddings are given, the nearest train instruction. Differences between methods are paired over the same records, with
//! bootstrap 95% intervals.
//!
//! Methods, per optimizer model `m` (the budget and structured ones for the last model
//! given, the one under report):
//! - `m` (0 LLM calls): its precise prompt as `/optimize` drafts it (the greedy one, or
//!   when that drops or adds a content word, the first seeded sample that keeps the raw
//!   prompt's words, if one does);
//! - `m-greedy` (0 calls, last model): its greedy precise prompt as decoded, the ablation
//!   of that choice;
//! - `m+budget-k` (k calls), as `/optimize` does it: the raw prompt and k − 1 drafted
//!   rewrites are answered and scored against the predicted answer (the model's answer
//!   head for the whole raw prompt, or without one the surrogate's prediction for it; no
//!   reference output is involved in the choice); the best rewrite is chosen only if it
//!   beats the raw prompt by the improvement margin;
//! - `m+budget-k+surrogate-goal`, `m+budget-k+intent-goal` (k calls, the same answers):
//!   ranked against the surrogate's prediction for the raw prompt (the goal without a
//!   head; shown when there is a head) and for the optimizer's intent vector (the goal
//!   before either), the ablations of the goal;
//! - `m+budget-k+examples` (k calls, with `target_examples`): the same candidates ranked
//!   against the user's own target as `/optimize` does with `target_examples`: answers
//!   to the human prompt sampled from the LLM (temperature 0.7, seeded) stand for the
//!   example answers a user gives, and rewrites copying 8+ words of them are refused. The
//!   examples are the user's information, not the method's calls;
//! - `m-structured` (0 calls): its greedy structured prompt, also judged by the share of
//!   outputs with all six sections.

use crate::CachedLlm;
use crate::stats::{bootstrap_ci95, copies, mean};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;
use vec2prompt_core::{Embedder, Result, answer_score, cosine};
use vec2prompt_dataset::Record;
use vec2prompt_latent::LatentModel;
use vec2prompt_latent::generator_decode::{DecodeOptions, is_loop};
use vec2prompt_optimizer::answer_head::AnswerHead;
use vec2prompt_optimizer::families::{RawFamily, kept_share, rule_cleanup};
use vec2prompt_optimizer::judge::{answer_health, drifts};
use vec2prompt_optimizer::model::{PromptOptimizer, Style};
use vec2prompt_optimizer::service::IMPROVEMENT_MARGIN;
use vec2prompt_optimizer::structured::structure;
use vec2prompt_optimizer::vague::{split_prompt, vague_prompt};

/// Settings of a benchmark run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// LLM calls of the budget method (0: none).
    pub budget: usize,
    /// Records on which the structured style is also decoded (it writes long prompts).
    pub structured_limit: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed of the samples and the bootstrap.
    pub seed: u64,
    /// The command line, recorded.
    pub command: String,
    /// The LLM configuration, recorded.
    pub llm_config: String,
    /// The split's name, recorded.
    pub split: String,
    /// How the raw prompts are written.
    pub family: RawFamily,
    /// The `human` anchor per record when it is not the record's own prompt (on a
    /// real-user set, a strong LLM's rewrite of the raw prompt), with what it is.
    pub anchors: Option<(Vec<String>, String)>,
    /// With a budget, also rank the budget's candidates against the user's own target:
    /// this many answers to the human prompt sampled from the LLM, given as example
    /// answers (0: off).
    pub target_examples: usize,
}

/// The train instructions a nearest-instruction baseline draws from, with their
/// embeddings (row-major, `instructions.len() × dimension`).
pub struct TrainInstructions<'a> {
    /// The train records' prompts.
    pub prompts: &'a [String],
    /// Their embeddings.
    pub vectors: &'a [f32],
}

/// Win / tie / loss of a method against the raw prompt's answer, by a margin.
pub const WIN_MARGIN: f64 = 0.02;

/// One optimizer under test.
pub struct BenchModel<'a> {
    /// Its name in the report.
    pub name: String,
    /// The model.
    pub optimizer: &'a PromptOptimizer,
    /// Its answer head, when it has one: the default goal of its budget rows.
    pub head: Option<&'a AnswerHead>,
}

/// One method's results.
#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    /// Name.
    pub name: String,
    /// LLM calls spent choosing per record.
    pub llm_calls: usize,
    /// Mean score.
    pub mean: f64,
    /// (mean − raw) / (human − raw).
    pub normalized: f64,
    /// Seconds per record choosing (decoding, and the answers it paid for).
    pub seconds_per_record: f64,
    /// Share of prompts pasting 8+ consecutive words of the reference output.
    pub copy_rate: f64,
    /// Share of prompts that loop.
    pub loop_rate: f64,
    /// Share of prompts with all six structured sections, each filled and none repeating
    /// the raw prompt or another section (structured methods).
    pub sections_complete: Option<f64>,
    /// Records where the method's answer beats, ties or loses to the raw prompt's by
    /// [`WIN_MARGIN`].
    pub win_tie_loss: [usize; 3],
    /// Share of prompts that drop a content word of the raw prompt or add a topic
    /// ([`drifts`]); `None` for the anchors.
    pub drift_rate: Option<f64>,
    /// Shares of answers that are empty, loop, refuse, or echo the prompt.
    pub health: [f64; 4],
    /// Records scored.
    pub records: usize,
    /// Score per record.
    pub scores: Vec<f64>,
    /// Prompt per record.
    pub prompts: Vec<String>,
    /// How the prompts read, beside the human prompts of the same records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::quality::PromptQuality>,
}

/// A paired difference `a − b` over the records both scored.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    /// Method a.
    pub a: String,
    /// Method b.
    pub b: String,
    /// Mean difference.
    pub diff: f64,
    /// Its bootstrap 95% interval.
    pub ci95: [f64; 2],
    /// Records.
    pub n: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Split.
    pub split: String,
    /// The raw family.
    pub family: String,
    /// What made the report: commit, models' hashes, command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<vec2prompt_core::provenance::Provenance>,
    /// What the `human` anchor is, when not the record's own human prompt (on a real-user
    /// set: a strong LLM's rewrite of the raw prompt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Mean share of the instruction's content words the raw instructions keep.
    pub kept_share: f64,
    /// Share of raw instructions that keep at least 90% of them.
    pub kept_at_least_90: f64,
    /// Records.
    pub records: usize,
    /// Command.
    pub command: String,
    /// LLM configuration.
    pub llm_config: String,
    /// Methods, anchors first.
    pub methods: Vec<MethodResult>,
    /// Paired differences.
    pub paired: Vec<Paired>,
    /// How near each predicted answer (a budget's default goal) lands to the reference
    /// answer, over every record: mean cosine and its bootstrap 95% interval.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<GoalQuality>,
    /// Answers generated in this run (the rest came from the cache).
    pub answers_generated: usize,
    /// Wall seconds of the run.
    pub wall_seconds: f64,
}

/// One predicted answer's cosine to the reference answers.
#[derive(Debug, Clone, Serialize)]
pub struct GoalQuality {
    /// What predicts it (e.g. `answer head(raw prompt)`).
    pub name: String,
    /// Mean cos(prediction, E(reference output)).
    pub mean: f64,
    /// Its bootstrap 95% interval.
    pub ci95: [f64; 2],
}

/// The budget method's variants of one record: prompts, decode seconds, intent.
type VariantSet = (Vec<String>, f64, Vec<f32>);

struct Pick {
    prompt: String,
    calls: usize,
    seconds: f64,
}

fn with_input(instruction: &str, input: Option<&str>) -> String {
    match input {
        Some(i) => format!("{instruction}\n\n{i}"),
        None => instruction.to_string(),
    }
}

/// Runs the benchmark on `records` (already the split and count wanted).
#[allow(clippy::too_many_arguments)]
pub fn run(
    records: &[Record],
    models: &[BenchModel],
    llm: &CachedLlm,
    embedder: &dyn Embedder,
    surrogate: Option<&LatentModel>,
    train: Option<&TrainInstructions>,
    perplexity: Option<&crate::quality::PerplexityFn<'_>>,
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport> {
    let started = Instant::now();
    let before = llm.stats().generated;
    let family = config.family;
    let raws: Vec<String> = records
        .iter()
        .map(|r| vague_prompt(&r.prompt, |i| family.apply(i)))
        .collect();
    let instructions: Vec<String> = raws.iter().map(|r| split_prompt(r).0.to_string()).collect();
    let inputs: Vec<Option<&str>> = records.iter().map(|r| split_prompt(&r.prompt).1).collect();
    let kept: Vec<f64> = records
        .iter()
        .zip(&instructions)
        .map(|(r, raw)| kept_share(split_prompt(&r.prompt).0, raw))
        .collect();
    let e_raw = embedder.embed(&instructions)?;
    // The whole raw prompts, inputs included: what the answer head and the surrogate read.
    let e_raw_prompts = embedder.embed(&raws)?;
    let mut methods: Vec<(String, Vec<Pick>, Option<Vec<bool>>)> = Vec::new();
    methods.push((
        "raw".into(),
        raws.iter()
            .map(|p| Pick {
                prompt: p.clone(),
                calls: 0,
                seconds: 0.0,
            })
            .collect(),
        None,
    ));
    if let Some((anchors, _)) = &config.anchors
        && anchors.len() != records.len()
    {
        return Err(vec2prompt_core::Error::invalid(
            "anchors",
            format!("{} anchors for {} records", anchors.len(), records.len()),
        ));
    }
    methods.push((
        "human".into(),
        records
            .iter()
            .enumerate()
            .map(|(i, r)| Pick {
                prompt: config
                    .anchors
                    .as_ref()
                    .map_or_else(|| r.prompt.clone(), |(a, _)| a[i].clone()),
                calls: 0,
                seconds: 0.0,
            })
            .collect(),
        None,
    ));
    // The baselines with the same information as an optimizer: the raw prompt cleaned
    // up by rule, and the train instruction whose prompt embeds nearest the raw one.
    methods.push((
        "cleanup".into(),
        instructions
            .iter()
            .zip(&inputs)
            .map(|(raw, input)| {
                let t = Instant::now();
                let prompt = with_input(&rule_cleanup(raw), *input);
                Pick {
                    prompt,
                    calls: 0,
                    seconds: t.elapsed().as_secs_f64(),
                }
            })
            .collect(),
        None,
    ));
    if let Some(train) = train {
        let d = e_raw_prompts.first().map_or(0, Vec::len);
        if d == 0 || train.vectors.len() != train.prompts.len() * d {
            return Err(vec2prompt_core::Error::invalid(
                "--dataset",
                "the train prompts' embeddings do not match the embedder",
            ));
        }
        let picks = e_raw_prompts
            .iter()
            .map(|q| {
                let t = Instant::now();
                let best = (0..train.prompts.len())
                    .max_by(|&a, &b| {
                        cosine(q, &train.vectors[a * d..(a + 1) * d])
                            .total_cmp(&cosine(q, &train.vectors[b * d..(b + 1) * d]))
                    })
                    .map_or_else(String::new, |i| train.prompts[i].clone());
                Pick {
                    prompt: best,
                    calls: 0,
                    seconds: t.elapsed().as_secs_f64(),
                }
            })
            .collect();
        methods.push(("nearest-train".into(), picks, None));
    }
    // Variants of the budget method: (model, record) → prompts.
    let mut variants: Vec<(String, Option<&AnswerHead>, Vec<VariantSet>)> = Vec::new();
    for (mi, m) in models.iter().enumerate() {
        let o = m.optimizer;
        // The budget and structured methods are run for the last model only (the one
        // under report); the others are compared at 0 calls.
        let last = mi + 1 == models.len();
        // The rewrite length `DecodeOptions` defaults to (a precise rewrite rarely needs
        // more).
        let max_tokens = DecodeOptions::default().max_tokens;
        let mut greedy = Vec::with_capacity(records.len());
        let mut as_decoded = Vec::new();
        let mut budget_sets = Vec::new();
        let intents = o.intents(&e_raw)?;
        for (i, instr) in instructions.iter().enumerate() {
            let raw = &raws[i];
            let seed = config.seed ^ i as u64;
            let t = Instant::now();
            // As the service drafts: greedy first, rewrites keeping the user's words first.
            let first = o
                .drafts_until(raw, &e_raw[i], Style::Precise, 1, max_tokens, seed, &|| {
                    false
                })?
                .into_iter()
                .next()
                .unwrap_or_else(|| instr.clone());
            let secs = t.elapsed().as_secs_f64();
            if last {
                let t = Instant::now();
                let plain = o
                    .optimize(raw, &e_raw[i], Style::Precise, 1, &DecodeOptions::default())?
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| instr.clone());
                as_decoded.push(Pick {
                    prompt: with_input(&plain, inputs[i]),
                    calls: 0,
                    seconds: t.elapsed().as_secs_f64(),
                });
            }
            if last && config.budget > 0 {
                let t = Instant::now();
                // As the service does it: the raw prompt is one of the measured
                // candidates, beside budget − 1 drafted rewrites.
                let drafts = o.drafts_until(
                    raw,
                    &e_raw[i],
                    Style::Precise,
                    config.budget.saturating_sub(1).max(1),
                    max_tokens,
                    seed,
                    &|| false,
                )?;
                let mut vs: Vec<String> = drafts
                    .iter()
                    .map(|v| with_input(v, inputs[i]))
                    .filter(|v| v.trim() != raw.trim())
                    .collect();
                vs.insert(0, raw.clone());
                vs.truncate(config.budget.max(1));
                budget_sets.push((vs, secs + t.elapsed().as_secs_f64(), intents[i].clone()));
            }
            greedy.push(Pick {
                prompt: with_input(&first, inputs[i]),
                calls: 0,
                seconds: secs,
            });
            progress(&format!("{}: decoded {}/{}", m.name, i + 1, records.len()));
        }
        methods.push((m.name.clone(), greedy, None));
        if last {
            methods.push((format!("{}-greedy", m.name), as_decoded, None));
        }
        if last && config.budget > 0 {
            variants.push((m.name.clone(), m.head, budget_sets));
        }
        let n = if last {
            config.structured_limit.min(records.len())
        } else {
            0
        };
        if n > 0 {
            // The default `max_length` of `optimize` and `/optimize`.
            let opts = DecodeOptions {
                max_tokens: 200,
                ..DecodeOptions::default()
            };
            let mut picks = Vec::with_capacity(n);
            let mut complete = Vec::with_capacity(n);
            for i in 0..n {
                let t = Instant::now();
                let s = o
                    .optimize(&raws[i], &e_raw[i], Style::Structured, 1, &opts)?
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                complete.push(structure(&s, &raws[i]).is_well_formed());
                picks.push(Pick {
                    prompt: with_input(&s, inputs[i]),
                    calls: 0,
                    seconds: t.elapsed().as_secs_f64(),
                });
                progress(&format!("{}-structured: decoded {}/{n}", m.name, i + 1));
            }
            methods.push((format!("{}-structured", m.name), picks, Some(complete)));
        }
    }
    // Every prompt to answer, in one batched pass.
    let mut all: Vec<String> = methods
        .iter()
        .flat_map(|(_, ps, _)| ps.iter().map(|p| p.prompt.clone()))
        .collect();
    for (_, _, sets) in &variants {
        for (vs, _, _) in sets {
            all.extend(vs.iter().cloned());
        }
    }
    llm.fill(&all, &mut |d, t| progress(&format!("answers {d}/{t}")))?;
    let mut unique: Vec<String> = all.clone();
    unique.sort();
    unique.dedup();
    let answers: Vec<(String, String)> = unique
        .into_iter()
        .filter_map(|p| llm.get(&p).map(|a| (p, a.answer)))
        .filter(|(_, a)| !a.trim().is_empty())
        .collect();
    let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
    for chunk in answers.chunks(128) {
        let texts: Vec<String> = chunk.iter().map(|(_, a)| a.clone()).collect();
        for ((p, _), v) in chunk.iter().zip(embedder.embed(&texts)?) {
            vectors.insert(p.clone(), v);
        }
    }
    let outputs: Vec<String> = records.iter().map(|r| r.output.clone()).collect();
    let e_out = embedder.embed(&outputs)?;
    // The predicted answers a budget may rank against, judged against the reference
    // answers they never see (the last model's intent and head).
    let mut goal_rows: Vec<(String, Vec<f64>)> = vec![(
        "the raw prompt's own embedding".into(),
        e_raw_prompts
            .iter()
            .zip(&e_out)
            .map(|(g, o)| cosine(g, o) as f64)
            .collect(),
    )];
    let judged = |goals: Vec<Vec<f32>>| -> Vec<f64> {
        goals
            .iter()
            .zip(&e_out)
            .map(|(g, o)| cosine(g, o) as f64)
            .collect()
    };
    if let Some(s) = surrogate {
        goal_rows.push((
            "surrogate(raw prompt)".into(),
            judged(s.predict(&e_raw_prompts)?),
        ));
        if let Some(m) = models.last() {
            goal_rows.push((
                "surrogate(intent)".into(),
                judged(s.predict(&m.optimizer.intents(&e_raw)?)?),
            ));
        }
    }
    if let Some(h) = models.last().and_then(|m| m.head) {
        goal_rows.push((
            "answer head(raw prompt)".into(),
            judged(h.predict(&e_raw_prompts)?),
        ));
    }
    let cost = |p: &str| llm.get(p).map_or(0.0, |a| a.seconds);
    // The budget picks, as the service makes them: the candidates' answers are scored
    // against the predicted answer (the answer head's, else the surrogate's for the raw
    // prompt); the best rewrite is chosen only if it beats the raw prompt (the first
    // candidate) by the improvement margin, else the raw prompt stays. With no goal at
    // all the greedy rewrite is kept.
    // The user's own target, simulated: sampled answers to the human prompt.
    let examples = if config.target_examples > 0 && !variants.is_empty() {
        let params = vec2prompt_core::GenerationParams {
            max_new_tokens: 128,
            sampling: vec2prompt_core::Sampling::Sample {
                temperature: 0.7,
                top_p: 0.95,
                seed: config.seed,
            },
            n: config.target_examples,
        };
        let humans: Vec<String> = records.iter().map(|r| r.prompt.clone()).collect();
        let mut out = Vec::with_capacity(records.len());
        for (c, chunk) in humans.chunks(16).enumerate() {
            for g in vec2prompt_core::Llm::generate(llm, chunk, &params)? {
                let texts: Vec<String> = g
                    .into_iter()
                    .map(|a| a.text)
                    .filter(|t| !t.trim().is_empty())
                    .collect();
                let goal = if texts.is_empty() {
                    None
                } else {
                    let vectors = embedder.embed(&texts)?;
                    vec2prompt_optimizer::service::UserTarget::from_texts(
                        vec2prompt_optimizer::service::GoalKind::TargetExamples,
                        texts,
                        &vectors,
                    )
                    .ok()
                };
                out.push(goal);
            }
            progress(&format!(
                "example answers {}/{}",
                ((c + 1) * 16).min(humans.len()),
                humans.len()
            ));
        }
        Some(out)
    } else {
        None
    };
    let mut with_examples = Vec::new();
    for (name, head, sets) in variants {
        let mut picks = Vec::with_capacity(sets.len());
        let mut example_picks = Vec::with_capacity(sets.len());
        let mut intent_picks = Vec::with_capacity(sets.len());
        let mut surrogate_picks = Vec::with_capacity(sets.len());
        for (i, (vs, secs, intent)) in sets.into_iter().enumerate() {
            let vs = &vs;
            let paid: f64 = vs.iter().map(|p| cost(p)).sum();
            if let Some(Some(t)) = examples.as_ref().map(|e| e.get(i).cloned().flatten()) {
                let score =
                    |p: &String| -> f32 { vectors.get(p).map_or(-1.0, |v| cosine(&t.vector, v)) };
                let raw_prompt = vs.first().cloned().unwrap_or_default();
                // As the service: rewrites pasting the examples' words are refused.
                let best_rewrite = vs
                    .iter()
                    .skip(1)
                    .filter(|p| !t.copied_by(split_prompt(p).0))
                    .map(|p| (p, score(p)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                let best = match best_rewrite {
                    Some((p, b)) if b > score(&raw_prompt) + IMPROVEMENT_MARGIN => p.clone(),
                    _ => raw_prompt.clone(),
                };
                example_picks.push(Pick {
                    prompt: best,
                    calls: vs.len(),
                    seconds: secs + paid,
                });
            }
            // As the service: the answer head's prediction for the whole raw prompt when
            // the model has one, else the surrogate's for it. The surrogate's for the
            // intent vector was the goal before either, kept as an ablation.
            let intent_goal = match surrogate {
                Some(s) => s.predict(&[intent])?.into_iter().next(),
                None => None,
            };
            let surrogate_goal = match surrogate {
                Some(s) => s
                    .predict(std::slice::from_ref(&e_raw_prompts[i]))?
                    .into_iter()
                    .next(),
                None => None,
            };
            let goal = match head {
                Some(h) => h
                    .predict(std::slice::from_ref(&e_raw_prompts[i]))?
                    .into_iter()
                    .next(),
                None => surrogate_goal.clone(),
            };
            let pick = |goal: Option<&Vec<f32>>| -> String {
                let score = |p: &String| -> Option<f32> {
                    let g = goal?;
                    Some(vectors.get(p).map_or(-1.0, |v| cosine(g, v)))
                };
                let raw_prompt = vs.first().cloned().unwrap_or_default();
                let best_rewrite = vs
                    .iter()
                    .skip(1)
                    .filter_map(|p| Some((p, score(p)?)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                match (score(&raw_prompt), best_rewrite) {
                    (Some(r), Some((p, b))) if b > r + IMPROVEMENT_MARGIN => p.clone(),
                    (Some(_), _) => raw_prompt.clone(),
                    (None, _) => vs.get(1).cloned().unwrap_or(raw_prompt.clone()),
                }
            };
            picks.push(Pick {
                prompt: pick(goal.as_ref()),
                calls: vs.len(),
                seconds: secs + paid,
            });
            intent_picks.push(Pick {
                prompt: pick(intent_goal.as_ref()),
                calls: vs.len(),
                seconds: secs + paid,
            });
            if head.is_some() {
                surrogate_picks.push(Pick {
                    prompt: pick(surrogate_goal.as_ref()),
                    calls: vs.len(),
                    seconds: secs + paid,
                });
            }
        }
        let k = picks.iter().map(|p| p.calls).max().unwrap_or(0);
        methods.push((format!("{name}+budget-{k}"), picks, None));
        // The ablations of the goal: the same answers ranked against the surrogate's
        // prediction for the raw prompt (the goal without a head) and for the intent
        // vector (the goal before either).
        if surrogate.is_some() {
            if head.is_some() {
                with_examples.push((
                    format!("{name}+budget-{k}+surrogate-goal"),
                    surrogate_picks,
                    None,
                ));
            }
            with_examples.push((format!("{name}+budget-{k}+intent-goal"), intent_picks, None));
        }
        // Only when every record had examples, so the rows pair record by record.
        if example_picks.len() == records.len() {
            with_examples.push((format!("{name}+budget-{k}+examples"), example_picks, None));
        }
    }
    methods.extend(with_examples);
    let score = |p: &str, i: usize| -> f64 {
        answer_score(&e_out[i], vectors.get(p).map_or(&[], |v| v)) as f64
    };
    let raw_scores: Vec<f64> = raws.iter().enumerate().map(|(i, p)| score(p, i)).collect();
    let mut results: Vec<MethodResult> = methods
        .into_iter()
        .enumerate()
        .map(|(m, (name, picks, complete))| {
            let scores: Vec<f64> = picks
                .iter()
                .enumerate()
                .map(|(i, p)| score(&p.prompt, i))
                .collect();
            let n = picks.len().max(1) as f64;
            let mut wtl = [0usize; 3];
            for (s, r) in scores.iter().zip(&raw_scores) {
                wtl[if s - r > WIN_MARGIN {
                    0
                } else if r - s > WIN_MARGIN {
                    2
                } else {
                    1
                }] += 1;
            }
            // The anchors (raw, human) have no drift to judge; rewrites are compared
            // with the raw instruction they were made from.
            let drift_rate = (m >= 2).then(|| {
                picks
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| drifts(&instructions[*i], split_prompt(&p.prompt).0))
                    .count() as f64
                    / n
            });
            let mut health = [0.0f64; 4];
            for p in &picks {
                let answer = llm.get(&p.prompt).map(|a| a.answer).unwrap_or_default();
                let h = answer_health(&p.prompt, &answer);
                for (slot, bad) in health
                    .iter_mut()
                    .zip([h.empty, h.looping, h.refusal, h.echo])
                {
                    *slot += f64::from(u8::from(bad)) / n;
                }
            }
            MethodResult {
                win_tie_loss: wtl,
                drift_rate,
                health,
                name,
                llm_calls: picks.iter().map(|p| p.calls).max().unwrap_or(0),
                mean: mean(&scores),
                normalized: 0.0,
                seconds_per_record: picks.iter().map(|p| p.seconds).sum::<f64>() / n,
                copy_rate: picks
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| copies(&p.prompt, &records[*i].output))
                    .count() as f64
                    / n,
                loop_rate: picks.iter().filter(|p| is_loop(&p.prompt)).count() as f64 / n,
                sections_complete: complete
                    .map(|c| c.iter().filter(|&&x| x).count() as f64 / c.len().max(1) as f64),
                records: picks.len(),
                scores,
                prompts: picks.into_iter().map(|p| p.prompt).collect(),
                quality: None,
            }
        })
        .collect();
    let (raw, human) = (results[0].mean, results[1].mean);
    for r in &mut results {
        r.normalized = normalize(r.mean, raw, human);
    }
    // Prompt quality of every method, beside the human prompts (the anchor) of the same
    // records; the instruction is judged, a record's input is not the method's writing.
    {
        let human: Vec<String> = results[1]
            .prompts
            .iter()
            .map(|p| split_prompt(p).0.to_string())
            .collect();
        let human_vectors = embedder.embed(&human)?;
        let nearest = crate::quality::nearest_targets(&e_out);
        for r in results.iter_mut() {
            let n = r.prompts.len();
            let picks: Vec<String> = r
                .prompts
                .iter()
                .map(|p| split_prompt(p).0.to_string())
                .collect();
            let pv = embedder.embed(&picks)?;
            let near: Vec<usize> = nearest[..n].iter().map(|&j| j.min(n - 1)).collect();
            let inputs = crate::quality::QualityInputs {
                human: &human[..n],
                human_vectors: &human_vectors[..n],
                nearest_target: &near,
            };
            r.quality = Some(crate::quality::measure(&picks, &pv, &inputs, perplexity));
        }
    }
    let mut paired = Vec::new();
    let pair = |a: &MethodResult, b: &MethodResult| -> Paired {
        let n = a.scores.len().min(b.scores.len());
        let d: Vec<f64> = (0..n).map(|i| a.scores[i] - b.scores[i]).collect();
        Paired {
            a: a.name.clone(),
            b: b.name.clone(),
            diff: mean(&d),
            ci95: bootstrap_ci95(&d, config.resamples, config.seed),
            n,
        }
    };
    // The gate: how much room the family leaves (human − raw).
    paired.push(pair(&results[1], &results[0]));
    for r in &results[2..] {
        paired.push(pair(r, &results[0]));
        paired.push(pair(r, &results[1]));
    }
    let zero_call: Vec<&MethodResult> = results[2..]
        .iter()
        .filter(|r| r.llm_calls == 0 && r.sections_complete.is_none())
        .collect();
    for w in zero_call.windows(2) {
        paired.push(pair(w[1], w[0]));
    }
    for r in &results[2..] {
        if let Some(base) = r
            .name
            .split("+budget-")
            .next()
            .filter(|_| r.name.contains("+budget-"))
            && let Some(b) = results.iter().find(|x| x.name == base)
        {
            paired.push(pair(r, b));
        }
        // `m+budget-k+examples`, `+surrogate-goal`, `+intent-goal`: against `m+budget-k`.
        if let Some((plain, _)) = r.name.rsplit_once('+')
            && plain.contains("+budget-")
            && let Some(b) = results.iter().find(|x| x.name == plain)
        {
            paired.push(pair(r, b));
        }
    }
    let goals: Vec<GoalQuality> = if goal_rows.len() > 1 {
        goal_rows
            .iter()
            .map(|(name, c)| GoalQuality {
                name: name.clone(),
                mean: mean(c),
                ci95: bootstrap_ci95(c, config.resamples, config.seed),
            })
            .collect()
    } else {
        Vec::new()
    };
    // Each predictor against the surrogate's for the raw prompt (the comparison)
    // and the one used without a head (the intent's).
    for base in ["surrogate(raw prompt)", "surrogate(intent)"] {
        let Some((_, b)) = goal_rows.iter().find(|(n, _)| n == base) else {
            continue;
        };
        for (name, a) in goal_rows.iter().filter(|(n, _)| n != base) {
            if base == "surrogate(intent)" && name != "answer head(raw prompt)" {
                continue;
            }
            let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
            paired.push(Paired {
                a: format!("goal: {name}"),
                b: format!("goal: {base}"),
                diff: mean(&d),
                ci95: bootstrap_ci95(&d, config.resamples, config.seed),
                n: d.len(),
            });
        }
    }
    Ok(BenchReport {
        split: config.split.clone(),
        goals,
        family: family.name().to_string(),
        provenance: None,
        anchor: config.anchors.as_ref().map(|(_, what)| what.clone()),
        kept_share: mean(&kept),
        kept_at_least_90: kept.iter().filter(|&&k| k >= 0.9).count() as f64
            / kept.len().max(1) as f64,
        records: records.len(),
        command: config.command.clone(),
        llm_config: config.llm_config.clone(),
        methods: results,
        paired,
        answers_generated: llm.stats().generated - before,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// (score − raw) / (human − raw); 0 when the anchors coincide.
pub fn normalize(score: f64, raw: f64, human: f64) -> f64 {
    let span = human - raw;
    if span.abs() < 1e-12 {
        0.0
    } else {
        (score - raw) / span
    }
}

fn significance(ci: [f64; 2]) -> &'static str {
    if ci[0] > 0.0 {
        "above zero"
    } else if ci[1] < 0.0 {
        "below zero"
    } else {
        "not significant"
    }
}

/// The report in Markdown.
pub fn markdown(r: &BenchReport, date: &str, machine: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Prompt optimizer: {} raw prompts → optimized ({} split, {} records)\n",
        r.family, r.split, r.records
    );
    match &r.provenance {
        Some(p) => s.push_str(&p.markdown()),
        None => {
            let _ = writeln!(s, "- command: `{}`", r.command);
        }
    }
    if let Some(anchor) = &r.anchor {
        let _ = writeln!(s, "- the `human` rows and columns are {anchor}");
    }
    let _ = writeln!(
        s,
        "- date: {date}; machine: {machine}; wall time {:.0} s, {} answers generated (the rest cached)",
        r.wall_seconds, r.answers_generated
    );
    let _ = writeln!(s, "- LLM: `{}`", r.llm_config);
    let _ = writeln!(
        s,
        "- raw prompt: the instruction written by the `{}` family{}, the record's input kept; it keeps {:.1}% of the instruction's content words on average, and {:.1}% of the raw prompts keep at least 90%",
        r.family,
        if r.family == RawFamily::TopicLost.name() {
            " (a stress test: the topic is usually lost, so even a perfect optimizer reaches the human prompt only where the input still carries it)"
        } else {
            ""
        },
        100.0 * r.kept_share,
        100.0 * r.kept_at_least_90
    );
    let _ = writeln!(
        s,
        "- score: cos(E(LLM(prompt)), E(reference output)); normalized per mean: raw = 0, the record's own human prompt = 1; win / tie / loss against the raw prompt's answer with a margin of {WIN_MARGIN}\n"
    );
    let _ = writeln!(
        s,
        "| method | LLM calls | mean cosine | normalized | win / tie / loss vs raw | intent drift | answers empty / loop / refusal / echo | s / record | copy rate | loop rate | all sections, filled, no repeats |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|");
    for m in &r.methods {
        let sections = m
            .sections_complete
            .map_or("–".into(), |c| format!("{:.0}%", 100.0 * c));
        let drift = m
            .drift_rate
            .map_or("–".into(), |d| format!("{:.0}%", 100.0 * d));
        let [w, t, l] = m.win_tie_loss;
        let h = m.health.map(|x| format!("{:.0}%", 100.0 * x)).join(" / ");
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.2} | {w} / {t} / {l} | {drift} | {h} | {:.2} | {:.1}% | {:.1}% | {} |",
            m.name,
            m.llm_calls,
            m.mean,
            m.normalized,
            m.seconds_per_record,
            100.0 * m.copy_rate,
            100.0 * m.loop_rate,
            sections
        );
    }
    match r
        .methods
        .iter()
        .find_map(|m| m.sections_complete.map(|_| m.records))
    {
        Some(n) => {
            let _ = writeln!(
                s,
                "\nStructured rows are scored on the first {n} records only.\n"
            );
        }
        None => s.push('\n'),
    }
    let _ = writeln!(
        s,
        "## Paired differences (same records, bootstrap 95% CI)\n"
    );
    let _ = writeln!(s, "| a − b | records | mean difference | 95% CI | |");
    let _ = writeln!(s, "|---|---:|---:|---|---|");
    for p in &r.paired {
        let _ = writeln!(
            s,
            "| {} − {} | {} | {:+.4} | [{:+.4}, {:+.4}] | {} |",
            p.a,
            p.b,
            p.n,
            p.diff,
            p.ci95[0],
            p.ci95[1],
            significance(p.ci95)
        );
    }
    if !r.goals.is_empty() {
        let _ = writeln!(
            s,
            "\n## The goal a budget ranks answers against (no reference seen), judged by its cosine to E(reference output)\n"
        );
        let _ = writeln!(
            s,
            "| predicted answer | mean cos to E(reference) | 95% CI |"
        );
        let _ = writeln!(s, "|---|---:|---|");
        for g in &r.goals {
            let _ = writeln!(
                s,
                "| {} | {:.4} | [{:.4}, {:.4}] |",
                g.name, g.mean, g.ci95[0], g.ci95[1]
            );
        }
    }
    let rows: Vec<(String, crate::quality::PromptQuality)> = r
        .methods
        .iter()
        .filter_map(|m| Some((m.name.clone(), m.quality.clone()?)))
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(
            s,
            "\n## Prompt quality (the `human` row is the anchor; fluency = median perplexity ratio to it under the LLM read as plain text)\n"
        );
        s.push_str(&crate::quality::markdown_table(&rows));
    }
    let _ = writeln!(s, "\n## Examples (first 5 records)\n");
    for i in 0..r.records.min(5) {
        for m in &r.methods {
            if let Some(p) = m.prompts.get(i) {
                let first: String = p.lines().next().unwrap_or("").chars().take(160).collect();
                let _ = writeln!(s, "- {} ({:.3}): {}", m.name, m.scores[i], first);
            }
        }
        let _ = writeln!(s);
    }
    s
}

/// The smallest lower bound of human − raw's 95% CI for a family to be a goal rather
/// than a control: below it, the raw prompt already does about as well as the human one.
pub const GATE_MIN: f64 = 0.02;

/// human − raw of a report, when it has that pair.
pub fn room(r: &BenchReport) -> Option<&Paired> {
    r.paired.iter().find(|p| p.a == "human" && p.b == "raw")
}

/// Whether a family's report passes the gate ([`GATE_MIN`]).
pub fn passes_gate(r: &BenchReport) -> bool {
    room(r).is_some_and(|p| p.ci95[0] >= GATE_MIN)
}

/// The summary of a multi-family run: the gate per family and the held-out family drawn
/// by `seed` among the intent-keeping families that pass it.
pub fn gate_markdown(reports: &[BenchReport], seed: u64, date: &str, machine: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Prompt optimizer benchmark: the raw families\n");
    if let Some(r) = reports.first() {
        match &r.provenance {
            Some(p) => s.push_str(&p.markdown()),
            None => {
                let _ = writeln!(s, "- command: `{}`", r.command);
            }
        }
        let _ = writeln!(s, "- split: {}, {} records per family", r.split, r.records);
        let _ = writeln!(s, "- LLM: `{}`", r.llm_config);
    }
    let _ = writeln!(s, "- date: {date}; machine: {machine}\n");
    let _ = writeln!(
        s,
        "A family is a goal when the lower bound of human − raw's 95% CI is at least {GATE_MIN}; otherwise it is a control (the raw prompt already does about as well as the human one).\n"
    );
    let _ = writeln!(
        s,
        "| family | content words kept | raw prompts keeping ≥ 90% | raw | human | human − raw [95% CI] | gate | cleanup − raw | nearest-train − raw |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---|---|---|");
    let diff = |r: &BenchReport, a: &str| -> String {
        r.paired
            .iter()
            .find(|p| p.a == a && p.b == "raw")
            .map_or("–".into(), |p| {
                format!("{:+.3} [{:+.3}, {:+.3}]", p.diff, p.ci95[0], p.ci95[1])
            })
    };
    for r in reports {
        let mean_of = |name: &str| {
            r.methods
                .iter()
                .find(|m| m.name == name)
                .map_or(f64::NAN, |m| m.mean)
        };
        let gate = if r.anchor.is_some() {
            // Real users: the anchor is a rewrite, not the human prompt; no gate applies.
            "–"
        } else if passes_gate(r) {
            "goal"
        } else {
            "control"
        };
        let _ = writeln!(
            s,
            "| {} | {:.1}% | {:.1}% | {:.3} | {:.3} | {} | {gate} | {} | {} |",
            r.family,
            100.0 * r.kept_share,
            100.0 * r.kept_at_least_90,
            mean_of("raw"),
            mean_of("human"),
            diff(r, "human"),
            diff(r, "cleanup"),
            diff(r, "nearest-train"),
        );
    }
    if reports.iter().all(|r| r.anchor.is_some()) {
        let _ = writeln!(
            s,
            "\nReal users' prompts as written: `human` is the file's own rewrite, so this run has no gate and holds out no family."
        );
        return s;
    }
    let passed: Vec<RawFamily> = reports
        .iter()
        .filter(|r| passes_gate(r))
        .filter_map(|r| RawFamily::parse(&r.family))
        .collect();
    match vec2prompt_optimizer::families::held_out(seed, &passed) {
        Some(f) => {
            let _ = writeln!(
                s,
                "\nHeld-out family (drawn with seed {seed} among the intent-keeping families that pass the gate: {}): **{}**. It is never trained or developed on.",
                passed
                    .iter()
                    .filter(|f| RawFamily::INTENT_KEEPING.contains(f))
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                f.name()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "\nNo intent-keeping family of this run passes the gate, so none is held out."
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_puts_raw_at_zero_and_human_at_one() {
        assert_eq!(normalize(0.3, 0.3, 0.7), 0.0);
        assert_eq!(normalize(0.7, 0.3, 0.7), 1.0);
        assert!((normalize(0.5, 0.3, 0.7) - 0.5).abs() < 1e-12);
        assert_eq!(normalize(0.5, 0.4, 0.4), 0.0);
        assert_eq!(significance([0.1, 0.2]), "above zero");
        assert_eq!(significance([-0.1, 0.2]), "not significant");
    }
}
