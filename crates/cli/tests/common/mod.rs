//! Helpers shared by the end-to-end tests of the `vec2prompt` binary.
#![allow(dead_code)] // each test file uses its own subset

use std::process::Command;

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vec2prompt"))
}

/// Whether the real models are fetched (fails the test when they are missing, unless
/// `VEC2PROMPT_SKIP_MODEL_TESTS=1`, see `vec2prompt_core::testing::real_model`).
pub fn models_present() -> bool {
    vec2prompt_core::testing::real_model("all-MiniLM-L6-v2").is_some()
        && vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct").is_some()
}

/// Topics of the synthetic instruction datasets.
pub const TOPICS: &[&str] = &[
    "the ocean",
    "a mountain",
    "bread",
    "a violin",
    "the moon",
    "a garden",
    "chess",
    "rain",
    "a train",
    "coffee",
    "a library",
    "winter",
    "a bicycle",
    "volcanoes",
    "honey bees",
];
