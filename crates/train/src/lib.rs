//! Training pipelines of the learned models: the surrogate, the inverter, the corrector
//! (with its examples built from inverter hypotheses and near misses) and stage 1 of the
//! generator. Each trains on a dataset's train split, validates on its validation split,
//! resumes after a kill and exports f16 safetensors with a model card. The command line
//! only parses arguments, loads the dataset and calls [`run`].

pub mod corrector_data;
pub mod pipeline;

pub use pipeline::{
    DecoderSection, MEMORY_HOLDOUT_EVERY, MemoryTargets, ModelKind, SurrogateSection, TrainData,
    TrainFile, TrainOptions, default_latent_dir, read_train_file, run,
};
