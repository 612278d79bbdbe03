//! `vec2prompt train rl`: resolves the stage-1 generator, the output directory, the
//! backends, the dataset and the learned models from the arguments and the configuration,
//! then runs stage 2 of the generator (`vec2prompt_train::rl_pipeline`).

use crate::common::load_dataset;
use crate::train_args::TrainArgs;
use anyhow::{Context, Result, bail};
use vec2prompt_latent::generator::{Generator, MANIFEST_FILE};
use vec2prompt_train::kit::RunLimits;
use vec2prompt_train::rl_pipeline::{RlRun, read_section};

/// Runs `train rl`.
pub fn run(args: &TrainArgs, config: &crate::config::Config) -> Result<()> {
    let rl = read_section(args.train_config.as_deref())?;
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| config.home.root.join("generator"));
    if !from.join(MANIFEST_FILE).exists() {
        bail!(
            "no stage-1 generator in {}: train one with `vec2prompt train generator`, or pass --from",
            from.display()
        );
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.home.root.join("generator-rl"));
    if out == from {
        bail!("--out must differ from --from: the stage-1 generator is the KL reference");
    }
    let base_gguf = config.local_llm("training the generator")?.0.to_path_buf();
    let backends = config.backends()?;
    let (records, outputs) = load_dataset(&args.dataset, "outputs", &backends.embedder)?;
    let dim = backends.embedder.info().dimension;
    let policy = Generator::load(&base_gguf, &from)
        .with_context(|| format!("loading the stage-1 generator in {}", from.display()))?;
    if policy.manifest.embedder_dim != dim {
        bail!(
            "the generator in {} was trained on {}-dimensional embeddings, the embedder makes {dim}",
            from.display(),
            policy.manifest.embedder_dim
        );
    }
    // The surrogate: the training reward with `reward: surrogate`, and in any case the
    // predicted reward reported beside the real one.
    let latent = match config.load_latent(false)? {
        Some(m) if m.surrogate.config().dim == dim => Some(m),
        Some(m) => {
            eprintln!(
                "warning: the learned models in {} are {}-dimensional, the embedder makes {dim}; not using their surrogate",
                m.dir.display(),
                m.surrogate.config().dim
            );
            None
        }
        None => None,
    };
    vec2prompt_train::rl_pipeline::run(RlRun {
        config: rl,
        from,
        out,
        policy,
        records: &records,
        outputs,
        dim,
        dataset: &args.dataset,
        limit: args.limit,
        llm: backends.llm.clone(),
        embedder: backends.embedder.clone(),
        latent,
        limits: RunLimits {
            max_minutes: args.max_minutes,
            max_steps: if args.finish { Some(0) } else { args.max_steps },
            quiet: args.quiet,
        },
        command: crate::common::command_line(),
    })
}
