//! Core vocabulary of vec2prompt: the backend traits ([`Embedder`], [`Llm`]), the error
//! type every crate reports through, the one cosine similarity, and validated inputs
//! (target vectors, texts), and the progress report of long work.
//!
//! Backends live in their own crates (`vec2prompt-embed`, `vec2prompt-llm`,
//! `vec2prompt-openai`); everything above them (search, evaluation, the HTTP API) talks to
//! these traits only (`&self`, `Send + Sync`, batch in, batch out), so a local model and a
//! remote service are interchangeable. This crate depends on no other crate of the
//! workspace.
//!
//! - [`embedder`], [`llm`]: the traits, `GenerationParams`, `Sampling`, `Generation`.
//! - [`error`]: one `Error` (it is `Clone`, so a failure shared by a batch reaches every
//!   caller intact) with its `ErrorType` category.
//! - [`similarity`]: the one `cosine`, and the one scoring rule `answer_score` (an empty
//!   answer scores 0, anything else its cosine).
//! - [`fs`]: `write_atomic` / `write_atomic_with`, the one way a file is replaced
//!   (temporary file beside it, fsync, rename, fsync of the directory): manifests, records,
//!   reports, model cards, checkpoints and exported weights all go through it.
//! - [`target`]: `TargetVector`, a validated target (finite, non-zero, unit length).
//! - [`home`]: `Home`, the data directory (`$VEC2PROMPT_HOME`).
//! - [`text`]: `require_non_empty`, `has_visible`, `utf8`: checks on input texts.
//! - [`progress`]: `Progress` and `Stages`, the progress report of long work.
//! - [`chart`]: small standalone SVG charts (training curves, report pictures).
//! - [`mod@settings`]: the `settings!` macro (a settings section defined once: flags,
//!   environment variables, YAML keys, defaults; see the CLI) and `Secret`, a value that
//!   is never printed.

pub mod chart;
pub mod dictionary;
pub mod embedder;
pub mod error;
pub mod fs;
pub mod home;
pub mod llm;
pub mod progress;
pub mod provenance;
pub mod settings;
pub mod similarity;
pub mod target;
pub mod text;

pub use embedder::{Embedder, EmbedderInfo, Pooling};
pub use error::{Error, ErrorType, Result};
pub use fs::{write_atomic, write_atomic_with};
pub use home::Home;
pub use llm::{FinishReason, Generation, GenerationParams, Llm, LlmInfo, Sampling};
pub use settings::Secret;
pub use similarity::{answer_score, cosine, is_empty_answer, l2_normalize};
pub use target::TargetVector;

/// Locating the real models for integration tests, shared by every crate's tests.
pub mod testing {
    use std::path::PathBuf;

    /// Path of a fetched default model (`name` under `$VEC2PROMPT_HOME/models`, default
    /// `~/.cache/vec2prompt/models`). Returns `None` only when the user opted out with
    /// `VEC2PROMPT_SKIP_MODEL_TESTS=1`; otherwise a missing model fails the test with a
    /// message saying how to fetch it, so a test never passes without running.
    pub fn real_model(name: &str) -> Option<PathBuf> {
        if std::env::var("VEC2PROMPT_SKIP_MODEL_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("VEC2PROMPT_SKIP_MODEL_TESTS=1: skipping the real-model test");
            return None;
        }
        let path = crate::Home::from_env().models_dir().join(name);
        assert!(
            path.exists(),
            "real model {} is missing: run `vec2prompt models fetch` (or `make models`) first, \
             or set VEC2PROMPT_SKIP_MODEL_TESTS=1 to skip real-model tests",
            path.display()
        );
        Some(path)
    }
}
