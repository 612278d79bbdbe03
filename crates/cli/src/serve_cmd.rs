//! `vec2prompt serve` (the HTTP API) and `vec2prompt print-schema` (its OpenAPI document).

use crate::config::{Config, EmbedderBackend, LlmBackend};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vec2prompt_core::Secret;
use vec2prompt_latent::LatentModel;
use vec2prompt_openai::RemoteConfig;
use vec2prompt_search::{Neighbours, Searcher};
use vec2prompt_server::api::{DatasetStatus, ModelStatus};
use vec2prompt_server::{Backends, CounterFn, ServerConfig, ServerSettings, TokenCounter};

/// Arguments of `serve`: the `server:` section of the config file as flags; each one set
/// overrides that key.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The prompt optimizer behind `POST /optimize` [default:
    /// $VEC2PROMPT_HOME/optimizer when one was trained there, else the shipped assets/optimizer].
    /// It runs on the local GGUF.
    #[clap(long, env = "VEC2PROMPT_OPTIMIZER")]
    pub optimizer: Option<PathBuf>,
    /// The feedback log `POST /feedback` appends to [default:
    /// $VEC2PROMPT_HOME/feedback/feedback.jsonl].
    #[clap(long, env = "VEC2PROMPT_FEEDBACK_LOG")]
    pub feedback_log: Option<PathBuf>,
    /// Largest feedback log, in bytes; appends beyond it are refused [default: 64 MiB].
    #[clap(long, env = "VEC2PROMPT_MAX_FEEDBACK_BYTES")]
    pub max_feedback_bytes: Option<u64>,
    /// The server's settings.
    #[clap(flatten)]
    pub server: ServerSettings,
}

/// Arguments of `print-schema`.
#[derive(Debug, Args)]
pub struct PrintSchemaArgs {}

/// The server's settings: flags/env over the config file's `server:` section over the
/// defaults, with the API key read from its file when one is given.
fn server_config(args: &ServeArgs, config: &Config) -> Result<ServerConfig> {
    let mut server = args.server.clone().merge(config.server.clone()).resolve();
    server.api_key = Secret::resolve(
        "server api key",
        server.api_key.take(),
        server.api_key_file.as_deref(),
    )?;
    server.validate().map_err(anyhow::Error::msg)?;
    Ok(server)
}

/// How `/health` describes a backend: its name, where it runs and from where.
fn status(name: &str, local: Option<&Path>, remote: Option<&RemoteConfig>) -> ModelStatus {
    match (local, remote) {
        (_, Some(c)) => ModelStatus {
            name: name.to_string(),
            backend: "openai".to_string(),
            location: c.base_url.clone(),
        },
        (path, None) => ModelStatus {
            name: name.to_string(),
            backend: "local".to_string(),
            location: path.map(|p| p.display().to_string()).unwrap_or_default(),
        },
    }
}

/// Loads the models and the dataset, then serves until SIGTERM or Ctrl-C.
pub fn serve(args: &ServeArgs, config: &Config) -> Result<()> {
    let server = server_config(args, config)?;
    let dataset = server
        .dataset
        .clone()
        .unwrap_or_else(|| config.default_dataset());
    let have_dataset = dataset.join("records.jsonl").is_file();
    if !have_dataset && config.latent.is_none() && config.generator.is_none() {
        bail!(
            "no candidates: no learned model or generator was found and there is no ingested \
             dataset at {}: run `vec2prompt ingest --input <data> --dataset {}` first, point \
             --dataset (VEC2PROMPT_DATASET) at one, or --latent or --generator at a trained model",
            dataset.display(),
            dataset.display()
        );
    }
    let loaded = config.backends()?;
    let (llm_path, llm_remote) = match &config.llm {
        LlmBackend::Local { path, .. } => (Some(path.as_path()), None),
        LlmBackend::Openai(c) => (None, Some(c)),
    };
    let (embedder_path, embedder_remote) = match &config.embedder {
        EmbedderBackend::Local { path, .. } => (Some(path.as_path()), None),
        EmbedderBackend::Openai(c) => (None, Some(c)),
    };
    let mut retries: Vec<(String, CounterFn)> = Vec::new();
    if llm_remote.is_some() || embedder_remote.is_some() {
        let l = config.limiter.clone();
        retries.push(("remote".to_string(), Arc::new(move || l.stats().retries)));
    }
    // The embedder's own tokenizer, when it has one, counts /v1/embeddings usage and
    // enforces the text token cap.
    let embed_tokens: Option<TokenCounter> = loaded.embedder.count_tokens("").map(|_| {
        let e = loaded.embedder.clone();
        Arc::new(move |t: &str| e.count_tokens(t).unwrap_or(0)) as TokenCounter
    });
    let neighbours = if have_dataset {
        Some(Arc::new(
            Neighbours::load(&dataset, loaded.embedder.info())
                .with_context(|| format!("cannot load the dataset {}", dataset.display()))?,
        ))
    } else {
        None
    };
    let latent = config.load_latent(false)?;
    let generator = config.load_generator(false)?;
    let lexicon = config.load_lexicon(loaded.embedder.as_ref(), false)?;
    let recall = if have_dataset {
        config.load_recall(&dataset, loaded.embedder.info(), None)?
    } else {
        None
    };
    let backends = Backends {
        llm_status: status(&loaded.llm.info().name, llm_path, llm_remote),
        embedder_status: status(&loaded.embedder.info().name, embedder_path, embedder_remote),
        llm: loaded.llm,
        embedder: loaded.embedder,
        embed_tokens,
        retries,
    };
    let status = neighbours.as_ref().map(|n| DatasetStatus {
        path: dataset.display().to_string(),
        train_records: n.len(),
    });
    let optimizer = optimizer_state(args, config, latent.clone())?;
    vec2prompt_server::run(server, &backends, status, optimizer, |env| {
        let mut s = Searcher::with_sources(env, neighbours, latent, generator)?;
        if let Some(r) = recall {
            s = s.with_recall(r)?;
        }
        match lexicon {
            Some(l) => s.with_lexicon(l),
            None => Ok(s),
        }
    })?;
    Ok(())
}

/// The optimizer routes' state: the optimizer when one is given or trained in the
/// default place (it needs the local GGUF as its base), and the feedback log.
fn optimizer_state(
    args: &ServeArgs,
    config: &Config,
    latent: Option<Arc<LatentModel>>,
) -> Result<vec2prompt_server::OptimizerState> {
    let dir = match &args.optimizer {
        Some(d) => Some(d.clone()),
        None => crate::common::installed_optimizer_dir(&config.home),
    };
    type Loaded = (
        vec2prompt_optimizer::PromptOptimizer,
        Option<vec2prompt_optimizer::AnswerHead>,
    );
    let load = |d: &Path| -> Result<Loaded> {
        let model = crate::common::load_optimizer_model(config, d)
            .with_context(|| format!("cannot load the prompt optimizer in {}", d.display()))?;
        let head = crate::common::load_answer_head(d, &model);
        Ok((model, head))
    };
    // An optimizer asked for by name must load; one merely found in the default place
    // is served when it can be (it needs the local GGUF), and otherwise the server
    // starts without `/optimize` and says why.
    let (dir, model) = match dir {
        Some(d) => match load(&d) {
            Ok(model) => (Some(d), Some(model)),
            Err(e) if args.optimizer.is_none() => {
                eprintln!(
                    "vec2prompt serve: warning: not serving /optimize: {e:#} \
                     (pass --optimizer DIR to make this an error)"
                );
                (None, None)
            }
            Err(e) => return Err(e),
        },
        None => (None, None),
    };
    let optimizer = model.map(|(model, head)| {
        if let Some(d) = &dir {
            eprintln!(
                "vec2prompt serve: prompt optimizer from {}{}",
                d.display(),
                if head.is_some() {
                    ", with its answer head"
                } else {
                    ""
                }
            );
        }
        Arc::new(vec2prompt_optimizer::service::Optimizer {
            model,
            surrogate: latent.clone(),
            head,
        })
    });
    let path = args
        .feedback_log
        .clone()
        .unwrap_or_else(|| config.home.root.join("feedback").join("feedback.jsonl"));
    let max = args.max_feedback_bytes.unwrap_or(64 << 20);
    let feedback = vec2prompt_optimizer::FeedbackLog::open(&path, max)
        .with_context(|| format!("cannot open the feedback log {}", path.display()))?;
    Ok(vec2prompt_server::OptimizerState {
        optimizer,
        dir,
        feedback: Some(Arc::new(feedback)),
    })
}

/// Prints the OpenAPI document (the committed `docs/openapi.json`).
pub fn print_schema(_args: &PrintSchemaArgs) -> Result<()> {
    println!("{}", vec2prompt_server::openapi_json());
    Ok(())
}
