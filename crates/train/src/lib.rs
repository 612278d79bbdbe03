//! Every trainer of vec2prompt, in one home outside the serving graph (the server links
//! neither this crate nor the benchmark harness): the latent models (surrogate, inverter,
//! corrector), the generator's two stages, and the prompt optimizer. Each trains on a
//! dataset's train split, validates on its validation split, resumes after a kill and
//! exports f16 safetensors with a model card. The command line (`vec2prompt train`) only
//! parses arguments, loads the dataset and calls in here; the models themselves live in
//! `vec2prompt-latent` and `vec2prompt-optimizer`, which import no trainer.
//!
//! - [`kit`]: the shared scaffolding (learning-rate schedule, guarded step, AdamW with
//!   savable moments, crash-safe checkpoints and resume, model cards, candle errors).
//! - [`fit`]: the epoch loop of the small latent models ([`Task`], [`train`]);
//!   [`surrogate_task`] and [`sequences`] are their data as the loop sees it.
//! - [`generator`]: stage 1 of the generator (supervised); [`rl`]: stage 2 (policy
//!   gradient on the real reward), run with its before/after check by [`rl_pipeline`].
//! - [`optimizer`]: the prompt optimizer's pairs, objectives and two phases.
//! - [`pipeline`]: [`run`], [`TrainOptions`], [`TrainData`], [`ModelKind`], [`TrainFile`]
//!   (`configs/train.yaml`). `train surrogate --memory` trains the surrogate on the
//!   environment memory instead of the dataset: the remembered records' targets are the
//!   embeddings of the LLM's own answers ([`MemoryTargets`]), one remembered answer in 20
//!   ([`MEMORY_HOLDOUT_EVERY`]) is held out for the checkpoint choice (train records, never
//!   validation or test), empty answers are left out, and `--from DIR` warm-starts it from
//!   another surrogate (`vec2prompt_latent::decoder::warm_start`).
//! - [`corrector_data`]: the corrector's current prompts (`CorrectorData::build`), of two
//!   kinds: the inverter's own greedy hypothesis for e* (batched greedy decoding, saved in
//!   `runs/corrector/hypotheses.json` so a resumed run sees the same examples) with ê the
//!   surrogate's prediction for it, and one of the target's nearest other train records'
//!   prompts with ê that record's real answer embedding. `train corrector --memory`
//!   (`CorrectorData::from_memory`) uses real feedback instead: for each remembered target,
//!   the current prompts are its own and its 3 remembered neighbours' (nearest by real
//!   answer), each with the real ê from the memory, and the prompt to write is the one whose
//!   real answer scored best for e*; one remembered target in 20 is held out.
//!
//! The shipped surrogate and corrector (`assets/latent`) went through both: first the
//! dataset (Alpaca's answers), then the environment memory of the default LLM (its own
//! greedy answers to 5,000 train prompts), warm-started from the first; the inverter and the
//! tokenizer are the first stage's. `assets/latent/MODEL_CARD.md` keeps both stages' cards.
//!
//! Training ([`fit::train`]) is one loop for all three: shuffled epochs (length-bucketed
//! batches for the decoders), AdamW (`kit::optim::AdamW`) with warmup and cosine decay and
//! gradient clipping, validation each epoch, best weights kept, early stopping, a progress
//! bar. Checkpoints (weights + AdamW moments + `state.json`) are written every
//! `checkpoint_seconds` and at each epoch's end: new safetensors through
//! `write_atomic_with`, then `state.json` through `write_atomic`, so `kill -9` at any moment
//! leaves a consistent pair. Initialization is seeded (candle's CPU initializers cannot be),
//! so a resumed run ends with exactly the bytes of an uninterrupted one (tested through the
//! CLI with a real `kill -9`). `--finish` closes a time-boxed run at its checkpoint. The
//! export is f16 safetensors + shape JSON + a model card + an SVG loss curve. candle's fused
//! norm, softmax and RoPE have no backward pass, so `fused` holds single-pass CPU ops with
//! single-pass backward ops (RMS norm by a frozen scale, softmax, log-softmax, interleaved
//! RoPE, SwiGLU; each tested against candle's composed ops, values and gradients); the small
//! models' attention and loss use its softmax and log-softmax, their learned-scale norms
//! stay composed (`rms_norm_slow`). A test checks that every trainable tensor of every model
//! receives a non-zero gradient. candle's f32 matmuls run on gemm with its AVX-512 kernels
//! enabled (`x86-v4`, chosen at run time).
//!
//! - [`generator`]: step-based (a pass over 50k prompts is hours here), AdamW with warmup
//!   and cosine decay over the planned steps, length-bucketed shuffled batches, a checkpoint
//!   every N steps (adapter, moments, data position and evaluation history through
//!   `checkpoint`, so `kill -9` is safe and a resumed run gives the uninterrupted run's
//!   weights), evaluation every M steps on a fixed validation subset: the loss and the loss
//!   with conditions rotated across the batch (if the decoder uses the condition, the second
//!   is clearly higher). `--max-minutes` ends an invocation, which then evaluates, measures
//!   the loop rate and exports (`generator.safetensors` f16 + `generator.json` naming the
//!   base's sha256 and the embedder; `Generator::load` refuses another base or width).
//! - [`rl`] (`vec2prompt train rl`, run by the CLI's `rl_cmd`): stage 2. Each step takes
//!   the next targets of a seeded order, samples a group of prompts per target
//!   (`sample_groups`: temperature and top-p with the decode controls, the step's own seed),
//!   gets one reward per prompt from a closure (the CLI's: the configured LLM answers through
//!   `Environment::evaluate`, reward = cosine of the answer's embedding to the target; with
//!   `reward: surrogate`, the surrogate's predicted answer embedding of the prompt's
//!   embedding instead, an empty prompt scoring 0),
//!   forms group-baseline advantages (`advantages`: reward − group mean, over the step's
//!   reward std floored at 0.02) and minimizes `objective`: −Σ A_i · mean_t log π(y_it) / n +
//!   β · mean k3(π, π_ref) on the sampled tokens (`objective_part`: a micro-batch's share,
//!   normalized by the whole step's counts, so gradients accumulated over micro-batches are
//!   the step's gradient), with the reference a second
//!   `GeneratorModel` on the same base weights holding the stage-1 adapter, never updated.
//!   Checkpoints (adapter, moments, the per-step reward/KL log) every N steps through
//!   `checkpoint`, so an interrupted run resumes to the uninterrupted run's weights.
//!   `greedy_rewards` scores held-out targets' greedy prompts before (cached in
//!   `rl-before.json`) and after; the CLI writes the paired difference with its bootstrap CI
//!   (`rl-report.json`, `rl-card.md`) and the reward/KL curves (`rl-curves.svg`).

pub mod corrector_data;
pub mod fit;
pub mod generator;
pub mod kit;
pub mod optimizer;
pub mod pipeline;
pub mod rl;
pub mod rl_pipeline;
pub mod sequences;
pub mod surrogate_task;

pub use fit::{Task, TrainConfig, train, train_from};
pub use pipeline::{
    DecoderSection, MEMORY_HOLDOUT_EVERY, MemoryTargets, ModelKind, SurrogateSection, TrainData,
    TrainFile, TrainOptions, default_latent_dir, read_train_file, run,
};
