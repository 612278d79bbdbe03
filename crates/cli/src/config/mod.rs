//! The configuration of every command, defined once per section (`backends.llm`,
//! `backends.embedder`, `backends`, `server`, the top level) with the `settings!` macro:
//! each field is at the same time a flag, an environment variable and a YAML key, and the
//! flags and environment (handled by clap) override the YAML config file through the one
//! generated `merge`; defaults fill in the rest. [`Config`] then builds the backends (local,
//! or OpenAI-compatible behind one rate limiter and retry policy) and the searcher, so
//! every command gets the same LLM and embedder from the same settings.
//!
//! - [`settings`]: the schema, the sections and the global flags;
//! - this module: the builder, which resolves the settings once into a [`Config`] and
//!   assembles the backends, the learned models and the searcher from it.

pub mod settings;

pub use settings::*;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use vec2prompt_core::progress::Progress;
use vec2prompt_core::{Embedder, GenerationParams, Llm, Secret};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};
use vec2prompt_latent::LatentModel;
use vec2prompt_latent::generator::Generator;
use vec2prompt_llm::{LocalLlm, LocalLlmConfig};
use vec2prompt_models::{DEFAULT_EMBEDDER, DEFAULT_LLM, Home, ModelSpec};
use vec2prompt_openai::{
    OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy,
};
use vec2prompt_search::lexicon::vocabulary_words;
use vec2prompt_search::{Environment, Lexicon, Neighbours, Recall, Searcher};
use vec2prompt_server::ServerSettings;

/// The LLM, resolved.
#[derive(Debug, Clone)]
pub enum LlmBackend {
    /// A local GGUF file.
    Local {
        /// The file.
        path: PathBuf,
        /// Weight format and batch.
        config: LocalLlmConfig,
    },
    /// An OpenAI-compatible service.
    Openai(RemoteConfig),
}

/// The embedder, resolved.
#[derive(Debug, Clone)]
pub enum EmbedderBackend {
    /// A local sentence-transformers directory.
    Local {
        /// The directory.
        path: PathBuf,
        /// Batch size.
        config: LocalEmbedderConfig,
    },
    /// An OpenAI-compatible service.
    Openai(RemoteConfig),
}

/// Fully resolved settings, and the one rate limiter every remote backend shares.
#[derive(Debug, Clone)]
pub struct Config {
    /// The home directory (models, datasets, caches).
    pub home: Home,
    /// The LLM.
    pub llm: LlmBackend,
    /// The embedder.
    pub embedder: EmbedderBackend,
    /// Directory of the learned models, if one was found.
    pub latent: Option<PathBuf>,
    /// Directory of the generator's adapter, if one was found (and not turned off).
    pub generator: Option<PathBuf>,
    /// The tokenizer whose words make the content lexicon (`None`: turned off).
    pub lexicon: Option<PathBuf>,
    /// The config file's `server:` section (the `serve` flags are merged over it).
    pub server: ServerSettings,
    /// Retries of remote requests.
    pub retry: RetryPolicy,
    /// The limiter of every remote request of this process.
    pub limiter: Arc<RateLimiter>,
}

/// The LLM and embedder of a command, loaded once.
#[derive(Clone)]
pub struct Backends {
    /// The LLM.
    pub llm: Arc<dyn Llm>,
    /// The embedder.
    pub embedder: Arc<dyn Embedder>,
}

/// A searcher assembled from the configuration: the learned models (if found) and the
/// nearest neighbours of an ingested dataset (if any).
pub struct Loaded {
    /// The search.
    pub searcher: Searcher,
    /// The embedder the search uses.
    pub embedder: Arc<dyn Embedder>,
    /// The learned models, if found.
    pub latent: Option<Arc<LatentModel>>,
    /// The dataset directory whose prompts are candidates, if any.
    pub dataset: Option<PathBuf>,
    /// Milliseconds spent loading.
    pub load_ms: f64,
}

impl Config {
    /// Merges flags/env over the config file, then fills in the defaults.
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
                    Settings::default()
                }
            }
        };
        Self::from_settings(args.settings.clone().merge(file), home)
    }

    /// Resolves merged settings under `home`.
    pub fn from_settings(settings: Settings, home: Home) -> Result<Self> {
        let Settings {
            latent,
            generator,
            lexicon,
            mut backends,
            mut server,
        } = settings;
        // A config file's `~/…` means the home directory, as it would in a shell.
        for p in [
            &mut backends.llm.path,
            &mut backends.llm.api_key_file,
            &mut backends.embedder.path,
            &mut backends.embedder.api_key_file,
            &mut server.dataset,
            &mut server.api_key_file,
        ] {
            *p = p.take().map(expand_home);
        }
        let latent = latent.map(expand_home);
        let limits = backends
            .rate_limits
            .map_or_else(|| RateLimits::tier("tier_1"), Ok)?;
        limits.validate().context("rate_limits")?;
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            max_attempts: backends.retry_attempts.unwrap_or(defaults.max_attempts),
            timeout: backends.retry_timeout.map_or(defaults.timeout, |s| s.0),
            ..defaults
        };
        retry.validate().context("retry_attempts / retry_timeout")?;
        Ok(Self {
            llm: resolve_llm(backends.llm, &home)?,
            embedder: resolve_embedder(backends.embedder, &home)?,
            latent: resolve_latent(latent, &home),
            generator: resolve_generator(generator.map(expand_home), &home),
            lexicon: resolve_lexicon(lexicon.map(expand_home), &home),
            home,
            server,
            retry,
            limiter: Arc::new(RateLimiter::new(limits)),
        })
    }

    /// Loads the embedder (local, or the remote client, which probes the vector length
    /// unless `dimensions` is set), explaining how to get a missing local model.
    pub fn load_embedder(&self) -> Result<Arc<dyn Embedder>> {
        Ok(match &self.embedder {
            EmbedderBackend::Local { path, config } => {
                require(path, DEFAULT_EMBEDDER, "--embedder")?;
                Arc::new(LocalEmbedder::load(path, config.clone())?)
            }
            EmbedderBackend::Openai(c) => Arc::new(
                OpenAiEmbedder::new(c.clone(), self.limiter.clone(), self.retry.clone())
                    .context("remote embedder")?,
            ),
        })
    }

    /// Loads the LLM, explaining how to get a missing local model.
    pub fn load_llm(&self) -> Result<Arc<dyn Llm>> {
        Ok(match &self.llm {
            LlmBackend::Local { path, config } => {
                require(path, DEFAULT_LLM, "--llm")?;
                Arc::new(LocalLlm::load(path, config.clone())?)
            }
            LlmBackend::Openai(c) => Arc::new(
                OpenAiLlm::new(c.clone(), self.limiter.clone(), self.retry.clone())
                    .context("remote LLM")?,
            ),
        })
    }

    /// Both backends.
    pub fn backends(&self) -> Result<Backends> {
        Ok(Backends {
            embedder: self.load_embedder()?,
            llm: self.load_llm()?,
        })
    }

    /// The string that names the LLM's configuration for greedy answers of at most
    /// `max_new_tokens` tokens: the evaluation's answer cache and the environment memory
    /// are keyed by it, so another model, weight format, service or answer length never
    /// shares their answers. Known without loading the model.
    pub fn llm_key(&self, max_new_tokens: usize) -> String {
        self.llm_key_of(max_new_tokens, "greedy")
    }

    /// [`llm_key`](Self::llm_key) for answers chosen by `sampling` (e.g. `greedy`, or
    /// `sampled T=0.7 top_p=1 seed=2`).
    pub fn llm_key_of(&self, max_new_tokens: usize, sampling: &str) -> String {
        match &self.llm {
            LlmBackend::Local { path, config } => format!(
                "{} weights={:?} max_new_tokens={max_new_tokens} {sampling}",
                vec2prompt_llm::local::model_name(path),
                config.weights
            ),
            LlmBackend::Openai(c) => format!(
                "{} at {} max_new_tokens={max_new_tokens} {sampling}",
                c.model, c.base_url
            ),
        }
    }

    /// The local LLM with its exact `f32` weights, and its configuration's key for greedy
    /// answers of at most `max_new_tokens` tokens (a perturbed environment of the
    /// evaluation).
    pub fn load_llm_f32(&self, max_new_tokens: usize) -> Result<(Arc<dyn Llm>, String)> {
        let LlmBackend::Local { path, config } = &self.llm else {
            bail!(
                "the f32 environment needs the local LLM (a remote service's weights are its own)"
            );
        };
        require(path, DEFAULT_LLM, "--llm")?;
        let config = LocalLlmConfig {
            weights: vec2prompt_llm::local::WeightFormat::F32,
            ..config.clone()
        };
        let key = format!(
            "{} weights={:?} max_new_tokens={max_new_tokens} greedy",
            vec2prompt_llm::local::model_name(path),
            config.weights
        );
        Ok((Arc::new(LocalLlm::load(path, config)?), key))
    }

    /// Prompts worth sending the LLM in one call: the local batch, or for a remote
    /// service the requests it may have in flight.
    pub fn llm_batch(&self) -> usize {
        match &self.llm {
            LlmBackend::Local { config, .. } => config.max_batch,
            LlmBackend::Openai(_) => self
                .limiter
                .limits()
                .max_concurrent
                .unwrap_or(LocalLlmConfig::default().max_batch),
        }
    }

    /// The local model files and directories this configuration uses, named, for a
    /// report's provenance (remote backends have no files here).
    pub fn model_paths(&self) -> Vec<(&'static str, Option<&Path>)> {
        vec![
            (
                "llm",
                match &self.llm {
                    LlmBackend::Local { path, .. } => Some(path.as_path()),
                    LlmBackend::Openai(_) => None,
                },
            ),
            (
                "embedder",
                match &self.embedder {
                    EmbedderBackend::Local { path, .. } => Some(path.as_path()),
                    EmbedderBackend::Openai(_) => None,
                },
            ),
            ("latent", self.latent.as_deref()),
            ("generator", self.generator.as_deref()),
        ]
    }

    /// The local GGUF file, for what only a local model allows (`why`): training adapters
    /// on it, measuring its speed.
    pub fn local_llm(&self, why: &str) -> Result<(&Path, &LocalLlmConfig)> {
        match &self.llm {
            LlmBackend::Local { path, config } => {
                require(path, DEFAULT_LLM, "--llm")?;
                Ok((path, config))
            }
            LlmBackend::Openai(c) => bail!(
                "{why} needs a local LLM, but backends.llm is the OpenAI-compatible {} at {}",
                c.model,
                c.base_url
            ),
        }
    }

    /// The local embedder directory, for what only a local model allows (`why`).
    pub fn local_embedder(&self, why: &str) -> Result<&Path> {
        match &self.embedder {
            EmbedderBackend::Local { path, .. } => {
                require(path, DEFAULT_EMBEDDER, "--embedder")?;
                Ok(path)
            }
            EmbedderBackend::Openai(c) => bail!(
                "{why} needs a local embedder, but backends.embedder is the OpenAI-compatible \
                 {} at {}",
                c.model,
                c.base_url
            ),
        }
    }

    /// The learned models, when a directory was found (`skip` leaves them out).
    pub fn load_latent(&self, skip: bool) -> Result<Option<Arc<LatentModel>>> {
        match (&self.latent, skip) {
            (Some(dir), false) => Ok(Some(Arc::new(LatentModel::load(dir).with_context(
                || format!("cannot load the learned models in {}", dir.display()),
            )?))),
            _ => Ok(None),
        }
    }

    /// The generator on the local LLM's GGUF (its base), when an adapter was found; with
    /// an OpenAI-compatible LLM the default local GGUF serves as its base when installed.
    /// `skip` leaves it out.
    pub fn load_generator(&self, skip: bool) -> Result<Option<Arc<Generator>>> {
        let Some(mut g) = self.load_merged_generator(skip)? else {
            return Ok(None);
        };
        // Inference never reads the f32 network again: free it.
        g.release_training_weights()?;
        crate::freed::return_freed_memory();
        Ok(Some(Arc::new(g)))
    }

    /// [`Config::load_generator`] keeping the f32 network beside the merged copy (to
    /// compare the two).
    pub fn load_merged_generator(&self, skip: bool) -> Result<Option<Generator>> {
        let Some(dir) = self.generator.as_ref().filter(|_| !skip) else {
            return Ok(None);
        };
        // The generator decodes in the local LLM's weight format (int8 by default).
        let (base, format) = match &self.llm {
            LlmBackend::Local { path, config } => (path.clone(), config.weights),
            LlmBackend::Openai(_) => {
                let p = vec2prompt_models::fetch::entry_path(&self.home, DEFAULT_LLM);
                if !p.exists() {
                    eprintln!(
                        "warning: the generator in {} needs its local base model; run \
                         `vec2prompt models fetch` to use it (searching without it)",
                        dir.display()
                    );
                    return Ok(None);
                }
                (p, vec2prompt_llm::WeightFormat::Q8_0)
            }
        };
        require(&base, DEFAULT_LLM, "--llm")?;
        let context = || {
            format!(
                "cannot load the generator in {} (--generator none leaves it out)",
                dir.display()
            )
        };
        let mut g = Generator::load(&base, dir).with_context(context)?;
        g.merge_for_inference(format).with_context(context)?;
        Ok(Some(g))
    }

    /// The content lexicon: the configured tokenizer's words embedded by `embedder`
    /// (once, then read from `$VEC2PROMPT_HOME/lexicon`). `None` when it is turned off, or
    /// when the default tokenizer is not installed, or by default with a remote embedder
    /// (the choice embeds a few hundred short texts per target); a tokenizer named
    /// explicitly must exist.
    pub fn load_lexicon(
        &self,
        embedder: &dyn Embedder,
        skip: bool,
    ) -> Result<Option<Arc<Lexicon>>> {
        let Some(path) = self.lexicon.as_ref().filter(|_| !skip) else {
            return Ok(None);
        };
        let default = vec2prompt_models::fetch::entry_path(&self.home, DEFAULT_EMBEDDER)
            .join("tokenizer.json");
        if *path == default && matches!(self.embedder, EmbedderBackend::Openai(_)) {
            return Ok(None);
        }
        if !path.exists() {
            if *path == default {
                return Ok(None);
            }
            bail!(
                "the lexicon's tokenizer {} does not exist (--lexicon none leaves it out)",
                path.display()
            );
        }
        let words = vocabulary_words(path)
            .with_context(|| format!("cannot read the lexicon's words from {}", path.display()))?;
        let mut bar: Option<Progress> = None;
        let lexicon = Lexicon::load_or_build(
            words,
            embedder,
            &self.home.root.join("lexicon"),
            &mut |done, total| {
                bar.get_or_insert_with(|| Progress::new("lexicon words embedded", total))
                    .set(done)
            },
        )?;
        if let Some(b) = &bar {
            b.finish();
        }
        Ok(Some(Arc::new(lexicon)))
    }

    /// The environment memory of this LLM configuration (the search's answer settings:
    /// greedy, 128 new tokens) in `dataset`, when `vec2prompt remember` built one; with
    /// `limit`, only its first `limit` answers (a memory of that size).
    pub fn load_recall(
        &self,
        dataset: &Path,
        embedder: &vec2prompt_core::EmbedderInfo,
        limit: Option<usize>,
    ) -> Result<Option<Arc<Recall>>> {
        self.load_recall_of(
            dataset,
            embedder,
            limit,
            GenerationParams::default().max_new_tokens,
        )
    }

    /// [`load_recall`](Self::load_recall) for the memory built with answers of at most
    /// `max_new_tokens` tokens (`remember --max-new-tokens`).
    pub fn load_recall_of(
        &self,
        dataset: &Path,
        embedder: &vec2prompt_core::EmbedderInfo,
        limit: Option<usize>,
        max_new_tokens: usize,
    ) -> Result<Option<Arc<Recall>>> {
        let key = self.llm_key(max_new_tokens);
        if !vec2prompt_memory::memory_dir(dataset, &key)
            .join("manifest.json")
            .exists()
        {
            return Ok(None);
        }
        let recall = Recall::load(dataset, &key, embedder, limit).with_context(|| {
            format!(
                "cannot load the environment memory of {}",
                dataset.display()
            )
        })?;
        eprintln!(
            "environment memory: {} remembered answers of {key}",
            recall.len()
        );
        Ok(Some(Arc::new(recall)))
    }

    /// The default dataset directory, `$VEC2PROMPT_HOME/datasets/alpaca`.
    pub fn default_dataset(&self) -> PathBuf {
        self.home.root.join("datasets").join("alpaca")
    }

    /// The searcher of `generate`-like commands over `backends`: the learned models and
    /// the nearest neighbours of `dataset`, else of the default dataset when it has been
    /// ingested.
    pub fn searcher(&self, backends: &Backends, dataset: Option<&Path>) -> Result<Loaded> {
        let t = Instant::now();
        let latent = self.load_latent(false)?;
        let generator = self.load_generator(false)?;
        let dataset = dataset
            .map(Path::to_path_buf)
            .or_else(|| Some(self.default_dataset()))
            .filter(|d| d.join("records.jsonl").exists());
        let neighbours = match &dataset {
            Some(d) => Some(Arc::new(
                Neighbours::load(d, backends.embedder.info())
                    .with_context(|| format!("cannot load the dataset {}", d.display()))?,
            )),
            None => None,
        };
        if latent.is_none() && neighbours.is_none() && generator.is_none() {
            bail!(
                "no candidates: no learned model or generator was found (train one with \
                 `vec2prompt train`, or pass --latent or --generator) and no dataset is \
                 ingested (`vec2prompt ingest`)"
            );
        }
        let env = Environment::new(backends.llm.clone(), backends.embedder.clone());
        let lexicon = self.load_lexicon(backends.embedder.as_ref(), false)?;
        let mut searcher = Searcher::with_sources(env, neighbours, latent.clone(), generator)?;
        if let Some(lexicon) = lexicon {
            searcher = searcher.with_lexicon(lexicon)?;
        }
        if let Some(recall) = dataset
            .as_deref()
            .map(|d| self.load_recall(d, backends.embedder.info(), None))
            .transpose()?
            .flatten()
        {
            searcher = searcher.with_recall(recall)?;
        }
        Ok(Loaded {
            searcher,
            embedder: backends.embedder.clone(),
            latent,
            dataset,
            load_ms: t.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// The LLM of `s`: OpenAI-compatible when asked for (or when a base URL is set), else
/// the local file.
fn resolve_llm(s: LlmSettings, home: &Home) -> Result<LlmBackend> {
    let kind = s.kind.unwrap_or(if s.base_url.is_some() {
        BackendKind::Openai
    } else {
        BackendKind::Local
    });
    if kind == BackendKind::Local {
        let d = LocalLlmConfig::default();
        let config = LocalLlmConfig {
            weights: s.weights.unwrap_or(d.weights),
            max_batch: s.max_batch.unwrap_or(d.max_batch),
        };
        if config.max_batch == 0 {
            bail!("--llm-max-batch must be at least 1");
        }
        let path = s
            .path
            .unwrap_or_else(|| vec2prompt_models::fetch::entry_path(home, DEFAULT_LLM));
        return Ok(LlmBackend::Local { path, config });
    }
    let mut c = remote("llm", s.base_url, s.model)?;
    c.api_key = Secret::resolve("llm api key", s.api_key, s.api_key_file.as_deref())?
        .map(|k| k.expose().to_string());
    if let Some(t) = s.timeout {
        c.timeout = t.0;
    }
    c.context_length = s.context_length;
    c.validate().context("backends.llm")?;
    Ok(LlmBackend::Openai(c))
}

/// The embedder of `s`, like [`resolve_llm`].
fn resolve_embedder(s: EmbedderSettings, home: &Home) -> Result<EmbedderBackend> {
    let kind = s.kind.unwrap_or(if s.base_url.is_some() {
        BackendKind::Openai
    } else {
        BackendKind::Local
    });
    if s.batch == Some(0) {
        bail!("--embed-batch must be at least 1");
    }
    if kind == BackendKind::Local {
        let config = LocalEmbedderConfig {
            batch_size: s.batch.unwrap_or(LocalEmbedderConfig::default().batch_size),
        };
        let path = s
            .path
            .unwrap_or_else(|| vec2prompt_models::fetch::entry_path(home, DEFAULT_EMBEDDER));
        return Ok(EmbedderBackend::Local { path, config });
    }
    let mut c = remote("embedder", s.base_url, s.model)?;
    c.api_key = Secret::resolve("embedder api key", s.api_key, s.api_key_file.as_deref())?
        .map(|k| k.expose().to_string());
    if let Some(t) = s.timeout {
        c.timeout = t.0;
    }
    if let Some(b) = s.batch {
        c.max_batch = b;
    }
    c.dimensions = s.dimensions;
    c.validate().context("backends.embedder")?;
    Ok(EmbedderBackend::Openai(c))
}

fn remote(what: &str, base_url: Option<String>, model: Option<String>) -> Result<RemoteConfig> {
    match (base_url, model) {
        (Some(u), Some(m)) => Ok(RemoteConfig::new(u, m)),
        (None, _) => bail!(
            "backends.{what} is openai but has no base_url (--{what}-base-url, \
             VEC2PROMPT_{}_BASE_URL)",
            what.to_uppercase()
        ),
        (_, None) => bail!(
            "backends.{what} is openai but has no model (--{what}-model, \
             VEC2PROMPT_{}_MODEL): the remote model id",
            what.to_uppercase()
        ),
    }
}

/// `path` with a leading `~` replaced by `$HOME`.
fn expand_home(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}

fn read_config(path: &Path) -> Result<Settings> {
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

/// The content lexicon's tokenizer: the one given (`none`: no lexicon), else the default
/// embedder's `tokenizer.json` (whatever the configured embedder: the words are English
/// words, their vectors come from the configured embedder).
fn resolve_lexicon(given: Option<PathBuf>, home: &Home) -> Option<PathBuf> {
    match given {
        Some(p) if p.as_os_str() == "none" => None,
        Some(p) => Some(p),
        None => Some(
            vec2prompt_models::fetch::entry_path(home, DEFAULT_EMBEDDER).join("tokenizer.json"),
        ),
    }
}

/// The generator's adapter directory: the one given (`none`: no generator), else
/// `$VEC2PROMPT_HOME/generator` when one was trained there, else the source tree's
/// shipped adapter when it is still there.
fn resolve_generator(given: Option<PathBuf>, home: &Home) -> Option<PathBuf> {
    use vec2prompt_latent::generator::MANIFEST_FILE;
    match given {
        Some(p) if p.as_os_str() == "none" => None,
        Some(p) => Some(p),
        None => [
            home.root.join("generator"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/generator"),
        ]
        .into_iter()
        .find(|d| d.join(MANIFEST_FILE).exists()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[clap(flatten)]
        global: GlobalArgs,
    }

    fn yaml(text: &str) -> Settings {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn flags_override_the_file_field_by_field() {
        let file = yaml(
            "backends:\n  llm: {kind: openai, base_url: 'http://f/v1', model: file-model, timeout: 5s}\n  \
             embedder: {path: /models/e, batch: 7}\n  rate_limits: tier_2\nserver: {port: 9000, host: 0.0.0.0}\n",
        );
        let cli = Cli::parse_from(["x", "--llm-model", "flag-model", "--embed-batch", "3"]);
        let merged = cli.global.settings.merge(file);
        assert_eq!(merged.backends.llm.model.as_deref(), Some("flag-model"));
        assert_eq!(merged.backends.llm.base_url.as_deref(), Some("http://f/v1"));
        assert_eq!(merged.backends.embedder.batch, Some(3));
        assert_eq!(merged.server.port, Some(9000));
        let config = Config::from_settings(merged, Home::new("/tmp/v2p-home")).unwrap();
        let LlmBackend::Openai(llm) = &config.llm else {
            panic!("expected the remote LLM: {:?}", config.llm);
        };
        assert_eq!(llm.timeout, std::time::Duration::from_secs(5));
        assert_eq!(
            config.llm_key(128),
            "flag-model at http://f/v1 max_new_tokens=128 greedy"
        );
        assert!(matches!(
            &config.embedder,
            EmbedderBackend::Local { path, config } if path == Path::new("/models/e") && config.batch_size == 3
        ));
        assert_eq!(
            config.limiter.limits(),
            &RateLimits::tier("tier_2").unwrap()
        );
    }

    #[test]
    fn same_named_fields_of_two_sections_stay_apart() {
        let cli = Cli::parse_from([
            "x",
            "--embedder",
            "/e",
            "--llm",
            "/l",
            "--embedder-model",
            "em",
            "--llm-kind",
            "local",
        ]);
        let b = cli.global.settings.backends;
        assert_eq!(b.embedder.path.as_deref(), Some(Path::new("/e")));
        assert_eq!(b.llm.path.as_deref(), Some(Path::new("/l")));
        assert_eq!(b.embedder.model.as_deref(), Some("em"));
        assert_eq!(b.llm.model, None);
        assert_eq!(b.llm.kind, Some(BackendKind::Local));
        assert_eq!(b.embedder.kind, None);
    }

    #[test]
    fn unknown_keys_and_incomplete_remotes_are_refused() {
        assert!(serde_yaml::from_str::<Settings>("backends: {llm: {bse_url: x}}").is_err());
        assert!(serde_yaml::from_str::<Settings>("server: {prot: 1}").is_err());
        let err = Config::from_settings(
            yaml("backends: {embedder: {kind: openai, base_url: 'http://h/v1'}}"),
            Home::new("/tmp/v2p-home"),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("no model"), "{err:#}");
    }

    #[test]
    fn the_example_config_is_valid_and_paths_expand_home() {
        let example = include_str!("../../../../configs/config.yaml");
        let config = Config::from_settings(yaml(example), Home::new("/tmp/v2p-home")).unwrap();
        assert!(matches!(config.llm, LlmBackend::Local { .. }));
        let settings = yaml("backends: {embedder: {path: ~/models/e}}");
        let config = Config::from_settings(settings, Home::new("/tmp/v2p-home")).unwrap();
        let EmbedderBackend::Local { path, .. } = &config.embedder else {
            panic!("local");
        };
        let home = std::env::var_os("HOME").unwrap();
        assert_eq!(path, &PathBuf::from(home).join("models/e"));
    }

    #[test]
    fn api_keys_come_from_a_file_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "sk-file-key\n").unwrap();
        let settings = yaml(&format!(
            "backends: {{embedder: {{base_url: 'http://h/v1', model: m, api_key_file: '{}'}}}}",
            key.display()
        ));
        let config = Config::from_settings(settings, Home::new("/tmp/v2p-home")).unwrap();
        let EmbedderBackend::Openai(c) = &config.embedder else {
            panic!("a base URL alone selects the remote embedder");
        };
        assert_eq!(c.api_key.as_deref(), Some("sk-file-key"));
        assert!(!format!("{config:?}").contains("sk-file-key"));
    }
}
