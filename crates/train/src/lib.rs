//! Training pipelines of the learned models: the surrogate, the inverter, the corrector
//! (with its examples built from inverter hypotheses and near misses, or from real
//! feedback) and stage 1 of the generator. Each trains on a dataset's train split,
//! validates on its validation split, resumes after a kill and exports f16 safetensors with
//! a model card. The command line (`vec2prompt train`) only parses arguments, loads the
//! dataset and calls [`run`]; the models and their training loop are in
//! `vec2prompt-latent`, the generator's stage 2 (RL) is run by the CLI on
//! `vec2prompt_latent::generator_rl`, the prompt optimizer's training is in
//! `vec2prompt-optimizer`.
//!
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

pub mod corrector_data;
pub mod pipeline;

pub use pipeline::{
    DecoderSection, MEMORY_HOLDOUT_EVERY, MemoryTargets, ModelKind, SurrogateSection, TrainData,
    TrainFile, TrainOptions, default_latent_dir, read_train_file, run,
};
