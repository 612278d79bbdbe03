//! The latent prompt space: the models that map between prompts and
//! the embeddings of their answers, and their training.
//!
//! - [`bpe`]: the prompt tokenizer (byte-level BPE trained on train prompts).
//! - [`layers`]: differentiable building blocks.
//! - [`decoder`]: the conditional decoder (soft-prefix projector + causal transformer)
//!   behind the inverter and the corrector; [`decode`] turns it into prompts.
//! - [`model`]: the trained models loaded together, as search uses them.
//! - [`surrogate`]: prompt → predicted answer embedding.
//! - [`sequences`]: the decoder's training examples.
//! - [`trainer`], [`optim`], [`checkpoint`], [`plot`]: the resumable training loop.
//! - [`generator`]: a frozen pretrained GGUF decoder conditioned on the target through
//!   soft-prompt tokens ([`soft_prompt`]) and LoRA adapters ([`lora`]), built in
//!   [`generator_model`] on frozen projections ([`frozen`]), decoded by
//!   [`generator_decode`], trained (stage 1) by [`generator_train`].

pub mod bpe;
pub mod checkpoint;
pub mod decode;
pub mod decoder;
pub mod frozen;
pub mod fused;
pub mod generator;
pub mod generator_decode;
pub mod generator_model;
pub mod generator_rl;
pub mod generator_train;
pub mod layers;
pub mod lora;
pub mod model;
pub mod optim;
pub mod plot;
pub mod sequences;
pub mod soft_prompt;
pub mod surrogate;
pub mod trainer;

pub use bpe::PromptTokenizer;
pub use decoder::{ConditionalDecoder, DecoderConfig};
pub use generator::Generator;
pub use model::LatentModel;
pub use surrogate::{Surrogate, SurrogateConfig};
pub use trainer::{Task, TrainConfig, train, train_from};
