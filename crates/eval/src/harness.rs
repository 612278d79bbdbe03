//! The evaluation run: methods random, oracle, knn-1 and knn-best-of-k (GUIDE §2).

use crate::cache::{AnswerCache, CachedAnswer};
use crate::report::{Choice, MethodReport, Report, TargetRow};
use crate::stats;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use vec2prompt_core::{Embedder, Error, GenerationParams, Llm, Result, cosine};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_index::VectorIndex;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Number of test targets (the first ones in file order).
    pub limit: usize,
    /// Seed of the random method and the bootstrap.
    pub seed: u64,
    /// The k of each knn-best-of-k method.
    pub ks: Vec<usize>,
    /// The environment's generation settings (GUIDE §2: greedy, 128 new tokens).
    pub params: GenerationParams,
    /// Prompts per generation call (each call is batched by the LLM).
    pub chunk: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// The command line, recorded in the report.
    pub command: String,
    /// The LLM configuration, recorded in the report.
    pub llm_config: String,
}

/// The dataset side of a run.
pub struct EvalData<'a> {
    /// All records, in file order.
    pub records: &'a [Record],
    /// Output embeddings of all records (`records.len() × dimension`), the targets e*.
    pub outputs: &'a [f32],
    /// Embedding dimension.
    pub dimension: usize,
    /// Index over the train records' output embeddings; ids are record positions.
    pub train_index: &'a dyn VectorIndex,
}

struct Answered {
    vector: Vec<f32>,
    seconds: f64,
    empty: bool,
}

/// Runs the evaluation, reporting progress lines through `progress`.
pub fn run(
    data: &EvalData<'_>,
    llm: &dyn Llm,
    embedder: &dyn Embedder,
    cache: &mut AnswerCache,
    config: &EvalConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let d = data.dimension;
    if data.outputs.len() != data.records.len() * d {
        return Err(Error::invalid(
            "--dataset",
            "the output embeddings do not match the records; run `vec2prompt ingest` again",
        ));
    }
    let targets: Vec<usize> = (0..data.records.len())
        .filter(|&i| data.records[i].split == Split::Test)
        .take(config.limit)
        .collect();
    if targets.is_empty() {
        return Err(Error::invalid(
            "--dataset",
            "has no test records (index % 100 == 7)",
        ));
    }
    let train: Vec<usize> = (0..data.records.len())
        .filter(|&i| data.records[i].split == Split::Train)
        .collect();
    if train.is_empty() {
        return Err(Error::invalid("--dataset", "has no train records"));
    }
    let kmax = config.ks.iter().copied().max().unwrap_or(1).max(1);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let random: Vec<usize> = targets
        .iter()
        .map(|_| train[rng.random_range(0..train.len())])
        .collect();
    let queries: Vec<Vec<f32>> = targets
        .iter()
        .map(|&t| data.outputs[t * d..(t + 1) * d].to_vec())
        .collect();
    let t0 = Instant::now();
    let hits = data.train_index.search_batch(&queries, kmax)?;
    let search_seconds = t0.elapsed().as_secs_f64() / targets.len() as f64;
    for (h, &t) in hits.iter().zip(&targets) {
        if h.len() < kmax {
            return Err(Error::invalid(
                "--dataset",
                format!(
                    "only {} train neighbours for target {t}; need {kmax}",
                    h.len()
                ),
            ));
        }
    }

    // Every prompt any method needs answered, once.
    let prompt_of = |i: usize| data.records[i].prompt.as_str();
    let mut needed: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for (n, &t) in targets.iter().enumerate() {
        let wanted = [t, random[n]]
            .into_iter()
            .chain(hits[n].iter().map(|h| h.id as usize));
        for i in wanted {
            if seen.insert(prompt_of(i)) {
                needed.push(prompt_of(i));
            }
        }
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|p| cache.get(p).is_none())
        .map(|p| p.to_string())
        .collect();
    let cached = needed.len() - missing.len();
    progress(&format!(
        "{} targets, {} distinct prompts: {} cached, {} to generate",
        targets.len(),
        needed.len(),
        cached,
        missing.len()
    ));
    let started = Instant::now();
    let mut done = 0;
    for chunk in missing.chunks(config.chunk.max(1)) {
        let t = Instant::now();
        let generations = llm.generate(chunk, &config.params)?;
        let share = t.elapsed().as_secs_f64() / chunk.len() as f64;
        let answers = chunk
            .iter()
            .zip(generations)
            .map(|(p, mut g)| {
                let g = g
                    .pop()
                    .ok_or_else(|| Error::backend(&llm.info().name, "returned no answer"))?;
                Ok(CachedAnswer {
                    prompt: p.clone(),
                    answer: g.text,
                    completion_tokens: g.completion_tokens,
                    seconds: share,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        cache.insert(answers)?;
        done += chunk.len();
        let rate = done as f64 / started.elapsed().as_secs_f64();
        let eta = (missing.len() - done) as f64 / rate.max(1e-9);
        progress(&format!(
            "generated {done}/{} answers ({rate:.2}/s, ETA {eta:.0} s)",
            missing.len()
        ));
    }

    // Embed every needed answer once.
    let mut answered: HashMap<&str, Answered> = HashMap::new();
    let texts: Vec<(&str, String)> = needed
        .iter()
        .filter_map(|p| cache.get(p).map(|a| (*p, a.answer.clone())))
        .filter(|(_, a)| !a.trim().is_empty())
        .collect();
    let t = Instant::now();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        let batch: Vec<String> = chunk.iter().map(|(_, a)| a.clone()).collect();
        vectors.extend(embedder.embed(&batch)?);
    }
    let embed_share = t.elapsed().as_secs_f64() / texts.len().max(1) as f64;
    for ((p, _), v) in texts.iter().zip(vectors) {
        let seconds = cache.get(p).map_or(0.0, |a| a.seconds) + embed_share;
        answered.insert(
            p,
            Answered {
                vector: v,
                seconds,
                empty: false,
            },
        );
    }
    for p in &needed {
        answered.entry(p).or_insert(Answered {
            vector: vec![0.0; d],
            seconds: cache.get(p).map_or(0.0, |a| a.seconds),
            empty: true,
        });
    }
    let score = |p: &str, t: usize| -> f64 {
        match answered.get(p) {
            // An empty answer carries no meaning, so it matches nothing.
            Some(a) if !a.empty => cosine(&data.outputs[t * d..(t + 1) * d], &a.vector) as f64,
            _ => 0.0,
        }
    };

    // Each method's choice per target: (record whose prompt it chose, score, llm calls,
    // seconds).
    let mut names: Vec<String> = vec!["random".into(), "oracle".into(), "knn-1".into()];
    names.extend(config.ks.iter().map(|k| format!("knn-best-of-{k}")));
    let mut choices: Vec<Vec<(usize, f64, usize, f64)>> = vec![Vec::new(); names.len()];
    for (n, &t) in targets.iter().enumerate() {
        let pick = |i: usize| score(prompt_of(i), t);
        choices[0].push((random[n], pick(random[n]), 0, 0.0));
        choices[1].push((t, pick(t), 0, 0.0));
        let k1 = hits[n][0].id as usize;
        choices[2].push((k1, pick(k1), 0, search_seconds));
        for (m, &k) in config.ks.iter().enumerate() {
            let candidates: Vec<usize> = hits[n][..k].iter().map(|h| h.id as usize).collect();
            let best = candidates
                .iter()
                .copied()
                .max_by(|&a, &b| pick(a).total_cmp(&pick(b)))
                .unwrap_or(k1);
            let seconds = search_seconds
                + candidates
                    .iter()
                    .map(|&i| answered.get(prompt_of(i)).map_or(0.0, |a| a.seconds))
                    .sum::<f64>();
            choices[3 + m].push((best, pick(best), k, seconds));
        }
    }

    let scores: Vec<Vec<f64>> = choices
        .iter()
        .map(|c| c.iter().map(|x| x.1).collect())
        .collect();
    let (random_mean, oracle_mean) = (stats::mean(&scores[0]), stats::mean(&scores[1]));
    let methods = names
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let c = &choices[m];
            let n = c.len() as f64;
            let tokens: f64 = c
                .iter()
                .map(|x| {
                    let p = prompt_of(x.0);
                    llm.count_tokens(p)
                        .unwrap_or_else(|| p.split_whitespace().count()) as f64
                })
                .sum::<f64>()
                / n;
            let copies = c
                .iter()
                .zip(&targets)
                .filter(|(x, t)| stats::copies(prompt_of(x.0), &data.records[**t].output))
                .count() as f64;
            MethodReport {
                method: name.clone(),
                mean: stats::mean(&scores[m]),
                median: stats::median(&scores[m]),
                ci95: stats::bootstrap_ci95(&scores[m], config.resamples, config.seed),
                normalized: stats::normalized(stats::mean(&scores[m]), random_mean, oracle_mean),
                win_rate_vs_oracle: stats::win_rate(&scores[m], &scores[1]),
                llm_calls_per_target: c.iter().map(|x| x.2 as f64).sum::<f64>() / n,
                seconds_per_target: c.iter().map(|x| x.3).sum::<f64>() / n,
                prompt_tokens: tokens,
                copy_rate: copies / n,
            }
        })
        .collect();
    let per_target = targets
        .iter()
        .enumerate()
        .map(|(n, &t)| TargetRow {
            id: data.records[t].id.clone(),
            index: data.records[t].index,
            choices: names
                .iter()
                .enumerate()
                .map(|(m, name)| Choice {
                    method: name.clone(),
                    prompt_record: data.records[choices[m][n].0].index,
                    score: choices[m][n].1,
                })
                .collect(),
        })
        .collect();
    Ok(Report {
        command: config.command.clone(),
        date: String::new(),
        llm: config.llm_config.clone(),
        embedder: embedder.info().name.clone(),
        targets: targets.len(),
        seed: config.seed,
        answers_generated: missing.len(),
        answers_cached: cached,
        methods,
        per_target,
    })
}
