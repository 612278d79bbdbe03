//! Resolving where the models are and how to run them: flags and environment variables
//! (handled by clap) override the YAML config file, which overrides the defaults under
//! `$VEC2PROMPT_HOME`.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};
use vec2prompt_llm::{LocalLlm, LocalLlmConfig, WeightFormat};
use vec2prompt_models::{DEFAULT_EMBEDDER, DEFAULT_LLM, Home, ModelSpec};

/// Options shared by every command that loads models.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Home directory for models and caches [default: ~/.cache/vec2prompt].
    #[clap(long, env = "VEC2PROMPT_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// YAML config file [default: $VEC2PROMPT_HOME/config.yaml if it exists].
    #[clap(long, env = "VEC2PROMPT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Sentence-transformers model directory [default: the fetched all-MiniLM-L6-v2].
    #[clap(long, env = "VEC2PROMPT_EMBEDDER", global = true)]
    pub embedder: Option<PathBuf>,
    /// GGUF chat model file [default: the fetched SmolLM2-135M-Instruct Q4_1].
    #[clap(long, env = "VEC2PROMPT_LLM", global = true)]
    pub llm: Option<PathBuf>,
    /// How the LLM's weights are held: q8_0 (requantized to int8, the fast default),
    /// native (as in the file) or f32 (dequantized, exact).
    #[clap(long, env = "VEC2PROMPT_LLM_WEIGHTS", global = true)]
    pub llm_weights: Option<String>,
    /// Most sequences the LLM decodes in one forward pass.
    #[clap(long, env = "VEC2PROMPT_LLM_MAX_BATCH", global = true)]
    pub llm_max_batch: Option<usize>,
    /// Texts per embedder forward pass.
    #[clap(long, env = "VEC2PROMPT_EMBED_BATCH", global = true)]
    pub embed_batch: Option<usize>,
    /// Directory of the learned models (surrogate, inverter, corrector) [default:
    /// $VEC2PROMPT_HOME/latent if trained there, else the default model, embedded in the
    /// binary and installed into $VEC2PROMPT_HOME/models/latent].
    #[clap(long, env = "VEC2PROMPT_LATENT", global = true)]
    pub latent: Option<PathBuf>,
}

/// The YAML config file (`config.yaml`); every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Sentence-transformers model directory.
    pub embedder: Option<PathBuf>,
    /// GGUF chat model file.
    pub llm: Option<PathBuf>,
    /// LLM weight format (q8_0, native, f32).
    pub llm_weights: Option<String>,
    /// Most sequences per LLM forward pass.
    pub llm_max_batch: Option<usize>,
    /// Texts per embedder forward pass.
    pub embed_batch: Option<usize>,
    /// Directory of the learned models.
    pub latent: Option<PathBuf>,
    /// `vec2prompt serve` settings.
    #[serde(default)]
    pub server: ServerFileConfig,
    /// Which backends `vec2prompt serve` runs: local (default) or OpenAI-compatible.
    #[serde(default)]
    pub backends: BackendsFileConfig,
}

/// The `backends:` section of `config.yaml`.
///
/// ```yaml
/// backends:
///   llm: {kind: openai, base_url: https://api.openai.com/v1, model: gpt-4o-mini, api_key: sk-...}
///   embedder: {kind: local}
///   rate_limits: tier_2
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendsFileConfig {
    /// The LLM [default: local].
    pub llm: Option<BackendChoice>,
    /// The embedder [default: local].
    pub embedder: Option<BackendChoice>,
    /// Limits shared by the remote backends: a tier name (`tier_1` … `tier_5`) or custom
    /// values [default: the server's rate_limit_tier].
    pub rate_limits: Option<vec2prompt_openai::RateLimits>,
}

/// A local model or an OpenAI-compatible service.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackendChoice {
    /// The local model (`--llm` / `--embedder`).
    Local,
    /// An OpenAI-compatible service (base_url, api_key, model, dimensions, timeout, …).
    Openai(vec2prompt_openai::RemoteConfig),
}

/// The `server:` section of `config.yaml`; flags and environment variables of
/// `vec2prompt serve` override each key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFileConfig {
    /// Address to bind.
    pub host: Option<String>,
    /// Port to bind (0 picks a free one).
    pub port: Option<u16>,
    /// Bearer token required on every route but /health.
    pub api_key: Option<String>,
    /// Most embeddings or texts per request.
    pub max_batch_items: Option<usize>,
    /// Largest request body in bytes.
    pub max_body_bytes: Option<usize>,
    /// Requests admitted at once (queued or running); more get 429.
    pub queue_capacity: Option<usize>,
    /// Most queued jobs the model worker runs together.
    pub worker_batch: Option<usize>,
    /// Ingested dataset whose train prompts are the candidates.
    pub dataset: Option<PathBuf>,
    /// LLM calls per target when a request gives no budget (0 = fast mode).
    pub default_budget: Option<usize>,
    /// Most LLM calls per target a request may ask for.
    pub max_budget: Option<usize>,
    /// Search wall-time limit in milliseconds when a request gives none.
    pub default_max_wall_ms: Option<u64>,
    /// Default rate-limit tier of /generate_prompts_parallel (tier_1 … tier_5).
    pub rate_limit_tier: Option<String>,
    /// Most tokens a chat completion may ask for.
    pub max_tokens: Option<usize>,
    /// Most tokens of a chat prompt.
    pub max_chat_input_tokens: Option<usize>,
    /// Most tokens of one text to embed.
    pub max_text_input_tokens: Option<usize>,
    /// Most connections open at once.
    pub max_connections: Option<usize>,
    /// Milliseconds to send a request's header (also the idle keep-alive timeout).
    pub header_timeout_ms: Option<u64>,
    /// Milliseconds to send a request's body.
    pub body_timeout_ms: Option<u64>,
    /// Milliseconds requests in flight may run after SIGTERM or Ctrl-C.
    pub shutdown_timeout_ms: Option<u64>,
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Embedder directory.
    pub embedder: PathBuf,
    /// LLM file.
    pub llm: PathBuf,
    /// LLM settings.
    pub llm_config: LocalLlmConfig,
    /// Embedder settings.
    pub embed_config: LocalEmbedderConfig,
    /// The home directory (models, datasets, caches).
    pub home: Home,
    /// Directory of the learned models, if one was found.
    pub latent: Option<PathBuf>,
    /// The config file's `server:` section.
    pub server: ServerFileConfig,
    /// The config file's `backends:` section.
    pub backends: BackendsFileConfig,
}

impl Config {
    /// Merges flags/env, the config file and defaults.
    pub fn resolve(args: &GlobalArgs) -> Result<Self> {
        let home = args
            .home
            .clone()
            .map(Home::new)
            .unwrap_or_else(Home::from_env);
        let file = match &args.config {
            Some(p) => read_config(p)?,
            None => {
                let p = home.root.join("config.yaml");
                if p.exists() {
                    read_config(&p)?
                } else {
                    FileConfig::default()
                }
            }
        };
        let embedder = args
            .embedder
            .clone()
            .or(file.embedder)
            .unwrap_or_else(|| vec2prompt_models::fetch::entry_path(&home, DEFAULT_EMBEDDER));
        let llm = args
            .llm
            .clone()
            .or(file.llm)
            .unwrap_or_else(|| vec2prompt_models::fetch::entry_path(&home, DEFAULT_LLM));
        let weights: WeightFormat = match args.llm_weights.clone().or(file.llm_weights) {
            Some(s) => s.parse().context("--llm-weights")?,
            None => LocalLlmConfig::default().weights,
        };
        let max_batch = args
            .llm_max_batch
            .or(file.llm_max_batch)
            .unwrap_or(LocalLlmConfig::default().max_batch);
        let embed_batch = args
            .embed_batch
            .or(file.embed_batch)
            .unwrap_or(LocalEmbedderConfig::default().batch_size);
        if max_batch == 0 || embed_batch == 0 {
            bail!("--llm-max-batch and --embed-batch must be at least 1");
        }
        Ok(Self {
            embedder,
            llm,
            llm_config: LocalLlmConfig { weights, max_batch },
            embed_config: LocalEmbedderConfig {
                batch_size: embed_batch,
            },
            latent: resolve_latent(args.latent.clone().or(file.latent.clone()), &home),
            home,
            server: file.server,
            backends: file.backends,
        })
    }

    /// Loads the embedder, explaining how to get it if it is missing.
    pub fn load_embedder(&self) -> Result<LocalEmbedder> {
        require(&self.embedder, DEFAULT_EMBEDDER, "--embedder")?;
        Ok(LocalEmbedder::load(
            &self.embedder,
            self.embed_config.clone(),
        )?)
    }

    /// The string that names the local LLM's configuration for greedy answers of at most
    /// `max_new_tokens` tokens: the evaluation's answer cache and the environment memory
    /// are keyed by it, so another model, weight format or answer length never shares
    /// their answers.
    pub fn local_llm_key(&self, llm_name: &str, max_new_tokens: usize) -> String {
        format!(
            "{llm_name} weights={:?} max_new_tokens={max_new_tokens} greedy",
            self.llm_config.weights
        )
    }

    /// Loads the LLM, explaining how to get it if it is missing.
    pub fn load_llm(&self) -> Result<LocalLlm> {
        require(&self.llm, DEFAULT_LLM, "--llm")?;
        Ok(LocalLlm::load(&self.llm, self.llm_config.clone())?)
    }
}

fn read_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn require(path: &Path, spec: &ModelSpec, flag: &str) -> Result<()> {
    if !path.exists() {
        bail!(
            "{} not found at {}: run `vec2prompt models fetch` to download the default {}, \
             or point {flag} (or its environment variable) at your own model",
            spec.name,
            path.display(),
            spec.name
        );
    }
    Ok(())
}

/// The learned models' directory: the one given, else `$VEC2PROMPT_HOME/latent` when a
/// model was trained there, else the default model installed in
/// `$VEC2PROMPT_HOME/models/latent` (installed now, from the bytes embedded in the binary,
/// if it is missing or another binary's), else the source tree's copy when it is still
/// there.
fn resolve_latent(given: Option<PathBuf>, home: &Home) -> Option<PathBuf> {
    use vec2prompt_latent::LatentModel;
    use vec2prompt_models::latent::{self, LatentOutcome};
    if given.is_some() {
        return given;
    }
    let trained = home.root.join("latent");
    if LatentModel::exists(&trained) {
        return Some(trained);
    }
    match latent::install(home) {
        Ok(LatentOutcome::AlreadyPresent(dir)) => return Some(dir),
        Ok(LatentOutcome::Installed { path, source }) => {
            eprintln!(
                "installed the default learned model into {} (from {source})",
                path.display()
            );
            return Some(path);
        }
        Ok(LatentOutcome::Unavailable) => {}
        Err(e) => eprintln!("warning: cannot install the default learned model: {e}"),
    }
    let installed = latent::installed_dir(home);
    if LatentModel::exists(&installed) {
        return Some(installed);
    }
    let source = latent::source_tree_dir();
    LatentModel::exists(&source).then_some(source)
}
