//! `vec2prompt interpolate` (prompts for points between two targets) and
//! `vec2prompt eval-interpolation` (the report on whether answers follow such a path).

use crate::common::HeldOut;
use crate::common::{load_dataset, measure};
use crate::config::{Config, Loaded};
use crate::target_arg::target;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use vec2prompt_core::progress::Stages;
use vec2prompt_core::{GenerationParams, TargetVector, answer_score, cosine};
use vec2prompt_eval::{AnswerCache, CachedLlm, InterpolationEvalConfig};
use vec2prompt_search::interpolation::{self, PathKind};
use vec2prompt_search::{
    Candidate, Environment, Neighbours, SearchBudget, SearchOptions, Searcher,
};

/// Arguments of `interpolate`.
#[derive(Debug, Args)]
pub struct InterpolateArgs {
    /// Start of the path, as a text (repeat for a centroid of several).
    #[clap(long, conflicts_with = "from_vector_file")]
    pub from_text: Vec<String>,
    /// Start of the path, as a vector file (several vectors: their centroid).
    #[clap(long)]
    pub from_vector_file: Option<PathBuf>,
    /// End of the path, as a text (repeat for a centroid of several).
    #[clap(long, conflicts_with = "to_vector_file")]
    pub to_text: Vec<String>,
    /// End of the path, as a vector file (several vectors: their centroid).
    #[clap(long)]
    pub to_vector_file: Option<PathBuf>,
    /// Points on the path, both ends included (2–64).
    #[clap(long, default_value_t = 7)]
    pub steps: usize,
    /// `spherical` (equal angle steps on the unit sphere) or `linear` (the chord).
    #[clap(long, default_value = "spherical")]
    pub path: PathKind,
    /// LLM calls the search may spend per point (0 = fast mode).
    #[clap(long, default_value_t = 0)]
    pub budget: usize,
    /// Do not answer the chosen prompts (then similarities are predicted only).
    #[clap(long)]
    pub no_measure: bool,
    /// Ingested dataset whose train prompts join the candidates [default:
    /// $VEC2PROMPT_HOME/datasets/alpaca when it exists].
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[clap(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct PointOut {
    t: f64,
    prompt: String,
    source: String,
    predicted_similarity: f32,
    similarity: Option<f32>,
    similarity_to_start: Option<f32>,
    similarity_to_end: Option<f32>,
    answer: Option<String>,
    llm_calls: usize,
}

/// Runs `interpolate`.
pub fn interpolate(args: &InterpolateArgs, config: &Config) -> Result<()> {
    let Loaded {
        searcher, embedder, ..
    } = config.searcher(&config.backends()?, args.dataset.as_deref())?;
    let e = embedder.as_ref();
    let from = target(
        &args.from_text,
        args.from_vector_file.as_deref(),
        e,
        ("--from-text", "--from-vector-file"),
    )?;
    let to = target(
        &args.to_text,
        args.to_vector_file.as_deref(),
        e,
        ("--to-text", "--to-vector-file"),
    )?;
    let points = interpolation::interpolate(&from.values, &to.values, args.steps, args.path)?;
    let dim = searcher.dimension();
    let targets = points
        .iter()
        .map(|p| TargetVector::new("point", p.clone(), dim))
        .collect::<vec2prompt_core::Result<Vec<_>>>()?;
    let options = SearchOptions {
        budget: SearchBudget::calls(args.budget),
        keep_vectors: true,
        ..SearchOptions::default()
    };
    let mut best: Vec<Candidate> = Vec::with_capacity(points.len());
    let mut calls = Vec::with_capacity(points.len());
    for r in searcher.search_batch(&targets, &options) {
        let r = r?;
        calls.push(r.llm_calls);
        best.push(r.best);
    }
    if !args.no_measure {
        measure(&searcher, &points, &mut best)?;
    }
    let a = interpolation::normalized("from", &from.values)?;
    let b = interpolation::normalized("to", &to.values)?;
    let out: Vec<PointOut> = interpolation::positions(args.steps)
        .into_iter()
        .zip(best)
        .zip(calls)
        .map(|((t, c), llm_calls)| {
            let av = c.answer_vector.as_deref();
            let sim = |x: &[f32]| av.map(|v| answer_score(x, v));
            PointOut {
                t,
                source: format!("{:?}", c.source).to_lowercase(),
                predicted_similarity: c.predicted,
                similarity: c.similarity,
                similarity_to_start: sim(&a),
                similarity_to_end: sim(&b),
                answer: c.answer,
                prompt: c.prompt,
                llm_calls,
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:?} path, {} points, ends similarity {:.3}",
        args.path,
        args.steps,
        cosine(&a, &b)
    );
    println!("   t  to point  to start  to end  prompt");
    let f = |x: Option<f32>| x.map_or("     —".to_string(), |v| format!("{v:6.3}"));
    for p in &out {
        println!(
            "{:4.2}    {}    {}  {}  {}",
            p.t,
            f(p.similarity),
            f(p.similarity_to_start),
            f(p.similarity_to_end),
            p.prompt.replace('\n', " ⏎ ")
        );
    }
    if args.no_measure {
        println!("(not measured: --no-measure)");
    }
    Ok(())
}

/// Arguments of `eval-interpolation`.
#[derive(Debug, Args)]
pub struct EvalInterpolationArgs {
    /// Dataset directory made by `ingest`: its train prompts are candidates and its
    /// embedded outputs the targets.
    #[clap(long, env = "VEC2PROMPT_DATASET", required_unless_present = "input")]
    pub dataset: Option<PathBuf>,
    /// Instead of a dataset: the raw file (Alpaca JSON, JSONL, CSV); only the chosen
    /// targets are embedded and the candidates come from the learned models alone.
    #[clap(long, conflicts_with = "dataset")]
    pub input: Option<PathBuf>,
    /// Split of the targets.
    #[clap(long, value_enum, default_value = "validation")]
    pub split: HeldOut,
    /// Pairs of targets.
    #[clap(long, default_value_t = 30)]
    pub pairs: usize,
    /// Points per path, both ends included.
    #[clap(long, default_value_t = 7)]
    pub steps: usize,
    /// `spherical` or `linear`.
    #[clap(long, default_value = "spherical")]
    pub path: PathKind,
    /// LLM calls the search may spend per point (0 = fast mode).
    #[clap(long, default_value_t = 0)]
    pub budget: usize,
    /// Seed of the pairing and the bootstrap.
    #[clap(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the dataset's nearest neighbours, not the learned models.
    #[clap(long)]
    pub no_latent: bool,
    /// Write `<out>.json`, `<out>.md` and `<out>.svg` (e.g. reports/interpolation).
    #[clap(long)]
    pub out: Option<PathBuf>,
}

/// Runs `eval-interpolation`.
pub fn eval_interpolation(args: &EvalInterpolationArgs, config: &Config) -> Result<()> {
    if args.pairs == 0 {
        bail!("--pairs must be at least 1");
    }
    let embedder = config.load_embedder()?;
    let dim = embedder.info().dimension;
    let split = args.split.split();
    // The dataset's records and output embeddings, or the raw file's records alone.
    let (records, outputs) = match (&args.dataset, &args.input) {
        (Some(d), _) => {
            let (r, o) = load_dataset(d, "outputs", embedder.as_ref())?;
            (r, Some(o))
        }
        (None, Some(input)) => {
            let (r, _) = vec2prompt_dataset::ingest(input, &Default::default())?;
            (r, None)
        }
        (None, None) => bail!("give --dataset DIR or --input FILE"),
    };
    let held: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].split == split)
        .collect();
    let picked: Vec<usize> = vec2prompt_eval::pick_pairs(held.len(), args.pairs, args.seed)?
        .into_iter()
        .map(|k| held[k])
        .collect();
    let vectors: Vec<Vec<f32>> = match &outputs {
        Some(o) => picked
            .iter()
            .map(|&i| o[i * dim..(i + 1) * dim].to_vec())
            .collect(),
        None => {
            let texts: Vec<String> = picked.iter().map(|&i| records[i].output.clone()).collect();
            embedder.embed(&texts)?
        }
    };
    let targets: Vec<(String, Vec<f32>)> = picked
        .iter()
        .map(|&i| records[i].id.clone())
        .zip(vectors)
        .collect();
    let llm = config.load_llm()?;
    let params = GenerationParams::default();
    // The same key as eval's answer cache, so both share answers to the same prompts.
    let llm_config = config.llm_key(params.max_new_tokens);
    let cache_dir = match &args.dataset {
        Some(d) => d.join("cache"),
        None => config.home.root.join("cache"),
    };
    let cache = AnswerCache::open(&cache_dir, &llm_config)?;
    let llm = Arc::new(CachedLlm::new(llm, cache, params, config.llm_batch() * 2));
    let latent = config.load_latent(args.no_latent)?;
    let neighbours = match (&args.dataset, &outputs) {
        (Some(d), Some(o)) => {
            // The prompts' embeddings save embedding candidates during the search; without
            // them (prompts not embedded yet) the search embeds the candidates it ranks.
            let store = vec2prompt_store::EmbeddingStore::open(d, embedder.info())?;
            let prompts = match (&latent, store.is_complete("prompts")?) {
                (Some(_), true) => Some(crate::common::load_column(
                    d,
                    "prompts",
                    embedder.as_ref(),
                    records.len(),
                )?),
                _ => None,
            };
            Some(Arc::new(Neighbours::from_parts(
                records.clone(),
                o,
                prompts.as_deref(),
                dim,
            )?))
        }
        _ => None,
    };
    let candidates = match (&neighbours, &latent) {
        (Some(_), Some(l)) => format!(
            "the dataset's train prompts and the learned models in {}",
            l.dir.display()
        ),
        (Some(_), None) => "the dataset's train prompts".to_string(),
        (None, Some(l)) => format!(
            "the learned models in {} alone (no dataset)",
            l.dir.display()
        ),
        (None, None) => bail!("no candidates: give --dataset or use learned models"),
    };
    let env = Environment::new(llm, embedder.clone());
    let searcher = Searcher::new(env, neighbours, latent)?;
    let command = crate::common::command_line();
    let interpolation_config = InterpolationEvalConfig {
        pairs: args.pairs,
        steps: args.steps,
        path: args.path,
        budget: args.budget,
        seed: args.seed,
        resamples: 1000,
        chunk: 16,
        command,
        split: format!("{:?}", args.split).to_lowercase(),
        candidates,
    };
    let mut stages = Stages::default();
    let mut report = vec2prompt_eval::run_interpolation(
        &targets,
        &searcher,
        &interpolation_config,
        |stage, done, total| stages.update(stage, done, total),
    )?;
    stages.finish();
    report.provenance = Some(crate::provenance::collect(&config.model_paths()));
    let md = report.to_markdown();
    println!("{md}");
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let json = out.with_extension("json");
        vec2prompt_core::write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes())?;
        vec2prompt_core::write_atomic(&out.with_extension("md"), md.as_bytes())?;
        vec2prompt_core::write_atomic(&out.with_extension("svg"), report.to_svg().as_bytes())?;
        eprintln!("wrote {}.{{json,md,svg}}", out.display());
    }
    Ok(())
}
