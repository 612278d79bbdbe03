//! `train optimizer`, `optimize`, `simulate-feedback` and `eval-optimizer`: the prompt
//! optimizer's commands.

use crate::common::{
    base_model, default_optimizer_dir, load_average, load_optimizer, load_records, optimizer_dir,
    read_optimizer_file, run_optimize,
};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use vec2prompt_core::Embedder;
use vec2prompt_core::chart::{Series, line_chart};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_optimizer::AnswerHead;
use vec2prompt_optimizer::feedback::read_feedback;
use vec2prompt_optimizer::{OptimizerManifest, PromptOptimizer};
use vec2prompt_train::kit::Card;
use vec2prompt_train::optimizer::data::{embed, feedback_pairs, pairs};
use vec2prompt_train::optimizer::train::{PhaseRun, RunLimits, train_phase};
use vec2prompt_train::optimizer::{OptimizerTrainConfig, Phase};

/// A progress report (a bar on a terminal, a line every 10% otherwise), none when quiet.
fn bar(len: usize, what: &str, quiet: bool) -> Option<vec2prompt_core::progress::Progress> {
    (!quiet).then(|| vec2prompt_core::progress::Progress::new(what, len))
}

/// Runs `train optimizer`: phase 1 (distillation) on the dataset, or, with `--feedback`,
/// phase 2 (contrastive) from phase 1's weights. Each invocation is time-boxed by
/// `--max-minutes` / `--max-steps`, resumes where the last one stopped, and exports the
/// weights it reached with a card and curves.
pub fn train(args: &crate::train_args::TrainArgs, config: &crate::config::Config) -> Result<()> {
    let file = read_optimizer_file(args.train_config.as_deref())?;
    let base_gguf = base_model(config)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_optimizer_dir(&config.home));
    let embedder = config.load_embedder()?;
    let info = embedder.info().clone();
    let mut model = file.model.clone();
    model.generator.condition = info.dimension;
    let base = vec2prompt_latent::generator::Base::load(&base_gguf)?;
    let manifest = OptimizerManifest {
        config: model,
        base_name: base.name.clone(),
        base_sha256: base.sha256.clone(),
        embedder: info.name.clone(),
        embedder_dim: info.dimension,
    };
    let o = PromptOptimizer::with_base(base, manifest)?;
    let records = load_records(&args.dataset)?;
    let mut t = file.train.clone();
    if let Some(l) = args.limit {
        t.precise_pairs = t.precise_pairs.min(l);
        t.structured_pairs = t.structured_pairs.min(l / 4);
    }
    let families = t.raw_families()?;
    if families.is_empty() {
        bail!("optimizer.train.families is empty: name the raw families to train on");
    }
    eprintln!(
        "training families: {}",
        families
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let val_pairs: Vec<_> = pairs(
        &records,
        Split::Validation,
        t.val_examples,
        0,
        &families,
        t.seed ^ 1,
    )
    .into_iter()
    .map(|p| (p, Vec::new()))
    .collect();
    let limits = RunLimits {
        max_minutes: args.max_minutes,
        max_steps: if args.finish { Some(0) } else { args.max_steps },
        quiet: args.quiet,
    };
    let runs = out.join("runs");
    let command = crate::common::command_line();
    let (phase, train_pairs) = match &args.feedback {
        None => (
            Phase::Distill,
            pairs(
                &records,
                Split::Train,
                t.precise_pairs,
                t.structured_pairs,
                &families,
                t.seed,
            )
            .into_iter()
            .map(|p| (p, Vec::new()))
            .collect::<Vec<_>>(),
        ),
        Some(f) => {
            let fb = read_feedback(f)?;
            let mut ps = feedback_pairs(&fb);
            // Phase 2 replays as many phase-1 pairs, both styles in phase 1's shares, so
            // learning from feedback does not forget how to write either style.
            let n = ps.len();
            let share =
                t.structured_pairs as f64 / (t.precise_pairs + t.structured_pairs).max(1) as f64;
            let structured = (n as f64 * share).round() as usize;
            let replay = pairs(
                &records,
                Split::Train,
                n - structured.min(n),
                structured.min(n),
                &families,
                t.seed ^ 2,
            );
            eprintln!(
                "{} feedback records → {n} contrastive pairs, with {} phase-1 pairs replayed",
                fb.len(),
                replay.len()
            );
            ps.extend(replay.into_iter().map(|p| (p, Vec::new())));
            (Phase::Contrastive, ps)
        }
    };
    let mut b = bar(
        train_pairs.len() + val_pairs.len(),
        "embedding pairs",
        args.quiet,
    );
    let train_ex = embed(&embedder, &train_pairs, &mut |d, _| {
        if let Some(b) = &mut b {
            b.set(d)
        }
    })?;
    let val_ex = embed(&embedder, &val_pairs, &mut |d, _| {
        if let Some(b) = &mut b {
            b.set(train_pairs.len() + d)
        }
    })?;
    if let Some(b) = &b {
        b.finish();
    }
    let start = if phase == Phase::Contrastive {
        let p1 = runs.join(Phase::Distill.name());
        let Some((_, tensors)) =
            vec2prompt_train::kit::checkpoint::load(&p1, &candle_core::Device::Cpu)?
        else {
            bail!(
                "phase 2 starts from phase 1: run `vec2prompt train optimizer` without --feedback first ({} has no checkpoint)",
                p1.display()
            );
        };
        Some(tensors)
    } else {
        None
    };
    let run = train_phase(
        &o,
        phase,
        &train_ex,
        &val_ex,
        &t,
        &runs.join(phase.name()),
        start.as_ref(),
        &limits,
    )?;
    let export = out.join(match phase {
        Phase::Distill => "phase1",
        Phase::Contrastive => "phase2",
    });
    o.save(&export)?;
    o.save(&out)?;
    let planned = match phase {
        Phase::Distill => t.distill_steps,
        Phase::Contrastive => t.contrastive_steps,
    };
    vec2prompt_core::write_atomic(
        &export.join("optimizer-loss.svg"),
        curves(&run, phase).as_bytes(),
    )?;
    let text = card(
        &o,
        &run,
        phase,
        &t,
        planned,
        train_ex.len(),
        val_ex.len(),
        &command,
    );
    vec2prompt_core::write_atomic(&export.join("optimizer-card.md"), text.as_bytes())?;
    for name in ["optimizer-loss.svg", "optimizer-card.md"] {
        std::fs::copy(export.join(name), out.join(name))?;
    }
    eprintln!(
        "{}: step {} of {planned}{}; exported to {} (the latest is also in {})",
        phase.name(),
        run.state.step,
        if run.state.finished {
            " (finished)"
        } else {
            "; run the same command to continue"
        },
        export.display(),
        out.display()
    );
    Ok(())
}

fn curves(run: &PhaseRun, phase: Phase) -> String {
    let pick = |f: fn(&vec2prompt_train::optimizer::train::Terms) -> f64| -> Vec<(f64, f64)> {
        run.terms.iter().map(|(s, t)| (*s as f64, f(t))).collect()
    };
    let val: Vec<(f64, f64)> = run
        .state
        .history
        .iter()
        .map(|h| (h.step as f64, h.val_loss))
        .collect();
    line_chart(
        &format!("optimizer {}: loss terms per step", phase.name()),
        "step",
        &[
            Series {
                name: "cross-entropy (train batch)",
                points: pick(|t| t.ce),
                color: "#1f77b4",
            },
            Series {
                name: "validation cross-entropy",
                points: val,
                color: "#d62728",
            },
            Series {
                name: "KL to the base model ×10",
                points: pick(|t| t.kl * 10.0),
                color: "#2ca02c",
            },
            Series {
                name: if phase == Phase::Distill {
                    "distillation distance"
                } else {
                    "InfoNCE"
                },
                points: pick(|t| t.aux),
                color: "#7f7f7f",
            },
        ],
    )
}

#[allow(clippy::too_many_arguments)]
fn card(
    o: &PromptOptimizer,
    run: &PhaseRun,
    phase: Phase,
    t: &OptimizerTrainConfig,
    planned: usize,
    train: usize,
    val: usize,
    command: &str,
) -> String {
    let m = &o.manifest;
    let g = &m.config.generator;
    let data = match phase {
        Phase::Distill => format!(
            "{train} train-split pairs (raw prompts written by the training families {} → the record's own instruction; {} of them in the structured style), {val} validation-split pairs for the validation loss",
            t.families.join(", "),
            t.structured_pairs.min(train)
        ),
        Phase::Contrastive => format!(
            "{train} pairs: the feedback log's successes (its failures as negatives) and as many phase-1 pairs replayed; {val} validation-split pairs"
        ),
    };
    let (objective, weight) = match phase {
        Phase::Distill => ("distillation", t.distill_weight),
        Phase::Contrastive => ("InfoNCE", t.contrastive_weight),
    };
    Card::new(&format!("prompt optimizer ({})", phase.name()), command)
        .item(
            "base",
            format_args!(
                "{} (sha256 {}), frozen; embedder: {} ({} dimensions), frozen",
                m.base_name, m.base_sha256, m.embedder, m.embedder_dim
            ),
        )
        .item(
            "trainable",
            format_args!(
                "intent network {d} → {} → {d} (dropout {}), projector → {} soft tokens, LoRA r {} α {} on q and v",
                m.config.intent_hidden,
                m.config.dropout,
                g.soft_tokens,
                g.lora_rank,
                g.lora_alpha,
                d = m.embedder_dim
            ),
        )
        .item("data", data)
        .item(
            "steps",
            format_args!(
                "{} of {planned} planned (batch {}, lr {}, KL weight {}, {objective} weight {weight}), training wall time {:.0} s",
                run.state.step, t.batch_size, t.lr, t.kl_weight, run.state.wall_seconds
            ),
        )
        .licence()
        .item("curves", "optimizer-loss.svg")
        .history(&run.state.history, false, "validation cross-entropy")
        .finish()
}

/// Arguments of `optimize`.
#[derive(Debug, clap::Args)]
pub struct OptimizeArgs {
    /// The prompt to improve (a record-style input may follow a blank line; it is kept).
    pub raw_prompt: String,
    /// `precise` (one specific instruction) or `structured` (persona, context, task,
    /// constraints, steps, goal).
    #[clap(long, default_value = "precise")]
    pub style: String,
    /// Improved prompts to return.
    #[clap(short = 'n', long, default_value_t = 1)]
    pub num_return_sequences: usize,
    /// LLM calls: answer the raw prompt and variants, this many in all, and rank them by
    /// how close their answers land to the predicted answer (the optimizer's answer head,
    /// or the surrogate's prediction for the raw prompt) or to your target (0: no LLM
    /// call).
    #[clap(long, default_value_t = 0)]
    pub budget: usize,
    /// Most tokens per improved prompt.
    #[clap(long, default_value_t = 200)]
    pub max_length: usize,
    /// Your own goal instead of the predicted answer of the intent: a text the answers
    /// should resemble (needs --budget; a rewrite copying 8+ of its words is refused).
    #[clap(long, conflicts_with = "target_example")]
    pub target_text: Option<String>,
    /// Your own goal as example answers (repeat, up to 8): their mean embedding is the
    /// goal (needs --budget).
    #[clap(long = "target-example")]
    pub target_example: Vec<String>,
    /// The optimizer [default: $VEC2PROMPT_HOME/optimizer].
    #[clap(long, env = "VEC2PROMPT_OPTIMIZER")]
    pub optimizer: Option<PathBuf>,
    /// Print JSON.
    #[clap(long)]
    pub json: bool,
}

/// Runs `optimize`.
pub fn optimize(args: &OptimizeArgs, config: &crate::config::Config) -> Result<()> {
    use vec2prompt_optimizer::service::{
        GoalKind, MAX_TARGET_EXAMPLES, OptimizeRequest, UserTarget,
    };
    let style = vec2prompt_optimizer::Style::parse(&args.style)?;
    let service = load_optimizer(config, args.optimizer.as_deref())?;
    let request = OptimizeRequest {
        raw_prompt: args.raw_prompt.clone(),
        max_length: args.max_length,
        num_return_sequences: args.num_return_sequences,
        style,
        budget: args.budget,
        target: None,
    };
    request.validate()?;
    let embedder = config.load_embedder()?;
    let mut request = request;
    let target = match (&args.target_text, args.target_example.as_slice()) {
        (Some(t), _) => Some((GoalKind::TargetText, vec![t.clone()])),
        (None, []) => None,
        (None, ex) => Some((GoalKind::TargetExamples, ex.to_vec())),
    };
    if let Some((kind, texts)) = target {
        if texts.len() > MAX_TARGET_EXAMPLES {
            bail!(
                "--target-example: {} examples; give 1 to {MAX_TARGET_EXAMPLES}",
                texts.len()
            );
        }
        for t in &texts {
            vec2prompt_core::text::require_non_empty("target", t)?;
        }
        let vectors = embedder.embed(&texts)?;
        request.target = Some(UserTarget::from_texts(kind, texts, &vectors)?);
        request.validate()?;
    }
    let request = request;
    let out = if args.budget > 0 {
        run_optimize(
            &service,
            embedder.as_ref(),
            config.load_llm()?.as_ref(),
            &request,
        )?
    } else {
        // No LLM is loaded when nothing is answered.
        let e = embedder.embed(&request.texts_to_embed())?;
        let e = vec2prompt_optimizer::service::RawEmbedding::from_vectors(e);
        service.finish(service.draft(&request, &e)?, &request)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        use vec2prompt_optimizer::service::{IMPROVEMENT_MARGIN, Source};
        for (i, p) in out.optimized_prompts.iter().enumerate() {
            let goal = match out.goal {
                vec2prompt_optimizer::service::GoalKind::PredictedAnswer => "the intent",
                _ => "your target",
            };
            let score = p.score.map_or(String::new(), |s| {
                format!(" (measured: answer near {goal} {s:.3})")
            });
            let source = if p.source == Source::Raw {
                " [your prompt]"
            } else {
                ""
            };
            println!("{}. {}{source}{score}", i + 1, p.prompt);
        }
        if let Some(raw) = out.raw_score
            && !out
                .optimized_prompts
                .iter()
                .any(|p| p.source == Source::Raw)
        {
            println!("   your prompt: measured {raw:.3}");
        }
        if out.refused_copies > 0 {
            println!(
                "{} rewrite(s) refused: they copied 8+ words of your target.",
                out.refused_copies
            );
        }
        if out.improved == Some(false) {
            println!(
                "No rewrite measured better than your prompt by {IMPROVEMENT_MARGIN}: it is returned unchanged."
            );
        }
    }
    Ok(())
}

/// Arguments of `eval-optimizer`.
#[derive(Debug, clap::Args)]
pub struct EvalOptimizerArgs {
    /// The data: a raw data file (e.g. alpaca_data.json) or an ingested dataset directory
    /// (whose prompt embeddings, when complete, add the nearest-train-instruction baseline).
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// `validation` for development, `test` for reported numbers.
    #[clap(long, value_enum, default_value = "validation")]
    pub split: crate::common::HeldOut,
    /// Records (the first ones of the split, in file order).
    #[clap(long, default_value_t = 100)]
    pub limit: usize,
    /// How the raw prompts are written, comma-separated: telegraphic, typos, chat-speak,
    /// query-order, format-stripped, topic-lost (the old stress test). Each family is a
    /// report of its own.
    #[clap(
        long,
        value_delimiter = ',',
        default_value = "telegraphic,typos,chat-speak,query-order,format-stripped"
    )]
    pub family: Vec<String>,
    /// Optimizers to compare, as NAME=DIR (repeat) [default: optimizer=$VEC2PROMPT_HOME/optimizer];
    /// `none` runs the anchors and baselines only (the gate: how much room each family leaves).
    #[clap(long = "model")]
    pub models: Vec<String>,
    /// LLM calls of the budget method (0: off).
    #[clap(long, default_value_t = 4)]
    pub budget: usize,
    /// Records on which the structured style is decoded and scored too.
    #[clap(long, default_value_t = 50)]
    pub structured_limit: usize,
    /// With a budget, also rank the budget's candidates against this many answers to
    /// the human prompt sampled from the LLM, given as the user's example answers
    /// (`/optimize`'s `target_examples`; 0: off).
    #[clap(long, default_value_t = 0)]
    pub target_examples: usize,
    /// Max new tokens of the answers (the evaluation's setting).
    #[clap(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Write `<out>-<family>.{json,md}` per family and `<out>.md`, the summary.
    #[clap(long)]
    pub out: Option<PathBuf>,
    /// Seed of the samples, the bootstrap and the held-out family's draw.
    #[clap(long, default_value_t = 0)]
    pub seed: u64,
    /// Real users instead of a raw family: a BPO-style JSON file (a list of
    /// `{instruction, context, good_res, optimized_prompt}`). The raw prompt is the
    /// instruction as written (its context after a blank line), the answer to land near is
    /// `good_res`, and the `human` anchor is the file's own rewrite. Records whose
    /// instruction is word for word an instruction of `--dataset`, or whose rewrite copies
    /// an 8-word run of `good_res`, are left out. `--split` and `--family` do not apply.
    #[clap(long)]
    pub bpo: Option<PathBuf>,
}

/// The real-user records of a BPO-style file (see [`EvalOptimizerArgs::bpo`]) and their
/// rewrites; how many were left out as Alpaca instructions and as copying rewrites.
fn bpo_records(path: &Path, known: &[Record]) -> Result<(Vec<Record>, Vec<String>, usize, usize)> {
    #[derive(serde::Deserialize)]
    struct Row {
        instruction: String,
        #[serde(default)]
        context: String,
        good_res: String,
        optimized_prompt: String,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows: Vec<Row> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a list of instruction/context/good_res/optimized_prompt",
            path.display()
        )
    })?;
    let instructions: std::collections::HashSet<&str> = known
        .iter()
        .map(|r| {
            vec2prompt_optimizer::vague::split_prompt(&r.prompt)
                .0
                .trim()
        })
        .collect();
    let with_context = |a: &str, c: &str| {
        if c.trim().is_empty() {
            a.trim().to_string()
        } else {
            format!("{}\n\n{}", a.trim(), c.trim())
        }
    };
    let (mut records, mut rewrites) = (Vec::new(), Vec::new());
    let (mut alpaca, mut copying) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        if instructions.contains(row.instruction.trim()) {
            alpaca += 1;
            continue;
        }
        if vec2prompt_eval::stats::copies(&row.optimized_prompt, &row.good_res) {
            copying += 1;
            continue;
        }
        records.push(Record {
            id: format!("bpo-{i}"),
            index: i,
            prompt: with_context(&row.instruction, &row.context),
            output: row.good_res.clone(),
            tokens: 0,
            kind: vec2prompt_dataset::RecordKind::Instruction,
            split: Split::Test,
        });
        rewrites.push(with_context(&row.optimized_prompt, &row.context));
    }
    Ok((records, rewrites, alpaca, copying))
}

fn answer_cache(
    config: &crate::config::Config,
    max_new_tokens: usize,
) -> Result<(vec2prompt_eval::CachedLlm, String)> {
    let llm = config.load_llm()?;
    let key = config.llm_key(max_new_tokens);
    let cache = vec2prompt_eval::AnswerCache::open(&config.home.root.join("cache"), &key)?;
    let params = vec2prompt_core::GenerationParams {
        max_new_tokens,
        ..Default::default()
    };
    let batch = config.llm_batch() * 2;
    Ok((
        vec2prompt_eval::CachedLlm::new(llm, cache, params, batch),
        key,
    ))
}

/// Runs `eval-optimizer`: one report per raw family, and a summary with the gate
/// (human − raw per family) and the held-out family drawn among those that pass it.
pub fn eval_optimizer(args: &EvalOptimizerArgs, config: &crate::config::Config) -> Result<()> {
    use vec2prompt_eval::optimizer_bench::{
        BenchConfig, BenchModel, BenchReport, TrainInstructions, markdown, run,
    };
    use vec2prompt_optimizer::families::RawFamily;
    let families: Vec<RawFamily> = args
        .family
        .iter()
        .map(|f| {
            RawFamily::parse(f.trim()).ok_or_else(|| {
                anyhow::anyhow!(
                    "--family {f:?} is not a raw family; use one of: {}",
                    RawFamily::ALL.map(|f| f.name()).join(", ")
                )
            })
        })
        .collect::<Result<_>>()?;
    let split = args.split.split();
    let all_records = load_records(&args.dataset)?;
    let (families, records, anchors, split_name) = match &args.bpo {
        Some(path) => {
            let (mut records, mut rewrites, alpaca, copying) = bpo_records(path, &all_records)?;
            records.truncate(args.limit);
            rewrites.truncate(args.limit);
            eprintln!(
                "{}: {} records ({alpaca} left out as Alpaca instructions, {copying} whose rewrite copies the preferred answer)",
                path.display(),
                records.len()
            );
            let what = format!(
                "the file's own rewrite (`optimized_prompt`); {} real-user records of {} ({alpaca} Alpaca instructions and {copying} rewrites copying an 8-word run of `good_res` left out)",
                records.len(),
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
            (
                vec![RawFamily::AsWritten],
                records,
                Some((rewrites, what)),
                "real users".to_string(),
            )
        }
        None => (
            families,
            all_records
                .iter()
                .filter(|r| r.split == split)
                .take(args.limit)
                .cloned()
                .collect::<Vec<Record>>(),
            None,
            split.as_str().to_string(),
        ),
    };
    if records.is_empty() {
        bail!(
            "{} has no {} records",
            args.dataset.display(),
            split.as_str()
        );
    }
    let anchors_only = args.models.iter().any(|m| m == "none");
    let specs: Vec<(String, PathBuf)> = if anchors_only {
        Vec::new()
    } else if args.models.is_empty() {
        vec![("optimizer".into(), optimizer_dir(None, config)?)]
    } else {
        args.models
            .iter()
            .map(|m| match m.split_once('=') {
                Some((n, d)) => Ok((n.to_string(), optimizer_dir(Some(Path::new(d)), config)?)),
                None => bail!("--model takes NAME=DIR or none, got {m:?}"),
            })
            .collect::<Result<_>>()?
    };
    let specs_dirs: Vec<PathBuf> = specs.iter().map(|(_, d)| d.clone()).collect();
    // Each optimizer with its answer head, when its directory has one (the budget rows'
    // default goal, as in the service).
    let loaded: Vec<(String, PromptOptimizer, Option<AnswerHead>)> = specs
        .into_iter()
        .map(|(n, d)| {
            let model = crate::common::load_optimizer_model(config, &d)?;
            let head = crate::common::load_answer_head(&d, &model);
            Ok((n, model, head))
        })
        .collect::<Result<_>>()?;
    let models: Vec<BenchModel> = loaded
        .iter()
        .map(|(n, o, h)| BenchModel {
            name: n.clone(),
            optimizer: o,
            head: h.as_ref(),
        })
        .collect();
    let embedder = config.load_embedder()?;
    let surrogate = match &config.latent {
        Some(l) if vec2prompt_latent::LatentModel::exists(l) => {
            Some(vec2prompt_latent::LatentModel::load(l)?)
        }
        _ => None,
    };
    // The nearest-train-instruction baseline needs the train prompts' embeddings, which an
    // ingested dataset directory has; a raw file would need every train prompt embedded.
    let train_prompts: Option<(Vec<String>, Vec<f32>)> = if args.dataset.is_dir() {
        match crate::common::load_column(&args.dataset, "prompts", &embedder, all_records.len()) {
            Ok(vectors) => {
                let d = embedder.info().dimension;
                let mut prompts = Vec::new();
                let mut rows = Vec::new();
                for (i, r) in all_records.iter().enumerate() {
                    if r.split == vec2prompt_dataset::Split::Train {
                        prompts.push(r.prompt.clone());
                        rows.extend_from_slice(&vectors[i * d..(i + 1) * d]);
                    }
                }
                Some((prompts, rows))
            }
            Err(e) => {
                eprintln!("no nearest-train baseline: {e:#}");
                None
            }
        }
    } else {
        eprintln!("no nearest-train baseline: --dataset is a raw file (ingest it for one)");
        None
    };
    let train = train_prompts.as_ref().map(|(p, v)| TrainInstructions {
        prompts: p,
        vectors: v,
    });
    let (llm, key) = answer_cache(config, args.max_new_tokens)?;
    // Fluency of the prompts: perplexity under the local LLM read as plain text.
    let scorer = crate::common::fluency_scorer(config)?;
    let perplexity = |t: &str| scorer.as_ref().and_then(|m| m.perplexity(t).ok());
    let perplexity_fn = scorer
        .as_ref()
        .map(|_| &perplexity as &vec2prompt_eval::quality::PerplexityFn<'_>);
    // Hashed once for every family's report: the LLM, the embedder, the surrogate and
    // every optimizer under test.
    let mut model_paths: Vec<_> = config
        .model_paths()
        .into_iter()
        .filter(|(name, _)| *name != "generator")
        .collect();
    model_paths.extend(specs_dirs.iter().map(|d| ("optimizer", Some(d.as_path()))));
    let provenance = crate::provenance::collect(&model_paths);
    let load_before = load_average();
    let mut reports: Vec<BenchReport> = Vec::new();
    for &family in &families {
        eprintln!("family {}: {} records", family.name(), records.len());
        let bench = BenchConfig {
            budget: args.budget,
            structured_limit: args.structured_limit,
            resamples: 1000,
            seed: args.seed,
            command: crate::common::command_line(),
            llm_config: key.clone(),
            split: split_name.clone(),
            family,
            anchors: anchors.clone(),
            target_examples: args.target_examples,
        };
        let mut last = std::time::Instant::now();
        let report = run(
            &records,
            &models,
            &llm,
            &embedder,
            surrogate.as_ref(),
            train.as_ref(),
            perplexity_fn,
            &bench,
            &mut |msg| {
                if last.elapsed().as_secs_f64() > 5.0 {
                    eprintln!("{}: {msg}", family.name());
                    last = std::time::Instant::now();
                }
            },
        )?;
        let mut report = report;
        report.provenance = Some(provenance.clone());
        reports.push(report);
    }
    let date = crate::common::utc_now();
    let machine = format!(
        "this machine ({} cores), load average (1, 5, 15 min) {load_before} at the start and {} at the end",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let summary =
        vec2prompt_eval::optimizer_bench::gate_markdown(&reports, args.seed, &date, &machine);
    match &args.out {
        Some(out) => {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let stem = out.file_name().map_or_else(
                || "optimizer".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            for r in &reports {
                let path = out.with_file_name(format!("{stem}-{}", r.family));
                vec2prompt_core::write_atomic(
                    &path.with_extension("json"),
                    serde_json::to_string_pretty(r)?.as_bytes(),
                )?;
                vec2prompt_core::write_atomic(
                    &path.with_extension("md"),
                    markdown(r, &date, &machine).as_bytes(),
                )?;
            }
            vec2prompt_core::write_atomic(&out.with_extension("md"), summary.as_bytes())?;
            eprintln!(
                "wrote {}.md and one {}-<family>.{{json,md}} per family",
                out.display(),
                out.display()
            );
        }
        None => {
            println!("{summary}");
            for r in &reports {
                println!("{}", markdown(r, &date, &machine));
            }
        }
    }
    Ok(())
}

/// Arguments of `simulate-feedback`.
#[derive(Debug, clap::Args)]
pub struct SimulateFeedbackArgs {
    /// Raw data file or dataset directory; only train records are used.
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// Train records to simulate feedback on (seeded order, after those of the
    /// distillation pairs).
    #[clap(long, default_value_t = 64)]
    pub records: usize,
    /// Optimized variants per record.
    #[clap(long, default_value_t = 3)]
    pub variants: usize,
    /// The optimizer whose outputs are judged [default: $VEC2PROMPT_HOME/optimizer].
    #[clap(long, env = "VEC2PROMPT_OPTIMIZER")]
    pub optimizer: Option<PathBuf>,
    /// The feedback log to append to.
    #[clap(long)]
    pub out: PathBuf,
    /// Seed.
    #[clap(long, default_value_t = 7)]
    pub seed: u64,
    /// Share of verdicts flipped at random (seeded), as real users' feedback is noisy.
    #[clap(long, default_value_t = 0.15)]
    pub flip: f64,
}

/// Runs `simulate-feedback` (`vec2prompt_train::optimizer::feedback_sim`): the train
/// records of the dataset, the optimizer, the embedder and the cached LLM come from the
/// arguments and the configuration.
pub fn simulate_feedback(
    args: &SimulateFeedbackArgs,
    config: &crate::config::Config,
) -> Result<()> {
    let dir = optimizer_dir(args.optimizer.as_deref(), config)?;
    let o = crate::common::load_optimizer_model(config, &dir)?;
    let embedder = config.load_embedder()?;
    let train: Vec<Record> = load_records(&args.dataset)?
        .into_iter()
        .filter(|r| r.split == Split::Train)
        .collect();
    let (llm, _) = answer_cache(config, 128)?;
    let mut answer = |prompts: &[String]| -> vec2prompt_core::Result<Vec<String>> {
        llm.fill(prompts, &mut |_, _| {})?;
        Ok(prompts
            .iter()
            .map(|p| llm.get(p).map(|a| a.answer).unwrap_or_default())
            .collect())
    };
    let (stored, kept) = vec2prompt_train::optimizer::feedback_sim::simulate(
        &vec2prompt_train::optimizer::feedback_sim::SimulateOptions {
            records: args.records,
            variants: args.variants,
            seed: args.seed,
            flip: args.flip,
            out: args.out.clone(),
        },
        train,
        &o,
        &embedder,
        &mut answer,
    )?;
    eprintln!(
        "appended {stored} simulated feedback records to {} ({kept} were there already)",
        args.out.display()
    );
    Ok(())
}
