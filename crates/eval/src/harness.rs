//! The evaluation run: the reference methods random, oracle, knn-1 and
//! knn-best-of-k, and — when a searcher with learned models or a generator is given —
//! inverter-greedy, generator-greedy and -ranked, fast mode and search with LLM-call
//! budgets, and the same search without the dataset (`nodata-…`).

use crate::cache::CachedAnswer;
use crate::cached_llm::CachedLlm;
use crate::report::{Choice, MethodReport, RankingReport, Report, TargetRow};
use crate::stats;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use vec2prompt_core::{
    Embedder, Error, GenerationParams, Llm, Result, TargetVector, answer_score, cosine,
    is_empty_answer,
};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_index::VectorIndex;
use vec2prompt_latent::decode::Strategy;
use vec2prompt_search::{Recall, SearchBudget, SearchOptions, Searcher};

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Number of targets (the first ones of `split` in file order).
    pub limit: usize,
    /// Where the targets come from: `Split::Test` for reported numbers, `Split::Validation`
    /// for development (train records never are targets).
    pub split: Split,
    /// Seed of the random method and the bootstrap.
    pub seed: u64,
    /// The k of each knn-best-of-k method.
    pub ks: Vec<usize>,
    /// LLM-call budgets of the search methods (`search-<b>`); fast mode is always run
    /// when a searcher is given.
    pub budgets: Vec<usize>,
    /// Beam widths of the surrogate-ranked generator besides the default 4
    /// (`generator-ranked-<w>`, compared with `generator-ranked`): what more beams buy
    /// with no LLM call.
    pub generator_widths: Vec<usize>,
    /// When set, each budget is also searched by the closed loop in this many rounds
    /// (`loop<r>-<b>`), beside the two-stage search.
    pub rounds: Option<usize>,
    /// Extra answer weights (see [`SearchOptions::answer_weight`]): fast mode and every
    /// search also run with each (`<method>-w<weight>`).
    pub answer_weights: Vec<f32>,
    /// Extra content margins (see [`SearchOptions::content_margin`]): fast mode and every
    /// search also run with each (`<method>-c<margin>`), what natural prompts cost.
    pub content_margins: Vec<f32>,
    /// The environment's generation settings (the protocol's: greedy, 128 new tokens).
    pub params: GenerationParams,
    /// Targets per search batch (their LLM calls share forward passes).
    pub search_chunk: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// The command line, recorded in the report.
    pub command: String,
    /// The LLM configuration, recorded in the report.
    pub llm_config: String,
    /// Answer lengths in tokens at which to study whether cut answers rank the largest
    /// knn-best-of-k's candidates as their full answers do (empty: no study).
    pub prefix_tokens: Vec<usize>,
}

/// The dataset side of a run.
pub struct EvalData<'a> {
    /// All records, in file order.
    pub records: &'a [Record],
    /// Output embeddings of all records (`records.len() × dimension`), the targets e*.
    pub outputs: &'a [f32],
    /// Prompt embeddings of all records, for the surrogate's ranking report.
    pub prompts: Option<&'a [f32]>,
    /// Embedding dimension.
    pub dimension: usize,
    /// Index over the train records' output embeddings; ids are record positions.
    pub train_index: &'a dyn VectorIndex,
    /// The learned search, whose LLM must be the same cached LLM as the run's.
    pub searcher: Option<&'a Searcher>,
    /// The same search without the dataset (the generator and the learned models only),
    /// run as `nodata-fast` and `nodata-search-<b>`: what a user with nothing ingested gets.
    pub bare: Option<&'a Searcher>,
    /// The same searches without content candidates (the target's topics), run with the
    /// prefix `nocontent-` (and `nodata-nocontent-` for [`Self::bare`]'s), each paired
    /// with the same search with them: what the topics add.
    pub nocontent: Option<&'a Searcher>,
    /// [`Self::bare`] without content candidates.
    pub bare_nocontent: Option<&'a Searcher>,
    /// The environment memory (the LLM's own answers to train prompts), when used: it
    /// gives `memory-1`, its answers serve the scoring (they are this environment's), and
    /// the searcher should carry the same one.
    pub recall: Option<&'a Recall>,
    /// Per-token perplexity of a text under the LLM read as plain text (the fluency of
    /// the chosen prompts), when a local LLM can score text.
    pub perplexity: Option<&'a crate::quality::PerplexityFn<'a>>,
    /// The first `n` tokens of an answer, for the answer-length study
    /// ([`EvalConfig::prefix_tokens`]).
    pub answer_prefix: Option<&'a crate::prefix::PrefixFn<'a>>,
}

/// A method's pick for one target.
#[derive(Clone)]
struct Pick {
    /// The record whose prompt it is, for dataset prompts.
    record: Option<usize>,
    /// The prompt.
    prompt: String,
    /// LLM calls spent choosing it.
    calls: usize,
    /// Seconds spent choosing it.
    seconds: f64,
    /// Where a search's chosen candidate came from (`neighbour`, `content`, …).
    source: Option<&'static str>,
    /// Remembered real answers in its candidate pool.
    remembered: usize,
}

/// What a run reports while it works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalEvent<'a> {
    /// A note for the log.
    Note(&'a str),
    /// `done` of `total` targets searched by `method`.
    Searched {
        /// The method.
        method: &'a str,
        /// Targets done.
        done: usize,
        /// Targets in all.
        total: usize,
    },
    /// `done` of `total` missing answers generated.
    Answered {
        /// Answers done.
        done: usize,
        /// Answers to generate in all.
        total: usize,
    },
}

/// Runs the evaluation, reporting what it does through `progress`.
pub fn run(
    data: &EvalData<'_>,
    llm: &CachedLlm,
    embedder: &dyn Embedder,
    config: &EvalConfig,
    progress: &mut dyn FnMut(EvalEvent<'_>),
) -> Result<Report> {
    let d = data.dimension;
    if data.outputs.len() != data.records.len() * d {
        return Err(Error::invalid(
            "--dataset",
            "the output embeddings do not match the records; run `vec2prompt ingest` again",
        ));
    }
    if config.split == Split::Train {
        return Err(Error::invalid(
            "--split",
            "targets come from validation or test records; train records are the candidates",
        ));
    }
    let targets: Vec<usize> = (0..data.records.len())
        .filter(|&i| data.records[i].split == config.split)
        .take(config.limit)
        .collect();
    if targets.is_empty() {
        return Err(Error::invalid(
            "--dataset",
            format!("has no {} records", config.split.as_str()),
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
    let prompt_of = |i: usize| data.records[i].prompt.clone();
    let record_pick = |i: usize, calls: usize, seconds: f64| Pick {
        record: Some(i),
        prompt: prompt_of(i),
        calls,
        seconds,
        source: None,
        remembered: 0,
    };

    // The reference methods' picks; knn-best-of-k is decided after scoring.
    let mut names: Vec<String> = vec!["random".into(), "oracle".into(), "knn-1".into()];
    let mut picks: Vec<Vec<Pick>> = vec![
        random.iter().map(|&r| record_pick(r, 0, 0.0)).collect(),
        targets.iter().map(|&t| record_pick(t, 0, 0.0)).collect(),
        hits.iter()
            .map(|h| record_pick(h[0].id as usize, 0, search_seconds))
            .collect(),
    ];

    // memory-1: the remembered train prompt whose real answer lies nearest the target.
    let memory_one = memory_method(data, llm, &queries)?;
    if let Some(memory_picks) = &memory_one {
        names.push("memory-1".into());
        picks.push(memory_picks.clone());
    }
    // memory-best-of-k's candidates: the kmax remembered records nearest each target.
    let remembered_near = data
        .recall
        .filter(|_| memory_one.is_some())
        .map(|r| nearest_remembered(r, data, &queries, kmax));

    // Learned methods run the search now (its LLM calls go through the cache).
    let learned = learned_methods(data, llm, &targets, &queries, config, progress)?;

    // Every prompt any method needs answered, once.
    let mut needed: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut want = |p: String| {
        if seen.insert(p.clone()) {
            needed.push(p);
        }
    };
    for method in picks.iter().chain(learned.iter().map(|(_, p)| p)) {
        for p in method {
            want(p.prompt.clone());
        }
    }
    for h in &hits {
        for hit in h {
            want(prompt_of(hit.id as usize));
        }
    }
    for near in remembered_near.iter().flatten() {
        for &i in near {
            want(prompt_of(i));
        }
    }
    let missing = needed.iter().filter(|p| llm.get(p).is_none()).count();
    progress(EvalEvent::Note(&format!(
        "{} targets, {} distinct prompts: {} cached, {} to generate",
        targets.len(),
        needed.len(),
        needed.len() - missing,
        missing
    )));
    llm.fill(&needed, &mut |done, total| {
        progress(EvalEvent::Answered { done, total })
    })?;
    let generated_total = llm.stats().generated;

    // Embed every needed answer once.
    let answer_of = |p: &str| llm.get(p).map(|a| a.answer).unwrap_or_default();
    let texts: Vec<(String, String)> = needed
        .iter()
        .map(|p| (p.clone(), answer_of(p)))
        .filter(|(_, a)| !is_empty_answer(a))
        .collect();
    let t = Instant::now();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        let batch: Vec<String> = chunk.iter().map(|(_, a)| a.clone()).collect();
        vectors.extend(embedder.embed(&batch)?);
    }
    let embed_share = t.elapsed().as_secs_f64() / texts.len().max(1) as f64;
    let answered: HashMap<String, Vec<f32>> =
        texts.into_iter().map(|(p, _)| p).zip(vectors).collect();
    let cost = |p: &str| llm.get(p).map_or(0.0, |a| a.seconds) + embed_share;
    // Empty answers were never embedded: they are missing here and score 0.
    let score = |p: &str, t: usize| -> f64 {
        let v = answered.get(p).map_or(&[][..], Vec::as_slice);
        answer_score(&data.outputs[t * d..(t + 1) * d], v) as f64
    };

    let knn_first = picks.len();
    for &k in &config.ks {
        names.push(format!("knn-best-of-{k}"));
        picks.push(
            targets
                .iter()
                .enumerate()
                .map(|(n, &t)| {
                    let cands: Vec<usize> = hits[n][..k].iter().map(|h| h.id as usize).collect();
                    let best = cands
                        .iter()
                        .copied()
                        .max_by(|&a, &b| {
                            score(&prompt_of(a), t).total_cmp(&score(&prompt_of(b), t))
                        })
                        .unwrap_or(cands[0]);
                    let seconds =
                        search_seconds + cands.iter().map(|&i| cost(&prompt_of(i))).sum::<f64>();
                    record_pick(best, k, seconds)
                })
                .collect(),
        );
    }
    // The equal-information baselines of a search with the memory.
    if let (Some(memory_one), Some(near)) = (&memory_one, &remembered_near) {
        let best_of = |cands: &[usize], t: usize| {
            cands
                .iter()
                .copied()
                .max_by(|&a, &b| score(&prompt_of(a), t).total_cmp(&score(&prompt_of(b), t)))
        };
        for &k in &config.ks {
            names.push(format!("memory-best-of-{k}"));
            picks.push(
                targets
                    .iter()
                    .enumerate()
                    .map(|(n, &t)| {
                        let cands = &near[n][..k.min(near[n].len())];
                        // No remembered record of the dataset: memory-1's pick (never the
                        // target's own prompt).
                        match best_of(cands, t) {
                            Some(best) => Pick {
                                remembered: cands.len(),
                                ..record_pick(best, 0, 0.0)
                            },
                            None => memory_one[n].clone(),
                        }
                    })
                    .collect(),
            );
        }
        for (j, &k) in config.ks.iter().enumerate() {
            let knn = &picks[knn_first + j];
            let both: Vec<Pick> = targets
                .iter()
                .enumerate()
                .map(|(n, &t)| {
                    let (m, b) = (&memory_one[n], &knn[n]);
                    let best = if score(&m.prompt, t) > score(&b.prompt, t) {
                        m
                    } else {
                        b
                    };
                    Pick {
                        calls: k,
                        seconds: m.seconds + b.seconds,
                        remembered: 1,
                        ..best.clone()
                    }
                })
                .collect();
            names.push(format!("memory+knn-best-of-{k}"));
            picks.push(both);
        }
    }
    for (name, p) in learned {
        names.push(name);
        picks.push(p);
    }

    let scores: Vec<Vec<f64>> = picks
        .iter()
        .map(|m| {
            m.iter()
                .zip(&targets)
                .map(|(p, &t)| score(&p.prompt, t))
                .collect()
        })
        .collect();
    let (random_mean, oracle_mean) = (stats::mean(&scores[0]), stats::mean(&scores[1]));
    let mut methods: Vec<MethodReport> = names
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let c = &picks[m];
            let n = c.len() as f64;
            let tokens: f64 = c
                .iter()
                .map(|x| {
                    llm.count_tokens(&x.prompt)
                        .unwrap_or_else(|| x.prompt.split_whitespace().count())
                        as f64
                })
                .sum::<f64>()
                / n;
            let copies = c
                .iter()
                .zip(&targets)
                .filter(|(x, t)| stats::copies(&x.prompt, &data.records[**t].output))
                .count() as f64;
            MethodReport {
                method: name.clone(),
                mean: stats::mean(&scores[m]),
                median: stats::median(&scores[m]),
                ci95: stats::bootstrap_ci95(&scores[m], config.resamples, config.seed),
                normalized: stats::normalized(stats::mean(&scores[m]), random_mean, oracle_mean),
                win_rate_vs_oracle: stats::win_rate(&scores[m], &scores[1]),
                llm_calls_per_target: c.iter().map(|x| x.calls as f64).sum::<f64>() / n,
                seconds_per_target: c.iter().map(|x| x.seconds).sum::<f64>() / n,
                seconds_p50: stats::median(&c.iter().map(|x| x.seconds).collect::<Vec<_>>()),
                prompt_tokens: tokens,
                copy_rate: copies / n,
                remembered_per_target: c.iter().map(|x| x.remembered as f64).sum::<f64>() / n,
                quality: None,
                sources: c.iter().filter_map(|x| x.source).fold(
                    std::collections::BTreeMap::new(),
                    |mut counts, s| {
                        *counts.entry(s.to_string()).or_insert(0) += 1;
                        counts
                    },
                ),
            }
        })
        .collect();
    attach_quality(&mut methods, &picks, &queries, data, embedder)?;
    let per_target = targets
        .iter()
        .enumerate()
        .map(|(n, &t)| TargetRow {
            id: data.records[t].id.clone(),
            index: data.records[t].index,
            choices: names
                .iter()
                .enumerate()
                .map(|(m, name)| {
                    let p = &picks[m][n];
                    Choice {
                        method: name.clone(),
                        prompt_record: p.record.map(|r| data.records[r].index),
                        prompt: if p.record.is_none() {
                            Some(p.prompt.clone())
                        } else {
                            None
                        },
                        score: scores[m][n],
                    }
                })
                .collect(),
        })
        .collect();
    let ranking = ranking_report(data, &targets, &hits, kmax, &score);
    let answer_prefix = match data.answer_prefix {
        Some(cut) if !config.prefix_tokens.is_empty() && kmax > 1 => {
            let groups: Vec<crate::prefix::Candidates<'_>> = targets
                .iter()
                .enumerate()
                .map(|(n, &t)| crate::prefix::Candidates {
                    target: &data.outputs[t * d..(t + 1) * d],
                    answers: hits[n][..kmax.min(hits[n].len())]
                        .iter()
                        .map(|h| {
                            let p = &data.records[h.id as usize].prompt;
                            (answer_of(p), score(p, t))
                        })
                        .collect(),
                })
                .collect();
            crate::prefix::prefix_rankings(&groups, &config.prefix_tokens, cut, embedder)?
        }
        _ => Vec::new(),
    };
    Ok(Report {
        command: config.command.clone(),
        date: String::new(),
        llm: config.llm_config.clone(),
        embedder: embedder.info().name.clone(),
        targets: targets.len(),
        split: config.split.as_str().to_string(),
        seed: config.seed,
        answers_generated: generated_total,
        answers_cached: needed.len().saturating_sub(missing),
        memory_answers: data.recall.map_or(0, Recall::len),
        methods,
        per_target,
        ranking,
        answer_prefix,
        environment: String::new(),
        provenance: None,
        perturbed: Vec::new(),
    })
}

/// Measures the chosen prompts' quality for every method, beside the oracle's (the
/// human prompts of the same targets).
fn attach_quality(
    methods: &mut [MethodReport],
    picks: &[Vec<Pick>],
    queries: &[Vec<f32>],
    data: &EvalData<'_>,
    embedder: &dyn Embedder,
) -> Result<()> {
    let Some(human_picks) = picks.get(1) else {
        return Ok(());
    };
    let mut distinct: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for m in picks {
        for p in m {
            if seen.insert(p.prompt.as_str()) {
                distinct.push(p.prompt.clone());
            }
        }
    }
    let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
    for chunk in distinct.chunks(256) {
        for (p, v) in chunk.iter().zip(embedder.embed(chunk)?) {
            vectors.insert(p.clone(), v);
        }
    }
    let ppl_cache: std::sync::Mutex<HashMap<String, Option<f64>>> = Default::default();
    let ppl = |text: &str| -> Option<f64> {
        let f = data.perplexity?;
        if let Ok(cache) = ppl_cache.lock()
            && let Some(v) = cache.get(text)
        {
            return *v;
        }
        let v = f(text);
        if let Ok(mut cache) = ppl_cache.lock() {
            cache.insert(text.to_string(), v);
        }
        v
    };
    let vector_of = |p: &str| vectors.get(p).cloned().unwrap_or_default();
    let human: Vec<String> = human_picks.iter().map(|p| p.prompt.clone()).collect();
    let human_vectors: Vec<Vec<f32>> = human.iter().map(|p| vector_of(p)).collect();
    let nearest = crate::quality::nearest_targets(queries);
    let inputs = crate::quality::QualityInputs {
        human: &human,
        human_vectors: &human_vectors,
        nearest_target: &nearest,
    };
    for (report, m) in methods.iter_mut().zip(picks) {
        let prompts: Vec<String> = m.iter().map(|p| p.prompt.clone()).collect();
        let pv: Vec<Vec<f32>> = prompts.iter().map(|p| vector_of(p)).collect();
        let scorer: &crate::quality::PerplexityFn<'_> = &ppl;
        report.quality = Some(crate::quality::measure(
            &prompts,
            &pv,
            &inputs,
            data.perplexity.map(|_| scorer),
        ));
    }
    Ok(())
}

/// Each record's position in `records`, by id.
fn record_positions(records: &[Record]) -> HashMap<&str, usize> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect()
}

/// `memory-1`'s picks, when a memory is used: for each target the remembered train prompt
/// whose real answer lies nearest it. The remembered answers are this environment's, so
/// they are also preloaded to score every method's remembered prompts.
fn memory_method(
    data: &EvalData<'_>,
    llm: &CachedLlm,
    queries: &[Vec<f32>],
) -> Result<Option<Vec<Pick>>> {
    let Some(recall) = data.recall.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let record_of = record_positions(data.records);
    llm.preload(recall.entries().iter().map(|r| CachedAnswer {
        prompt: r.prompt.clone(),
        answer: r.answer.clone(),
        completion_tokens: r.completion_tokens,
        seconds: r.seconds,
        // The memory's own answers to train prompts (never written to this cache).
        split: Some("train".to_string()),
    }));
    let t0 = Instant::now();
    let nearest = recall.nearest(queries, 1)?;
    let seconds = t0.elapsed().as_secs_f64() / queries.len().max(1) as f64;
    nearest
        .iter()
        .map(|hits| {
            let (_, r) = hits
                .first()
                .ok_or_else(|| Error::invalid("memory", "found no remembered answer"))?;
            Ok(Pick {
                record: record_of.get(r.record_id.as_str()).copied(),
                prompt: r.prompt.clone(),
                calls: 0,
                seconds,
                source: None,
                remembered: 1,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// For each target, the `k` remembered train records whose reference outputs lie nearest
/// it (positions in `data.records`, nearest first): the candidates of memory-best-of-k.
fn nearest_remembered(
    recall: &Recall,
    data: &EvalData<'_>,
    queries: &[Vec<f32>],
    k: usize,
) -> Vec<Vec<usize>> {
    let d = data.dimension;
    let record_of = record_positions(data.records);
    let remembered: Vec<usize> = recall
        .entries()
        .iter()
        .filter_map(|r| record_of.get(r.record_id.as_str()).copied())
        .collect();
    queries
        .iter()
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = remembered
                .iter()
                .map(|&i| (cosine(q, &data.outputs[i * d..(i + 1) * d]), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.into_iter().take(k).map(|(_, i)| i).collect()
        })
        .collect()
}

/// Runs inverter-greedy, the generator alone, fast mode and every search budget on the targets.
fn learned_methods(
    data: &EvalData<'_>,
    llm: &CachedLlm,
    targets: &[usize],
    queries: &[Vec<f32>],
    config: &EvalConfig,
    progress: &mut dyn FnMut(EvalEvent<'_>),
) -> Result<Vec<(String, Vec<Pick>)>> {
    let Some(searcher) = data.searcher else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let record_of = record_positions(data.records);
    if let Some(latent) = searcher.latent().filter(|l| l.inverter.is_some()) {
        let mut picks = Vec::new();
        for q in queries {
            let t = Instant::now();
            let prompt = latent
                .invert(q, Strategy::Greedy)?
                .into_iter()
                .next()
                .unwrap_or_default();
            picks.push(Pick {
                record: None,
                prompt,
                calls: 0,
                seconds: t.elapsed().as_secs_f64(),
                source: None,
                remembered: 0,
            });
        }
        out.push(("inverter-greedy".to_string(), picks));
    }
    if let Some(g) = searcher.generator() {
        generator_methods(g, searcher, queries, &config.generator_widths, &mut out)?;
    }
    let mut base: Vec<(usize, Option<usize>)> = vec![(0, None)];
    for &b in config.budgets.iter().filter(|&&b| b > 0) {
        base.push((b, None));
        if let Some(r) = config.rounds {
            base.push((b, Some(r)));
        }
    }
    let defaults = SearchOptions::default();
    let (default_weight, default_margin) = (defaults.answer_weight, defaults.content_margin);
    let mut runs: Vec<(usize, Option<usize>, f32, f32)> = base
        .iter()
        .map(|&(b, r)| (b, r, default_weight, default_margin))
        .collect();
    for &w in &config.answer_weights {
        if (w - default_weight).abs() > 1e-6 {
            runs.extend(base.iter().map(|&(b, r)| (b, r, w, default_margin)));
        }
    }
    for &m in &config.content_margins {
        if (m - default_margin).abs() > 1e-6 {
            runs.extend(base.iter().map(|&(b, r)| (b, r, default_weight, m)));
        }
    }
    let mut searchers = vec![(searcher, "")];
    if let Some(bare) = data.bare {
        searchers.push((bare, "nodata-"));
    }
    if let Some(s) = data.nocontent {
        searchers.push((s, "nocontent-"));
    }
    if let Some(s) = data.bare_nocontent {
        searchers.push((s, "nodata-nocontent-"));
    }
    for (searcher, prefix) in searchers {
        for &(budget, rounds, answer_weight, content_margin) in &runs {
            let options = SearchOptions {
                budget: SearchBudget::calls(budget),
                rounds,
                answer_weight,
                content_margin,
                ..SearchOptions::default()
            };
            let picks = search_method(
                searcher, llm, &record_of, targets, queries, config, &options, prefix, progress,
            )?;
            out.push(picks);
        }
    }
    Ok(out)
}

/// The generator alone, no LLM call: its greedy prompt (`generator-greedy`), and its four
/// beams ranked by the surrogate when the learned models are loaded (`generator-ranked`;
/// `generator-ranked-<w>` for each other width in `widths`).
fn generator_methods(
    g: &vec2prompt_latent::generator::Generator,
    searcher: &Searcher,
    queries: &[Vec<f32>],
    widths: &[usize],
    out: &mut Vec<(String, Vec<Pick>)>,
) -> Result<()> {
    use vec2prompt_latent::generator_decode::Strategy as GenStrategy;
    let mut greedy = Vec::new();
    let all_widths = ranked_widths(widths);
    let mut ranked: Vec<Vec<Pick>> = vec![Vec::new(); all_widths.len()];
    for q in queries {
        let t = Instant::now();
        let prompt = g
            .generate(std::slice::from_ref(q), 1, GenStrategy::Greedy)?
            .pop()
            .and_then(|mut ps| ps.pop())
            .unwrap_or_default();
        greedy.push(Pick {
            record: None,
            prompt,
            calls: 0,
            seconds: t.elapsed().as_secs_f64(),
            source: None,
            remembered: 0,
        });
        let Some(latent) = searcher.latent() else {
            continue;
        };
        let embedder = searcher.environment().embedder.as_ref();
        for (&width, picks) in all_widths.iter().zip(&mut ranked) {
            let t = Instant::now();
            let best = g
                .generate_ranked(
                    std::slice::from_ref(q),
                    width,
                    GenStrategy::Beam { width },
                    embedder,
                    latent,
                )?
                .pop()
                .and_then(|ps| ps.into_iter().next())
                .map(|(p, _)| p)
                .unwrap_or_default();
            picks.push(Pick {
                record: None,
                prompt: best,
                calls: 0,
                seconds: t.elapsed().as_secs_f64(),
                source: None,
                remembered: 0,
            });
        }
    }
    out.push(("generator-greedy".to_string(), greedy));
    for (width, picks) in all_widths.into_iter().zip(ranked) {
        if picks.is_empty() {
            continue;
        }
        let name = if width == DEFAULT_GENERATOR_WIDTH {
            "generator-ranked".to_string()
        } else {
            format!("generator-ranked-{width}")
        };
        out.push((name, picks));
    }
    Ok(())
}

/// Beams of `generator-ranked` (the search's own count).
const DEFAULT_GENERATOR_WIDTH: usize = 4;

/// The beam widths the generator is ranked at: the default first, then each other
/// positive width once (a repeated width would name two methods alike).
fn ranked_widths(extra: &[usize]) -> Vec<usize> {
    let mut all = vec![DEFAULT_GENERATOR_WIDTH];
    for &w in extra {
        if w > 0 && !all.contains(&w) {
            all.push(w);
        }
    }
    all
}

/// One search method (fast mode when `budget` is 0) on every target, named with `prefix`.
#[allow(clippy::too_many_arguments)]
fn search_method(
    searcher: &Searcher,
    llm: &CachedLlm,
    record_of: &HashMap<&str, usize>,
    targets: &[usize],
    queries: &[Vec<f32>],
    config: &EvalConfig,
    options: &SearchOptions,
    prefix: &str,
    progress: &mut dyn FnMut(EvalEvent<'_>),
) -> Result<(String, Vec<Pick>)> {
    let dim = queries.first().map_or(0, Vec::len);
    let budget = options.budget.max_llm_calls;
    let name = format!("{prefix}{}", options.method());
    let mut picks = Vec::new();
    // Fast mode is timed one target at a time (its latency is the claim); search
    // batches targets so their LLM calls share forward passes.
    let chunk = if budget == 0 {
        1
    } else {
        config.search_chunk.max(1)
    };
    for (c, qs) in queries.chunks(chunk).enumerate() {
        let tv: Vec<TargetVector> = qs
            .iter()
            .map(|q| TargetVector::new("target", q.clone(), dim))
            .collect::<Result<_>>()?;
        let before = llm.stats();
        let t = Instant::now();
        let results = searcher.search_batch(&tv, options);
        let wall = t.elapsed().as_secs_f64();
        let after = llm.stats();
        // Charge LLM time at its first-generation cost, however warm the cache was.
        let seconds = (wall - (after.fresh_seconds - before.fresh_seconds)
            + (after.charged_seconds - before.charged_seconds))
            .max(0.0)
            / qs.len() as f64;
        for r in results {
            let r = r?;
            let record = r
                .best
                .record_id
                .as_deref()
                .and_then(|id| record_of.get(id).copied());
            picks.push(Pick {
                record,
                prompt: r.best.prompt,
                calls: r.llm_calls,
                seconds,
                source: Some(r.best.source.name()),
                remembered: r.remembered,
            });
        }
        progress(EvalEvent::Searched {
            method: &name,
            done: ((c + 1) * chunk).min(targets.len()),
            total: targets.len(),
        });
    }
    Ok((name, picks))
}

/// How well the surrogate orders the knn candidates compared with their real scores.
fn ranking_report(
    data: &EvalData<'_>,
    targets: &[usize],
    hits: &[Vec<vec2prompt_index::Hit>],
    k: usize,
    score: &dyn Fn(&str, usize) -> f64,
) -> Option<RankingReport> {
    let latent = data.searcher?.latent()?;
    let prompts = data.prompts?;
    let d = data.dimension;
    let (mut surrogate, mut knn, mut counted) = (0.0, 0.0, 0usize);
    for (n, &t) in targets.iter().enumerate() {
        let cands: Vec<usize> = hits[n][..k].iter().map(|h| h.id as usize).collect();
        let real: Vec<f64> = cands
            .iter()
            .map(|&i| score(&data.records[i].prompt, t))
            .collect();
        let inputs: Vec<Vec<f32>> = cands
            .iter()
            .map(|&i| prompts[i * d..(i + 1) * d].to_vec())
            .collect();
        let predicted = latent.predict(&inputs).ok()?;
        let target = &data.outputs[t * d..(t + 1) * d];
        let pred: Vec<f64> = predicted.iter().map(|p| cosine(target, p) as f64).collect();
        let near: Vec<f64> = hits[n][..k].iter().map(|h| h.score as f64).collect();
        if let (Some(a), Some(b)) = (stats::spearman(&pred, &real), stats::spearman(&near, &real)) {
            surrogate += a;
            knn += b;
            counted += 1;
        }
    }
    (counted > 0).then(|| RankingReport {
        targets: counted,
        candidates: k,
        spearman_surrogate: surrogate / counted as f64,
        spearman_knn_score: knn / counted as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranked_widths_start_with_the_default_and_never_repeat() {
        assert_eq!(ranked_widths(&[]), vec![4]);
        assert_eq!(ranked_widths(&[16, 8, 16, 4, 0]), vec![4, 16, 8]);
    }
}
