//! `vec2prompt serve` (the HTTP API) and `vec2prompt print-schema` (its OpenAPI document).

use crate::config::{BackendChoice, Config, ServerFileConfig};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use vec2prompt_core::{Embedder, Llm};
use vec2prompt_latent::LatentModel;
use vec2prompt_openai::{
    OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy,
};
use vec2prompt_search::{Neighbours, Searcher};
use vec2prompt_server::api::{DatasetStatus, ModelStatus, RateLimitTier};
use vec2prompt_server::{Backends, CounterFn, ServerConfig, TokenCounter};

/// Arguments of `serve`; each overrides the config file's `server:` key of the same name.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The prompt optimizer behind `POST /optimize` [default:
    /// $VEC2PROMPT_HOME/optimizer when one was trained there]. It runs on the local GGUF.
    #[clap(long, env = "VEC2PROMPT_OPTIMIZER")]
    pub optimizer: Option<PathBuf>,
    /// The feedback log `POST /feedback` appends to [default:
    /// $VEC2PROMPT_HOME/feedback/feedback.jsonl].
    #[clap(long, env = "VEC2PROMPT_FEEDBACK_LOG")]
    pub feedback_log: Option<PathBuf>,
    /// Largest feedback log, in bytes; appends beyond it are refused [default: 64 MiB].
    #[clap(long, env = "VEC2PROMPT_MAX_FEEDBACK_BYTES")]
    pub max_feedback_bytes: Option<u64>,
    /// Address to bind [default: 127.0.0.1; 0.0.0.0 for every interface].
    #[clap(long, env = "VEC2PROMPT_HOST")]
    pub host: Option<String>,
    /// Port to bind; 0 picks a free one (the address is printed) [default: 8080].
    #[clap(long, env = "VEC2PROMPT_PORT")]
    pub port: Option<u16>,
    /// Bearer token required on every route but /health [default: none, no auth].
    #[clap(long, env = "VEC2PROMPT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Most embeddings or texts one request may carry [default: 100].
    #[clap(long, env = "VEC2PROMPT_MAX_BATCH_ITEMS")]
    pub max_batch_items: Option<usize>,
    /// Largest request body in bytes; larger ones get 413 [default: 2097152].
    #[clap(long, env = "VEC2PROMPT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Requests admitted at once (queued or running on the model); more get 429
    /// [default: 64].
    #[clap(long, env = "VEC2PROMPT_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Most queued jobs the model worker runs together, sharing forward passes
    /// [default: 32].
    #[clap(long, env = "VEC2PROMPT_WORKER_BATCH")]
    pub worker_batch: Option<usize>,
    /// Ingested dataset (`vec2prompt ingest`) whose train prompts are the candidates
    /// [default: $VEC2PROMPT_HOME/datasets/alpaca].
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: Option<PathBuf>,
    /// LLM calls per target when a request gives no `options.budget`; 0 is fast mode
    /// [default: 0].
    #[clap(long, env = "VEC2PROMPT_DEFAULT_BUDGET")]
    pub default_budget: Option<usize>,
    /// Most LLM calls per target a request may ask for [default: 64].
    #[clap(long, env = "VEC2PROMPT_MAX_BUDGET")]
    pub max_budget: Option<usize>,
    /// Search wall-time limit in milliseconds when a request gives none [default: none].
    #[clap(long, env = "VEC2PROMPT_DEFAULT_MAX_WALL_MS")]
    pub default_max_wall_ms: Option<u64>,
    /// Rate-limit tier of /generate_prompts_parallel when a request gives none
    /// (tier_1 … tier_5) [default: tier_1].
    #[clap(long, env = "VEC2PROMPT_RATE_LIMIT_TIER")]
    pub rate_limit_tier: Option<String>,
    /// Most tokens a chat completion may ask for [default: 512].
    #[clap(long, env = "VEC2PROMPT_MAX_TOKENS")]
    pub max_tokens: Option<usize>,
    /// Most tokens of a chat prompt (the LLM's tokenizer); longer ones get 422 before
    /// they are queued [default: 2048].
    #[clap(long, env = "VEC2PROMPT_MAX_CHAT_INPUT_TOKENS")]
    pub max_chat_input_tokens: Option<usize>,
    /// Most tokens of one text to embed (the embedder's tokenizer) [default: 4096].
    #[clap(long, env = "VEC2PROMPT_MAX_TEXT_INPUT_TOKENS")]
    pub max_text_input_tokens: Option<usize>,
    /// Most connections open at once; more get 503 [default: 512].
    #[clap(long, env = "VEC2PROMPT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Milliseconds to send a request's header, from connecting or from the previous
    /// response (also the idle keep-alive timeout) [default: 10000].
    #[clap(long, env = "VEC2PROMPT_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Milliseconds to send a request's body; 408 after [default: 30000].
    #[clap(long, env = "VEC2PROMPT_BODY_TIMEOUT_MS")]
    pub body_timeout_ms: Option<u64>,
    /// Milliseconds requests in flight may run after SIGTERM or Ctrl-C [default: 30000].
    #[clap(long, env = "VEC2PROMPT_SHUTDOWN_TIMEOUT_MS")]
    pub shutdown_timeout_ms: Option<u64>,
    /// Use an OpenAI-compatible chat service as the LLM, at this base URL (e.g.
    /// https://api.openai.com/v1) [default: the config's backends.llm, else local].
    #[clap(long, env = "VEC2PROMPT_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// Model id of the remote LLM.
    #[clap(long, env = "VEC2PROMPT_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// API key of the remote LLM.
    #[clap(long, env = "VEC2PROMPT_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,
    /// Use an OpenAI-compatible embeddings service, at this base URL [default: the
    /// config's backends.embedder, else local]. The dataset must have been embedded by it.
    #[clap(long, env = "VEC2PROMPT_EMBEDDER_BASE_URL")]
    pub embedder_base_url: Option<String>,
    /// Model id of the remote embedder.
    #[clap(long, env = "VEC2PROMPT_EMBEDDER_MODEL")]
    pub embedder_model: Option<String>,
    /// API key of the remote embedder.
    #[clap(long, env = "VEC2PROMPT_EMBEDDER_API_KEY", hide_env_values = true)]
    pub embedder_api_key: Option<String>,
    /// `dimensions` requested from the remote embedder.
    #[clap(long, env = "VEC2PROMPT_EMBEDDER_DIMENSIONS")]
    pub embedder_dimensions: Option<usize>,
    /// Limits shared by remote backends: tier_1 … tier_5 or custom values
    /// [default: backends.rate_limits, else the rate-limit tier].
    #[clap(long, env = "VEC2PROMPT_RATE_LIMITS")]
    pub rate_limits: Option<String>,
}

/// The remote config of one backend: flags over the config file's `backends:` entry;
/// `None` means local.
pub(crate) fn remote(
    what: &str,
    url: Option<&String>,
    model: Option<&String>,
    key: Option<&String>,
    file: Option<&BackendChoice>,
) -> Result<Option<RemoteConfig>> {
    let mut config = match (file, url) {
        (Some(BackendChoice::Openai(c)), _) => c.clone(),
        (_, Some(u)) => {
            let Some(m) = model else {
                bail!("--{what}-base-url needs --{what}-model (the remote model id)");
            };
            RemoteConfig::new(u.clone(), m.clone())
        }
        _ => return Ok(None),
    };
    if let Some(u) = url {
        config.base_url = u.clone();
    }
    if let Some(m) = model {
        config.model = m.clone();
    }
    if let Some(k) = key {
        config.api_key = Some(k.clone());
    }
    config
        .validate()
        .with_context(|| format!("remote {what}"))?;
    Ok(Some(config))
}

/// Arguments of `print-schema`.
#[derive(Debug, Args)]
pub struct PrintSchemaArgs {}

/// Flags/env over the config file's `server:` section over the defaults.
fn server_config(args: &ServeArgs, file: &ServerFileConfig) -> Result<ServerConfig> {
    let d = ServerConfig::default();
    let tier = match args
        .rate_limit_tier
        .clone()
        .or(file.rate_limit_tier.clone())
    {
        Some(t) => t
            .parse::<RateLimitTier>()
            .map_err(anyhow::Error::msg)
            .context("--rate-limit-tier")?,
        None => d.rate_limit_tier,
    };
    let config = ServerConfig {
        host: args.host.clone().or(file.host.clone()).unwrap_or(d.host),
        port: args.port.or(file.port).unwrap_or(d.port),
        api_key: args
            .api_key
            .clone()
            .or(file.api_key.clone())
            .filter(|k| !k.is_empty()),
        max_batch_items: args
            .max_batch_items
            .or(file.max_batch_items)
            .unwrap_or(d.max_batch_items),
        max_body_bytes: args
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(d.max_body_bytes),
        queue_capacity: args
            .queue_capacity
            .or(file.queue_capacity)
            .unwrap_or(d.queue_capacity),
        worker_batch: args
            .worker_batch
            .or(file.worker_batch)
            .unwrap_or(d.worker_batch),
        default_budget: args
            .default_budget
            .or(file.default_budget)
            .unwrap_or(d.default_budget),
        max_budget: args.max_budget.or(file.max_budget).unwrap_or(d.max_budget),
        default_max_wall_ms: args.default_max_wall_ms.or(file.default_max_wall_ms),
        rate_limit_tier: tier,
        max_tokens: args.max_tokens.or(file.max_tokens).unwrap_or(d.max_tokens),
        max_chat_input_tokens: args
            .max_chat_input_tokens
            .or(file.max_chat_input_tokens)
            .unwrap_or(d.max_chat_input_tokens),
        max_text_input_tokens: args
            .max_text_input_tokens
            .or(file.max_text_input_tokens)
            .unwrap_or(d.max_text_input_tokens),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(d.max_connections),
        header_timeout_ms: args
            .header_timeout_ms
            .or(file.header_timeout_ms)
            .unwrap_or(d.header_timeout_ms),
        body_timeout_ms: args
            .body_timeout_ms
            .or(file.body_timeout_ms)
            .unwrap_or(d.body_timeout_ms),
        shutdown_timeout_ms: args
            .shutdown_timeout_ms
            .or(file.shutdown_timeout_ms)
            .unwrap_or(d.shutdown_timeout_ms),
    };
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}

/// Loads the models and the dataset, then serves until SIGTERM or Ctrl-C.
pub fn serve(args: &ServeArgs, config: &Config) -> Result<()> {
    let server = server_config(args, &config.server)?;
    let dataset = args
        .dataset
        .clone()
        .or(config.server.dataset.clone())
        .unwrap_or_else(|| config.home.root.join("datasets").join("alpaca"));
    let have_dataset = dataset.join("records.jsonl").is_file();
    if !have_dataset && config.latent.is_none() {
        bail!(
            "no candidates: no learned model was found and there is no ingested dataset at {}: \
             run `vec2prompt ingest --input <data> --dataset {}` first, point --dataset \
             (VEC2PROMPT_DATASET) at one, or --latent at a trained model",
            dataset.display(),
            dataset.display()
        );
    }
    let b = &config.backends;
    let llm_remote = remote(
        "llm",
        args.llm_base_url.as_ref(),
        args.llm_model.as_ref(),
        args.llm_api_key.as_ref(),
        b.llm.as_ref(),
    )?;
    let mut embedder_remote = remote(
        "embedder",
        args.embedder_base_url.as_ref(),
        args.embedder_model.as_ref(),
        args.embedder_api_key.as_ref(),
        b.embedder.as_ref(),
    )?;
    if let (Some(c), Some(d)) = (&mut embedder_remote, args.embedder_dimensions) {
        c.dimensions = Some(d);
    }
    let limits = match &args.rate_limits {
        Some(s) => s.parse::<RateLimits>().context("--rate-limits")?,
        None => match b.rate_limits {
            Some(l) => l,
            None => RateLimits::tier(server.rate_limit_tier.as_str())?,
        },
    };
    // One limiter and retry policy for every remote backend (they may share an account).
    let limiter = Arc::new(RateLimiter::new(limits));
    let retry = RetryPolicy::default();
    let mut retries: Vec<(String, CounterFn)> = Vec::new();
    let (embedder, embedder_status, embed_tokens): (
        Arc<dyn Embedder>,
        ModelStatus,
        Option<TokenCounter>,
    ) = match embedder_remote {
        Some(c) => {
            let location = c.base_url.clone();
            let e = OpenAiEmbedder::new(c, limiter.clone(), retry.clone())?;
            let status = ModelStatus {
                name: e.info().name.clone(),
                backend: "openai".to_string(),
                location,
            };
            (Arc::new(e), status, None)
        }
        None => {
            let e = Arc::new(config.load_embedder()?);
            let status = ModelStatus {
                name: e.info().name.clone(),
                backend: "local".to_string(),
                location: config.embedder.display().to_string(),
            };
            let counter = e.clone();
            let tokens: TokenCounter =
                Arc::new(move |t: &str| counter.tokenize(t).map_or(0, |ids| ids.len()));
            (e, status, Some(tokens))
        }
    };
    let (llm, llm_status): (Arc<dyn Llm>, ModelStatus) = match llm_remote {
        Some(c) => {
            let location = c.base_url.clone();
            let l = OpenAiLlm::new(c, limiter.clone(), retry.clone())?;
            let status = ModelStatus {
                name: l.info().name.clone(),
                backend: "openai".to_string(),
                location,
            };
            (Arc::new(l), status)
        }
        None => {
            let l = config.load_llm()?;
            let status = ModelStatus {
                name: l.info().name.clone(),
                backend: "local".to_string(),
                location: config.llm.display().to_string(),
            };
            (Arc::new(l), status)
        }
    };
    if llm_status.backend == "openai" || embedder_status.backend == "openai" {
        let l = limiter.clone();
        retries.push(("remote".to_string(), Arc::new(move || l.stats().retries)));
    }
    let neighbours = if have_dataset {
        Some(
            Neighbours::load(&dataset, embedder.info())
                .with_context(|| format!("cannot load the dataset {}", dataset.display()))?,
        )
    } else {
        None
    };
    let latent = match &config.latent {
        Some(dir) => Some(Arc::new(LatentModel::load(dir).with_context(|| {
            format!("cannot load the learned models in {}", dir.display())
        })?)),
        None => None,
    };
    let backends = Backends {
        llm,
        embedder,
        llm_status,
        embedder_status,
        embed_tokens,
        retries,
    };
    let status = neighbours.as_ref().map(|n| DatasetStatus {
        path: dataset.display().to_string(),
        train_records: n.len(),
    });
    let neighbours = neighbours.map(Arc::new);
    let optimizer = optimizer_state(args, config, latent.clone())?;
    vec2prompt_server::run(server, &backends, status, optimizer, |env| {
        Searcher::new(env, neighbours, latent)
    })?;
    Ok(())
}

/// The optimizer routes' state: the optimizer when one is given or trained in the
/// default place (it needs the local GGUF as its base), and the feedback log.
fn optimizer_state(
    args: &ServeArgs,
    config: &Config,
    latent: Option<Arc<LatentModel>>,
) -> Result<vec2prompt_server::optimize::OptimizerState> {
    use vec2prompt_optimizer::model::MANIFEST_FILE;
    let default = crate::optimizer_cmd::default_optimizer_dir(&config.home);
    let dir = match &args.optimizer {
        Some(d) => Some(d.clone()),
        None => default.join(MANIFEST_FILE).exists().then_some(default),
    };
    let optimizer = match &dir {
        Some(d) => {
            let model = vec2prompt_optimizer::PromptOptimizer::load(&config.llm, d)
                .with_context(|| format!("cannot load the prompt optimizer in {}", d.display()))?;
            let surrogate = latent.clone();
            eprintln!("vec2prompt serve: prompt optimizer from {}", d.display());
            Some(Arc::new(vec2prompt_optimizer::service::Optimizer {
                model,
                surrogate,
            }))
        }
        None => None,
    };
    let path = args
        .feedback_log
        .clone()
        .unwrap_or_else(|| config.home.root.join("feedback").join("feedback.jsonl"));
    let max = args.max_feedback_bytes.unwrap_or(64 << 20);
    let feedback = vec2prompt_optimizer::FeedbackLog::open(&path, max)
        .with_context(|| format!("cannot open the feedback log {}", path.display()))?;
    Ok(vec2prompt_server::optimize::OptimizerState {
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
