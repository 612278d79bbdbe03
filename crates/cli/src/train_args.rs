//! The arguments of `vec2prompt train`, shared by the commands that train (`train_cmd`
//! dispatches; `rl_cmd` and `optimizer_cmd` read them), so no command imports another.

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use vec2prompt_train::ModelKind;

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Prompt embedding → predicted answer embedding.
    Surrogate,
    /// Answer embedding → prompt (and, auxiliary, prompt embedding → prompt).
    Inverter,
    /// (target, current answer, difference) + current prompt → better prompt.
    Corrector,
    /// Answer embedding → prompt with the frozen pretrained LLM (soft prompts + LoRA),
    /// stage 1 (supervised).
    Generator,
    /// Vague prompt → precise (or structured) prompt: intent network, soft prompts and
    /// LoRA on the frozen pretrained LLM; `--feedback` runs the contrastive phase.
    Optimizer,
    /// The prompt optimizer's answer head: raw prompt embedding → the embedding of the
    /// answer its intent should get (the default goal of `optimize --budget`), fitted on
    /// the train split and written beside the optimizer (`--out`, default: the installed
    /// optimizer); `--from` a latent directory whose surrogate it starts from [default:
    /// the configured one].
    AnswerHead,
    /// The generator's stage 2: policy gradient on the real reward (the configured LLM's
    /// answers), with a KL penalty to the stage-1 generator given by `--from`.
    Rl,
}

impl ModelArg {
    /// The latent-space pipeline of this model (`None` for the prompt optimizer).
    pub fn kind(self) -> Option<ModelKind> {
        match self {
            ModelArg::Surrogate => Some(ModelKind::Surrogate),
            ModelArg::Inverter => Some(ModelKind::Inverter),
            ModelArg::Corrector => Some(ModelKind::Corrector),
            ModelArg::Generator => Some(ModelKind::Generator),
            ModelArg::Optimizer | ModelArg::AnswerHead | ModelArg::Rl => None,
        }
    }
}

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The model to train.
    #[clap(value_enum)]
    pub model: ModelArg,
    /// Dataset directory made by `ingest` (both columns embedded); the optimizer also
    /// takes a raw data file (it embeds what it needs itself).
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// RL: the stage-1 generator to start from and stay close to [default:
    /// $VEC2PROMPT_HOME/generator]; the default `--out` for RL is
    /// $VEC2PROMPT_HOME/generator-rl. Surrogate, corrector: a model directory whose
    /// surrogate (corrector) a fresh run starts from (a warm start).
    #[clap(long)]
    pub from: Option<PathBuf>,
    /// Train on the environment memory of the configured LLM (`vec2prompt remember`), one
    /// remembered answer in 20 held out to choose the checkpoint. Surrogate: the targets
    /// are the embeddings of the LLM's own answers. Corrector: real feedback, each current
    /// prompt's ê its real answer and the prompt to write the one whose real answer scored
    /// best for the target.
    #[clap(long)]
    pub memory: bool,
    /// Optimizer: a feedback log (from `POST /feedback` or `simulate-feedback`); trains
    /// the contrastive phase on it, starting from the distillation phase.
    #[clap(long)]
    pub feedback: Option<PathBuf>,
    /// Model directory to write (weights, tokenizer, config, card) [default:
    /// $VEC2PROMPT_HOME/latent]. Checkpoints go to its `runs/<model>` folder.
    #[clap(long, env = "VEC2PROMPT_TRAIN_OUT")]
    pub out: Option<PathBuf>,
    /// Training config (YAML with `surrogate`, `inverter`, `corrector` sections).
    #[clap(long = "train-config", env = "VEC2PROMPT_TRAIN_CONFIG")]
    pub train_config: Option<PathBuf>,
    /// Stop after this many steps in this run (resume later by running the same command).
    #[clap(long, env = "VEC2PROMPT_MAX_STEPS")]
    pub max_steps: Option<usize>,
    /// Override the config's epochs.
    #[clap(long, env = "VEC2PROMPT_EPOCHS")]
    pub epochs: Option<usize>,
    /// Use at most this many train records (quick runs and tests).
    #[clap(long, env = "VEC2PROMPT_TRAIN_LIMIT")]
    pub limit: Option<usize>,
    /// End a resumable run now: validate the last checkpoint, export it, write the card
    /// (for time-boxed training; the card records the steps actually taken).
    #[clap(long, env = "VEC2PROMPT_FINISH")]
    pub finish: bool,
    /// No progress bar.
    #[clap(long, env = "VEC2PROMPT_QUIET")]
    pub quiet: bool,
    /// Stop training after this many minutes (generator; it checkpoints, evaluates and
    /// exports, and the same command resumes it).
    #[clap(long, env = "VEC2PROMPT_MAX_MINUTES")]
    pub max_minutes: Option<f64>,
}
