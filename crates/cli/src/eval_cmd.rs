//! `vec2prompt eval`: the leaderboard of the evaluation protocol.

use crate::common::{IndexKind, SplitArg, build_index};
use crate::common::{command_line, utc_now};
use crate::common::{load_column, load_dataset};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vec2prompt_core::GenerationParams;
use vec2prompt_core::progress::Stages;
use vec2prompt_eval::{AnswerCache, CachedLlm, EvalConfig, EvalData, EvalEvent, Perturbed};
use vec2prompt_search::{Environment, Neighbours, Recall, Searcher};

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Dataset directory made by `ingest` (outputs embedded).
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// Number of targets (the first records of --split in file order).
    #[clap(long, default_value_t = 100)]
    pub limit: usize,
    /// Where the targets come from: `test` for reported numbers, `validation` for
    /// development.
    #[clap(long, value_enum, default_value = "test")]
    pub split: crate::common::HeldOut,
    /// Seed of the random method and the bootstrap.
    #[clap(long, default_value_t = 0)]
    pub seed: u64,
    /// The k values of knn-best-of-k, comma-separated.
    #[clap(long, value_delimiter = ',', default_value = "4,16")]
    pub k: Vec<usize>,
    /// Most new tokens per answer (the protocol's: 128).
    #[clap(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// LLM-call budgets of the learned search methods (`search-<b>`), comma-separated;
    /// inverter-greedy and fast mode always run when learned models are found (`--budgets`
    /// with no value runs only those two, e.g. for a wide ranking report).
    #[clap(long, value_delimiter = ',', num_args = 0.., default_value = "4,16")]
    pub budgets: Vec<usize>,
    /// Also rank this many generator beams by the surrogate, comma-separated
    /// (`generator-ranked-<w>`, paired with the default four beams of `generator-ranked`):
    /// what a wider beam buys with no LLM call.
    #[clap(long, value_delimiter = ',', num_args = 1.., value_parser = clap::value_parser!(u64).range(1..=32))]
    pub generator_widths: Vec<u64>,
    /// Also study shorter answers: for each of these lengths in tokens, how the largest
    /// knn-best-of-k's candidates rank by their answers cut to that length against their
    /// full answers (Spearman, same best candidate, score lost), from the cached answers
    /// alone; comma-separated, e.g. 16,32,64.
    #[clap(long, value_delimiter = ',', num_args = 1.., value_parser = clap::value_parser!(u64).range(1..))]
    pub prefix_tokens: Vec<u64>,
    /// Also run the closed-loop search in this many rounds at each budget
    /// (`loop<r>-<b>`, compared with `search-<b>` on the same targets).
    #[clap(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,
    /// Also run fast mode and every search with these answer weights, comma-separated
    /// (`<method>-w<weight>`, compared with the same method at the default weight): how
    /// much one real answer is trusted against the surrogate's calibrated prediction when
    /// the measured candidates are compared (1 = the answer alone).
    #[clap(long, value_delimiter = ',', num_args = 1..)]
    pub answer_weights: Vec<f32>,
    /// Also run fast mode and every search with these content margins, comma-separated
    /// (`<method>-c<margin>`, compared with the same method at the default margin): how
    /// much a template around the target's topic words must beat every other candidate by
    /// to be answered or chosen (2 = only when nothing else is proposed).
    #[clap(long, value_delimiter = ',', num_args = 1..)]
    pub content_margins: Vec<f32>,
    /// Also run every search without content candidates (`nocontent-…`, and
    /// `nodata-nocontent-…` without the dataset), each paired with the same search with
    /// them: what naming the target's topics adds.
    #[clap(long)]
    pub content_ablation: bool,
    /// Skip the learned methods even when a model is found.
    #[clap(long)]
    pub baselines_only: bool,
    /// The environment memory (`vec2prompt remember`) the learned search and `memory-1`
    /// use: `all` (when one was built for this LLM and these settings), `none`, or a
    /// number N for its first N answers (a smaller memory, for quality against memory
    /// size).
    #[clap(long, default_value = "all", value_parser = parse_memory)]
    pub memory: MemoryUse,
    /// Also score every method's choices in these perturbed environments,
    /// comma-separated: `sampled` (answers sampled at --temperature, the mean over
    /// --samples seeds) and `f32` (the local LLM's exact f32 weights). The methods do not
    /// choose again; every extra answer is cached under its own configuration.
    #[clap(long, value_enum, value_delimiter = ',', num_args = 1..)]
    pub perturbed: Vec<Perturbation>,
    /// Seeded samples per prompt in the `sampled` environment.
    #[clap(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub samples: u64,
    /// Sampling temperature of the `sampled` environment.
    #[clap(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Write `<out>.json` and `<out>.md` (e.g. reports/leaderboard).
    #[clap(long)]
    pub out: Option<PathBuf>,
}

/// A perturbed environment the choices are scored in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Perturbation {
    /// Answers sampled at a temperature, the mean over seeded samples.
    Sampled,
    /// The local LLM's exact f32 weights (greedy).
    F32,
}

/// How much of the environment memory an evaluation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryUse {
    /// No memory.
    None,
    /// All of it, when built.
    All,
    /// Its first N answers.
    First(usize),
}

fn parse_memory(s: &str) -> std::result::Result<MemoryUse, String> {
    match s {
        "none" => Ok(MemoryUse::None),
        "all" => Ok(MemoryUse::All),
        n => match n.parse::<usize>() {
            Ok(0) => Ok(MemoryUse::None),
            Ok(n) => Ok(MemoryUse::First(n)),
            Err(_) => Err(format!(
                "{n:?} is not `all`, `none` or a number of remembered answers"
            )),
        },
    }
}

/// Runs `eval`.
pub fn run(args: &EvalArgs, config: &Config) -> Result<()> {
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    if args.k.contains(&0) {
        bail!("every --k must be at least 1");
    }
    if let Some(w) = args
        .answer_weights
        .iter()
        .find(|w| !(0.0..=1.0).contains(*w))
    {
        bail!("--answer-weights must lie in [0, 1], got {w}");
    }
    if let Some(m) = args
        .content_margins
        .iter()
        .find(|m| !(0.0..=2.0).contains(*m))
    {
        bail!("--content-margins must lie in [0, 2], got {m}");
    }
    let embedder = config.load_embedder()?;
    let dim = embedder.info().dimension;
    let (records, outputs) = load_dataset(&args.dataset, "outputs", embedder.as_ref())?;
    let index = build_index(&records, &outputs, dim, SplitArg::Train, IndexKind::Flat)?;
    let raw_llm = config.load_llm()?;
    let llm = raw_llm.clone();
    let params = GenerationParams {
        max_new_tokens: args.max_new_tokens,
        ..Default::default()
    };
    let llm_config = config.llm_key(args.max_new_tokens);
    let split = args.split.split();
    let cache = AnswerCache::open(&args.dataset.join("cache"), &llm_config)?.tagged(split.as_str());
    let llm = Arc::new(CachedLlm::new(
        llm,
        cache,
        params.clone(),
        config.llm_batch() * 2,
    ));
    let command = command_line();
    let eval_config = EvalConfig {
        limit: args.limit,
        split: args.split.split(),
        seed: args.seed,
        ks: args.k.clone(),
        budgets: args.budgets.clone(),
        generator_widths: args.generator_widths.iter().map(|&w| w as usize).collect(),
        rounds: args.rounds.map(|r| r as usize),
        answer_weights: args.answer_weights.clone(),
        content_margins: args.content_margins.clone(),
        params,
        search_chunk: 8,
        resamples: 1000,
        command,
        llm_config,
        prefix_tokens: args.prefix_tokens.iter().map(|&n| n as usize).collect(),
    };
    // The learned search, when a model or a generator is found; its LLM is the same
    // cached one.
    let latent = config.load_latent(args.baselines_only)?;
    let generator = config.load_generator(args.baselines_only)?;
    let prompts = match &latent {
        Some(_) => Some(load_column(
            &args.dataset,
            "prompts",
            embedder.as_ref(),
            records.len(),
        )?),
        None => None,
    };
    if let Some(l) = &latent {
        eprintln!("learned models: {}", l.dir.display());
    }
    if let (Some(_), Some(dir)) = (&generator, &config.generator) {
        eprintln!("generator: {}", dir.display());
    }
    let recall = load_memory(args, config, embedder.info())?;
    let lexicon = config.load_lexicon(embedder.as_ref(), args.baselines_only)?;
    if lexicon.is_some() {
        eprintln!(
            "content lexicon: the words of {}",
            config
                .lexicon
                .as_deref()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    let env = Environment::new(llm.clone(), embedder.clone());
    // One searcher per ablation: with the dataset or without (`nodata-`), with the
    // content candidates or without (`nocontent-`, when asked for).
    let shared: std::sync::OnceLock<Arc<Neighbours>> = std::sync::OnceLock::new();
    let build = |with_data: bool, content: bool| -> Result<Option<Searcher>> {
        if latent.is_none() && generator.is_none() && !(content && lexicon.is_some()) {
            return Ok(None);
        }
        if !with_data && generator.is_none() {
            return Ok(None);
        }
        // One index of the train answers, shared by every searcher that uses the dataset.
        let neighbours = if with_data {
            Some(match shared.get() {
                Some(n) => Arc::clone(n),
                None => {
                    let n = Arc::new(Neighbours::from_parts(
                        records.clone(),
                        &outputs,
                        prompts.as_deref(),
                        dim,
                    )?);
                    Arc::clone(shared.get_or_init(|| n))
                }
            })
        } else {
            None
        };
        let mut s =
            Searcher::with_sources(env.clone(), neighbours, latent.clone(), generator.clone())?;
        if with_data && let Some(r) = &recall {
            s = s.with_recall(r.clone())?;
        }
        if content && let Some(l) = &lexicon {
            s = s.with_lexicon(l.clone())?;
        }
        Ok(Some(s))
    };
    let searcher = build(true, true)?;
    let bare = build(false, true)?;
    let ablate = args.content_ablation && lexicon.is_some();
    let nocontent = if ablate { build(true, false)? } else { None };
    let bare_nocontent = if ablate { build(false, false)? } else { None };
    // Fluency of the chosen prompts: their perplexity under the local LLM read as plain
    // text (a remote LLM gives no token probabilities here, so the column stays empty).
    let scorer = crate::common::fluency_scorer(config)?;
    let perplexity = |text: &str| scorer.as_ref().and_then(|m| m.perplexity(text).ok());
    // The same local LLM's tokenizer cuts answers for the answer-length study.
    let cut = |text: &str, n: usize| -> vec2prompt_core::Result<String> {
        match &scorer {
            Some(m) => {
                let ids = m.tokenizer().encode(text)?;
                m.tokenizer().decode(&ids[..n.min(ids.len())])
            }
            None => Ok(text.to_string()),
        }
    };
    if !args.prefix_tokens.is_empty() && scorer.is_none() {
        anyhow::bail!("--prefix-tokens needs the local LLM's tokenizer to cut answers");
    }
    let data = EvalData {
        answer_prefix: Some(&cut),
        perplexity: scorer
            .as_ref()
            .map(|_| &perplexity as &vec2prompt_eval::quality::PerplexityFn<'_>),
        records: &records,
        outputs: &outputs,
        prompts: prompts.as_deref(),
        dimension: dim,
        train_index: index.as_ref(),
        searcher: searcher.as_ref(),
        bare: bare.as_ref(),
        nocontent: nocontent.as_ref(),
        bare_nocontent: bare_nocontent.as_ref(),
        recall: recall.as_deref(),
    };
    // One progress bar per stage (a bar on a terminal, a line every 10% otherwise).
    let mut stages = Stages::default();
    let mut report = vec2prompt_eval::run(
        &data,
        &llm,
        embedder.as_ref(),
        &eval_config,
        &mut |event| match event {
            EvalEvent::Note(line) => eprintln!("{line}"),
            EvalEvent::Searched {
                method,
                done,
                total,
            } => stages.update(&format!("{method} targets"), done, total),
            EvalEvent::Answered { done, total } => stages.update("answers", done, total),
        },
    )?;
    for &p in &args.perturbed {
        let llms = perturbed_llms(p, args, config, &raw_llm)?;
        let env = Perturbed {
            name: perturbation_name(p, args),
            llms: llms.iter().collect(),
        };
        let stage = format!("{} answers", env.name);
        let rescored = vec2prompt_eval::rescore(
            &report,
            &records,
            &outputs,
            &env,
            embedder.as_ref(),
            eval_config.resamples,
            &mut |done, total| stages.update(&stage, done, total),
        )?;
        report.perturbed.push(rescored);
    }
    stages.finish();
    report.date = utc_now();
    report.provenance = Some(crate::provenance::collect(&config.model_paths()));
    let md = report.to_markdown();
    println!("{md}");
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let json = out.with_extension("json");
        let md_path = out.with_extension("md");
        vec2prompt_core::write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes())?;
        vec2prompt_core::write_atomic(&md_path, md.as_bytes())?;
        eprintln!("wrote {} and {}", json.display(), md_path.display());
        write_plots(&report, out)?;
    }
    Ok(())
}

/// How the report names a perturbed environment.
fn perturbation_name(p: Perturbation, args: &EvalArgs) -> String {
    match p {
        Perturbation::Sampled => format!(
            "answers sampled at T={}, mean of {} seeded samples",
            args.temperature, args.samples
        ),
        Perturbation::F32 => "the f32 weights (greedy)".to_string(),
    }
}

/// The answering LLMs of a perturbed environment, each caching under its own key.
fn perturbed_llms(
    p: Perturbation,
    args: &EvalArgs,
    config: &Config,
    llm: &Arc<dyn vec2prompt_core::Llm>,
) -> Result<Vec<CachedLlm>> {
    let cache_dir = args.dataset.join("cache");
    let split = args.split.split().as_str();
    let chunk = config.llm_batch() * 2;
    match p {
        Perturbation::Sampled => {
            if args.temperature.is_nan() || args.temperature <= 0.0 {
                bail!("--temperature must be above 0");
            }
            (0..args.samples)
                .map(|seed| {
                    let params = GenerationParams {
                        max_new_tokens: args.max_new_tokens,
                        sampling: vec2prompt_core::Sampling::Sample {
                            temperature: args.temperature,
                            top_p: 1.0,
                            seed,
                        },
                        n: 1,
                    };
                    let key = config.llm_key_of(
                        args.max_new_tokens,
                        &format!("sampled T={} top_p=1 seed={seed}", args.temperature),
                    );
                    let cache = AnswerCache::open(&cache_dir, &key)?.tagged(split);
                    Ok(CachedLlm::new(llm.clone(), cache, params, chunk))
                })
                .collect()
        }
        Perturbation::F32 => {
            let (f32_llm, key) = config.load_llm_f32(args.max_new_tokens)?;
            let params = GenerationParams {
                max_new_tokens: args.max_new_tokens,
                ..Default::default()
            };
            let cache = AnswerCache::open(&cache_dir, &key)?.tagged(split);
            Ok(vec![CachedLlm::new(f32_llm, cache, params, chunk)])
        }
    }
}

/// The environment memory `--memory` asks for, of this LLM under the run's settings.
fn load_memory(
    args: &EvalArgs,
    config: &Config,
    embedder: &vec2prompt_core::EmbedderInfo,
) -> Result<Option<Arc<Recall>>> {
    let limit = match args.memory {
        MemoryUse::None => return Ok(None),
        MemoryUse::All => None,
        MemoryUse::First(n) => Some(n),
    };
    let recall = config.load_recall_of(&args.dataset, embedder, limit, args.max_new_tokens)?;
    match (&recall, limit) {
        (None, Some(n)) => bail!(
            "--memory {n}: {} has no environment memory of {}; build one with `vec2prompt \
             remember --dataset {0}`",
            args.dataset.display(),
            config.llm_key(args.max_new_tokens)
        ),
        (Some(r), Some(n)) if r.len() < n => eprintln!(
            "warning: --memory {n}: the memory holds only {} answers so far",
            r.len()
        ),
        _ => {}
    }
    Ok(recall)
}

/// Writes the report's pictures beside it: `<out>-scores.svg`, `<out>-paired.svg` and
/// `<out>-calls.svg`.
fn write_plots(report: &vec2prompt_eval::Report, out: &Path) -> Result<()> {
    let stem = out.file_name().map_or_else(
        || "report".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    for (suffix, svg) in report.plots() {
        let path = out.with_file_name(format!("{stem}-{suffix}.svg"));
        vec2prompt_core::write_atomic(&path, svg.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Arguments of `plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A report written by `eval --out` (its `.json`).
    pub report: PathBuf,
    /// Also measure how the report's chosen prompts read (fluency, non-words, word lists,
    /// templates, length, diversity, task kept), written to `<report>-quality.md`. The
    /// report names dataset prompts by record, so this takes the data file (or ingested
    /// dataset directory) it was made from. Needs the embedder, and the local LLM for
    /// fluency.
    #[clap(long)]
    pub quality_data: Option<PathBuf>,
}

/// Runs `plot`: renders an existing report again (its Markdown, with the paired
/// differences, and its pictures) without re-running it.
pub fn plot(args: &PlotArgs, global: &crate::config::GlobalArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("cannot read {}", args.report.display()))?;
    let report: vec2prompt_eval::Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an eval report", args.report.display()))?;
    if let Some(data) = &args.quality_data {
        let config = crate::config::Config::resolve(global)?;
        requality(&report, data, &args.report.with_extension(""), &config)?;
    }
    let md = args.report.with_extension("md");
    vec2prompt_core::write_atomic(&md, report.to_markdown().as_bytes())?;
    eprintln!("wrote {}", md.display());
    write_plots(&report, &args.report.with_extension(""))
}

/// Measures the prompt quality of `report`'s choices again and writes
/// `<out>-quality.md`.
fn requality(
    report: &vec2prompt_eval::Report,
    data: &Path,
    out: &Path,
    config: &crate::config::Config,
) -> Result<()> {
    let records = crate::common::load_records(data)?;
    let by_index: std::collections::HashMap<usize, &vec2prompt_dataset::Record> =
        records.iter().map(|r| (r.index, r)).collect();
    let embedder = config.load_embedder()?;
    let targets: Vec<String> = report
        .per_target
        .iter()
        .map(|t| {
            by_index
                .get(&t.index)
                .map(|r| r.output.clone())
                .ok_or_else(|| anyhow::anyhow!("record {} is not in {}", t.index, data.display()))
        })
        .collect::<Result<_>>()?;
    let target_vectors = embedder.embed(&targets)?;
    let scorer = crate::common::fluency_scorer(config)?;
    let perplexity = |t: &str| scorer.as_ref().and_then(|m| m.perplexity(t).ok());
    let rows = vec2prompt_eval::report_quality::measure_report(
        report,
        &|i| by_index.get(&i).map(|r| r.prompt.clone()),
        &target_vectors,
        &|texts| embedder.embed(texts),
        scorer
            .as_ref()
            .map(|_| &perplexity as &vec2prompt_eval::quality::PerplexityFn<'_>),
    )?;
    let mut md = format!(
        "# Prompt quality of the choices in {}\n\n\
         {} targets ({} split) of the report made {} by `{}`.\n\n",
        out.display(),
        report.targets,
        report.split,
        report.date,
        report.command
    );
    md.push_str("Measured by:\n\n");
    md.push_str(&crate::provenance::collect(&config.model_paths()).markdown());
    md.push_str(&format!("- date: {}\n\n", utc_now()));
    md.push_str(
        "The oracle row is the human prompts. Fluency = median over targets of perplexity(pick) / perplexity(human prompt) under the LLM read as plain text; non-words = prompts holding a token outside the dictionary; word lists = content is a bare list of 3+ words; templates = one of the five content templates around a word list; length = median word-count ratio to the human prompt; task kept = mean cos(E(pick), E(human prompt)) and leading-verb class match (reported only: the human prompt is unknown at inference).\n\n",
    );
    md.push_str(&vec2prompt_eval::quality::markdown_table(&rows));
    let path = PathBuf::from(format!("{}-quality.md", out.display()));
    vec2prompt_core::write_atomic(&path, md.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
