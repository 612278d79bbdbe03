//! The settings schema: every section (`backends.llm`, `backends.embedder`, `backends`,
//! `server`, the top level) declared once with `settings!`, so each field is a flag, an
//! environment variable and a YAML key, and the global flags of every command.

use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::path::PathBuf;
use vec2prompt_core::{Secret, settings};
use vec2prompt_llm::WeightFormat;
use vec2prompt_openai::RateLimits;
use vec2prompt_openai::duration::Span;
use vec2prompt_server::ServerSettings;

/// Where a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// A local model file or directory.
    Local,
    /// An OpenAI-compatible HTTP service.
    Openai,
}

settings! {
    /// The LLM (`backends.llm`): a local GGUF chat model or an OpenAI-compatible
    /// `/chat/completions` service.
    pub struct LlmSettings {}
    optional {
        /// Where the LLM runs: local or openai [default: openai when a base URL is set,
        /// else local].
        #[clap(id = "llm-kind", long = "llm-kind", env = "VEC2PROMPT_LLM_KIND", value_enum, global = true)]
        kind: BackendKind,
        /// Local: GGUF chat model file [default: the fetched SmolLM2-135M-Instruct Q4_1].
        #[clap(id = "llm", long = "llm", env = "VEC2PROMPT_LLM", global = true)]
        path: PathBuf,
        /// Local: how the weights are held: q8_0 (requantized to int8, the fast default),
        /// native (as in the file) or f32 (dequantized, exact).
        #[clap(id = "llm-weights", long = "llm-weights", env = "VEC2PROMPT_LLM_WEIGHTS", global = true)]
        weights: WeightFormat,
        /// Local: most sequences decoded in one forward pass [default: 32].
        #[clap(id = "llm-max-batch", long = "llm-max-batch", env = "VEC2PROMPT_LLM_MAX_BATCH", global = true)]
        max_batch: usize,
        /// OpenAI-compatible: base URL with the API version, e.g. http://127.0.0.1:8000/v1.
        #[clap(id = "llm-base-url", long = "llm-base-url", env = "VEC2PROMPT_LLM_BASE_URL", global = true)]
        base_url: String,
        /// OpenAI-compatible: the remote model id.
        #[clap(id = "llm-model", long = "llm-model", env = "VEC2PROMPT_LLM_MODEL", global = true)]
        model: String,
        /// OpenAI-compatible: API key (prefer the environment variable or a key file).
        #[clap(id = "llm-api-key", long = "llm-api-key", env = "VEC2PROMPT_LLM_API_KEY", hide_env_values = true, global = true)]
        api_key: Secret,
        /// OpenAI-compatible: file holding the API key.
        #[clap(id = "llm-api-key-file", long = "llm-api-key-file", env = "VEC2PROMPT_LLM_API_KEY_FILE", global = true)]
        api_key_file: PathBuf,
        /// OpenAI-compatible: time limit of one HTTP attempt (30s, 250ms, 2m) [default: 60s].
        #[clap(id = "llm-timeout", long = "llm-timeout", env = "VEC2PROMPT_LLM_TIMEOUT", global = true)]
        timeout: Span,
        /// OpenAI-compatible: the remote model's context in tokens [default: 8192].
        #[clap(id = "llm-context-length", long = "llm-context-length", env = "VEC2PROMPT_LLM_CONTEXT_LENGTH", global = true)]
        context_length: usize,
    }
    sections {}
}

settings! {
    /// The embedder (`backends.embedder`): a local sentence-transformers directory or an
    /// OpenAI-compatible `/embeddings` service.
    pub struct EmbedderSettings {}
    optional {
        /// Where the embedder runs: local or openai [default: openai when a base URL is
        /// set, else local].
        #[clap(id = "embedder-kind", long = "embedder-kind", env = "VEC2PROMPT_EMBEDDER_KIND", value_enum, global = true)]
        kind: BackendKind,
        /// Local: sentence-transformers model directory [default: the fetched
        /// all-MiniLM-L6-v2].
        #[clap(id = "embedder", long = "embedder", env = "VEC2PROMPT_EMBEDDER", global = true)]
        path: PathBuf,
        /// Texts per forward pass (local) or per request (OpenAI-compatible)
        /// [default: 32 local, 128 remote].
        #[clap(id = "embed-batch", long = "embed-batch", env = "VEC2PROMPT_EMBED_BATCH", global = true)]
        batch: usize,
        /// OpenAI-compatible: base URL with the API version, e.g. http://127.0.0.1:8000/v1.
        #[clap(id = "embedder-base-url", long = "embedder-base-url", env = "VEC2PROMPT_EMBEDDER_BASE_URL", global = true)]
        base_url: String,
        /// OpenAI-compatible: the remote model id.
        #[clap(id = "embedder-model", long = "embedder-model", env = "VEC2PROMPT_EMBEDDER_MODEL", global = true)]
        model: String,
        /// OpenAI-compatible: API key (prefer the environment variable or a key file).
        #[clap(id = "embedder-api-key", long = "embedder-api-key", env = "VEC2PROMPT_EMBEDDER_API_KEY", hide_env_values = true, global = true)]
        api_key: Secret,
        /// OpenAI-compatible: file holding the API key.
        #[clap(id = "embedder-api-key-file", long = "embedder-api-key-file", env = "VEC2PROMPT_EMBEDDER_API_KEY_FILE", global = true)]
        api_key_file: PathBuf,
        /// OpenAI-compatible: `dimensions` to request; every vector is checked against it
        /// [default: none sent, the length learned from one probe request].
        #[clap(id = "embedder-dimensions", long = "embedder-dimensions", env = "VEC2PROMPT_EMBEDDER_DIMENSIONS", global = true)]
        dimensions: usize,
        /// OpenAI-compatible: time limit of one HTTP attempt (30s, 250ms, 2m) [default: 60s].
        #[clap(id = "embedder-timeout", long = "embedder-timeout", env = "VEC2PROMPT_EMBEDDER_TIMEOUT", global = true)]
        timeout: Span,
    }
    sections {}
}

settings! {
    /// The `backends:` section: the LLM and the embedder of every command, and the limits
    /// and retries every remote request of the process shares (they may share an account).
    pub struct BackendsSettings {}
    optional {
        /// Limits of the remote backends together: tier_1 … tier_5, or custom values in
        /// YAML {requests_per_minute, requests_per_day, tokens_per_minute, max_concurrent}
        /// [default: tier_1].
        #[clap(long, env = "VEC2PROMPT_RATE_LIMITS", global = true)]
        rate_limits: RateLimits,
        /// Most attempts per remote request, the first included [default: 5].
        #[clap(long, env = "VEC2PROMPT_RETRY_ATTEMPTS", global = true)]
        retry_attempts: u32,
        /// Time budget of one remote request across its attempts and backoffs
        /// [default: 10m].
        #[clap(long, env = "VEC2PROMPT_RETRY_TIMEOUT", global = true)]
        retry_timeout: Span,
    }
    sections {
        /// The LLM.
        #[clap(flatten)]
        llm: LlmSettings,
        /// The embedder.
        #[clap(flatten)]
        embedder: EmbedderSettings,
    }
}

settings! {
    /// Everything a config file (`config.yaml`) holds; every key is optional.
    pub struct Settings {}
    optional {
        /// Directory of the learned models (surrogate, inverter, corrector) [default:
        /// $VEC2PROMPT_HOME/latent if trained there, else the default model, embedded in the
        /// binary and installed into $VEC2PROMPT_HOME/models/latent].
        #[clap(long, env = "VEC2PROMPT_LATENT", global = true)]
        latent: PathBuf,
        /// Directory of the generator's adapter (soft prompt + LoRA on the local LLM),
        /// or `none` to leave it out [default: $VEC2PROMPT_HOME/generator if trained there,
        /// else the shipped one in the source tree's assets/generator].
        #[clap(long, env = "VEC2PROMPT_GENERATOR", global = true)]
        generator: PathBuf,
        /// A `tokenizer.json` whose whole words make the content lexicon (the search
        /// proposes requests naming the words whose written list embeds nearest the
        /// target), or `none` to leave content candidates out [default: the default
        /// embedder's tokenizer.json, when installed].
        #[clap(long, env = "VEC2PROMPT_LEXICON", global = true)]
        lexicon: PathBuf,
    }
    sections {
        /// The backends every command uses.
        #[clap(flatten)]
        backends: BackendsSettings,
        /// The settings of `vec2prompt serve`; its flags belong to that command alone.
        #[clap(skip)]
        server: ServerSettings,
    }
}

/// Options shared by every command: where the home and the config file are, and every
/// setting of [`Settings`] as a global flag.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Home directory for models and caches [default: ~/.cache/vec2prompt].
    #[clap(long, env = "VEC2PROMPT_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// YAML config file [default: $VEC2PROMPT_HOME/config.yaml if it exists].
    #[clap(long, env = "VEC2PROMPT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The settings given as flags or environment variables.
    #[clap(flatten)]
    pub settings: Settings,
}
