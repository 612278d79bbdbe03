//! The prompt optimizer: turns a vague prompt into a precise one (or a structured one),
//! learned from (vague → precise) pairs and from feedback.
//!
//! - [`vague`]: the deterministic vague rules (the benchmark's and the training ones);
//! - [`structured`]: the structured style's sections and its rule-seeded data generator;
//! - [`model`]: the network (embedder → intent network → projector → soft tokens before
//!   the raw prompt → frozen decoder with LoRA);
//! - [`losses`]: InfoNCE and the KL penalty;
//! - [`data`] and [`train`]: the two training phases;
//! - [`feedback`]: the durable feedback log.

pub mod data;
pub mod families;
pub mod feedback;
pub mod judge;
pub mod losses;
pub mod model;
pub mod service;
pub mod structured;
pub mod train;
pub mod vague;

pub use feedback::{FeedbackLog, FeedbackRecord};
pub use model::{OptimizerConfig, OptimizerManifest, PromptOptimizer, Style};
pub use train::{OptimizerTrainConfig, Phase};
