//! The prompt optimizer as the commands find, load and run it.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vec2prompt_core::Embedder;
use vec2prompt_optimizer::PromptOptimizer;
use vec2prompt_optimizer::service::RawEmbedding;

/// The `optimizer` section of a training config (`configs/optimizer.yaml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerFile {
    /// Shape of the network.
    pub model: vec2prompt_optimizer::OptimizerConfig,
    /// Training settings.
    pub train: vec2prompt_train::optimizer::OptimizerTrainConfig,
    /// The answer head's training settings (`train answer-head`).
    pub answer_head: vec2prompt_train::optimizer::answer_head::AnswerHeadTrainConfig,
}

#[derive(Debug, Default, Deserialize)]
struct TrainFileOptimizer {
    #[serde(default)]
    optimizer: Option<OptimizerFile>,
}

/// The `optimizer` section of the training config at `path` (defaults without one).
pub fn read_optimizer_file(path: Option<&Path>) -> Result<OptimizerFile> {
    let Some(p) = path else {
        return Ok(OptimizerFile::default());
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let f: TrainFileOptimizer =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    Ok(f.optimizer.unwrap_or_default())
}

/// The prompt optimizer saved in `dir` on the configured local base model, its adapters
/// merged for inference in the local LLM's weight format (int8 by default).
pub fn load_optimizer_model(config: &crate::config::Config, dir: &Path) -> Result<PromptOptimizer> {
    let (path, llm) = config.local_llm("the prompt optimizer's base model")?;
    let mut model = PromptOptimizer::load(path, dir)?;
    model.merge_for_inference(llm.weights)?;
    // Rewriting never reads the f32 network again: free it.
    model.release_training_weights()?;
    crate::freed::return_freed_memory();
    Ok(model)
}

/// The answer head saved beside the optimizer `model` in `dir`, if there is one. A head
/// that cannot be read, or that maps another embedder's space than the optimizer reads,
/// is left out with a warning (the optimizer works without it: a budget then ranks
/// against the surrogate's prediction) rather than taking the optimizer down.
pub fn load_answer_head(
    dir: &Path,
    model: &PromptOptimizer,
) -> Option<vec2prompt_optimizer::AnswerHead> {
    if !vec2prompt_optimizer::AnswerHead::exists(dir) {
        return None;
    }
    let head = match vec2prompt_optimizer::AnswerHead::load(dir) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("vec2prompt: warning: answer head left out: {e}");
            return None;
        }
    };
    if head.manifest.embedder != model.manifest.embedder
        || head.manifest.embedder_dim != model.manifest.embedder_dim
    {
        eprintln!(
            "vec2prompt: warning: answer head left out: the one in {} was fitted for the embedder {} ({} dimensions), the optimizer reads {} ({}); retrain it with `vec2prompt train answer-head`",
            dir.display(),
            head.manifest.embedder,
            head.manifest.embedder_dim,
            model.manifest.embedder,
            model.manifest.embedder_dim
        );
        return None;
    }
    Some(head)
}

/// Where the optimizer lives by default.
pub fn default_optimizer_dir(home: &vec2prompt_core::Home) -> PathBuf {
    home.root.join("optimizer")
}

/// The optimizer used when none is named: `$VEC2PROMPT_HOME/optimizer` when one was
/// trained there, else the shipped one in the source tree's `assets/optimizer` when it is
/// still there.
pub fn installed_optimizer_dir(home: &vec2prompt_core::Home) -> Option<PathBuf> {
    use vec2prompt_optimizer::model::MANIFEST_FILE;
    [
        default_optimizer_dir(home),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/optimizer"),
    ]
    .into_iter()
    .find(|d| d.join(MANIFEST_FILE).exists())
}

/// The optimizer directory of `--optimizer`, or the default one if it was trained.
pub fn optimizer_dir(given: Option<&Path>, config: &crate::config::Config) -> Result<PathBuf> {
    let dir = given
        .map(Path::to_path_buf)
        .or_else(|| installed_optimizer_dir(&config.home))
        .unwrap_or_else(|| default_optimizer_dir(&config.home));
    if !dir
        .join(vec2prompt_optimizer::model::MANIFEST_FILE)
        .exists()
    {
        bail!(
            "no prompt optimizer in {}: train one with `vec2prompt train optimizer --dataset DATA` (see README)",
            dir.display()
        );
    }
    Ok(dir)
}

/// The prompt optimizer of `dir` (or the installed one), with its answer head when it
/// has one and the learned surrogate when one is found (either predicts the answer a
/// budget's measured variants are ranked against).
pub fn load_optimizer(
    config: &crate::config::Config,
    dir: Option<&Path>,
) -> Result<vec2prompt_optimizer::service::Optimizer> {
    let dir = optimizer_dir(dir, config)?;
    let model = load_optimizer_model(config, &dir)?;
    let surrogate = match &config.latent {
        Some(l) if vec2prompt_latent::LatentModel::exists(l) => Some(std::sync::Arc::new(
            vec2prompt_latent::LatentModel::load(l)?,
        )),
        _ => None,
    };
    let head = load_answer_head(&dir, &model);
    Ok(vec2prompt_optimizer::service::Optimizer {
        model,
        surrogate,
        head,
    })
}

/// Drafts rewrites of `request`; with a budget, the raw prompt and the first rewrites
/// are answered by `llm`, embedded and ranked, and the raw prompt stays first unless a
/// rewrite measures better.
pub fn run_optimize(
    service: &vec2prompt_optimizer::service::Optimizer,
    embedder: &dyn Embedder,
    llm: &dyn vec2prompt_core::Llm,
    request: &vec2prompt_optimizer::service::OptimizeRequest,
) -> Result<vec2prompt_optimizer::service::OptimizeOutcome> {
    request.validate()?;
    let e = RawEmbedding::from_vectors(embedder.embed(&request.texts_to_embed())?);
    let mut drafts = service.draft(request, &e)?;
    if request.budget > 0 {
        let params = vec2prompt_core::GenerationParams {
            max_new_tokens: 128,
            ..Default::default()
        };
        let prompts: Vec<String> = drafts
            .candidates
            .iter()
            .take(request.budget)
            .cloned()
            .collect();
        let answers: Vec<String> = llm
            .generate(&prompts, &params)?
            .into_iter()
            .map(|mut g| g.pop().map(|g| g.text).unwrap_or_default())
            .collect();
        let vectors = vec2prompt_core::embedder::embed_answers(embedder, &answers)?;
        drafts = service.rank(drafts, request, &answers, &vectors);
    }
    Ok(service.finish(drafts, request))
}
