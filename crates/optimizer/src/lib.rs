//! The prompt optimizer: turns a vague prompt into a precise one (or a structured one),
//! learned from (vague → precise) pairs and from feedback.
//!
//! - [`vague`]: the deterministic vague rules (the benchmark's and the training ones);
//! - [`structured`]: the structured style's sections and its rule-seeded data generator;
//! - [`model`]: the network (embedder → intent network → projector → soft tokens before
//!   the raw prompt → frozen decoder with LoRA);
//! - [`feedback`]: the durable feedback log;
//! - [`families`], [`judge`]: the raw-prompt families and the reference-free judgements
//!   of the optimizer benchmark;
//! - [`answer_head`]: raw prompt → the answer its intent should get, the default goal of
//!   a budget's measured answers;
//! - [`service`]: the optimizer behind `vec2prompt optimize` and `/optimize`.
//!
//! Its training data, objectives and the two training phases are in `vec2prompt-train`
//! (`optimizer`).

pub mod answer_head;
pub mod families;
pub mod feedback;
pub mod judge;
pub mod model;
pub mod service;
pub mod structured;
pub mod vague;

pub use answer_head::AnswerHead;
pub use feedback::{FeedbackLog, FeedbackRecord};
pub use model::{OptimizerConfig, OptimizerManifest, PromptOptimizer, Style};
