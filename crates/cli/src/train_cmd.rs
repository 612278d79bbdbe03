//! `vec2prompt train surrogate|inverter|corrector|generator|rl|optimizer|answer-head`: the arguments, the
//! dataset load, and a call into `vec2prompt-train`, which holds the pipelines (the prompt
//! optimizer's are in `vec2prompt-optimizer`, see `optimizer_cmd`).

use crate::common::{load_column, load_dataset};
use crate::train_args::{ModelArg, TrainArgs};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use vec2prompt_train::{MemoryTargets, ModelKind, TrainData, TrainOptions, default_latent_dir};

/// Runs `train`.
pub fn run(args: &TrainArgs, config: &crate::config::Config) -> Result<()> {
    let Some(model) = args.model.kind() else {
        if args.model == ModelArg::Rl {
            return crate::rl_cmd::run(args, config);
        }
        if args.model == ModelArg::AnswerHead {
            return crate::answer_head_cmd::train(args, config);
        }
        return crate::optimizer_cmd::train(args, config);
    };
    let opts = TrainOptions {
        model,
        dataset: args.dataset.clone(),
        out: args
            .out
            .clone()
            .unwrap_or_else(|| default_latent_dir(&config.home)),
        train_config: args.train_config.clone(),
        max_steps: args.max_steps,
        epochs: args.epochs,
        limit: args.limit,
        finish: args.finish,
        quiet: args.quiet,
        max_minutes: args.max_minutes,
        command: crate::common::command_line(),
        init_from: args.from.clone(),
    };
    if (args.memory || args.from.is_some())
        && !matches!(model, ModelKind::Surrogate | ModelKind::Corrector)
    {
        bail!(
            "--memory and --from apply to `train surrogate` and `train corrector` (and --from to `train rl`)"
        );
    }
    let embedder = config.load_embedder()?;
    let (records, outputs) = load_dataset(&args.dataset, "outputs", &embedder)?;
    // The generator reads only E(output): its prompts are text, never embedded.
    let prompts = if opts.model == ModelKind::Generator {
        Vec::new()
    } else {
        load_column(&args.dataset, "prompts", &embedder, records.len())?
    };
    let memory = if args.memory {
        Some(memory_targets(
            &args.dataset,
            config,
            &records,
            embedder.info(),
        )?)
    } else {
        None
    };
    let data = TrainData {
        records,
        outputs,
        prompts,
        memory,
    };
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    vec2prompt_latent::model::claim_for_embedder(&opts.out, embedder.info())?;
    // Only the generator trains on the LLM's own weights, which must be local.
    let base = match opts.model {
        ModelKind::Generator => config.local_llm("training the generator")?.0.to_path_buf(),
        _ => PathBuf::new(),
    };
    vec2prompt_train::run(&opts, data, &embedder, &base)
}

/// The environment memory of the configured LLM (the search's answer settings) in
/// `dataset`, as surrogate targets.
fn memory_targets(
    dataset: &std::path::Path,
    config: &crate::config::Config,
    records: &[vec2prompt_dataset::Record],
    embedder: &vec2prompt_core::EmbedderInfo,
) -> Result<MemoryTargets> {
    let key = config.llm_key(vec2prompt_core::GenerationParams::default().max_new_tokens);
    let memory = vec2prompt_memory::RememberedAnswers::load(dataset, &key, records)
        .with_context(|| format!("--memory: the environment memory of {key}"))?;
    if memory.manifest.embedder != *embedder {
        bail!(
            "--memory: its answers were embedded by {}, not by {}",
            memory.manifest.embedder.name,
            embedder.name
        );
    }
    eprintln!(
        "environment memory: {} remembered answers of {key}",
        memory.len()
    );
    Ok(MemoryTargets {
        llm: key,
        positions: memory.records,
        vectors: memory.embeddings,
    })
}
