//! The `vec2prompt` command line as a library: every command's arguments and runner,
//! the resolved configuration, and [`session::Session`], the loaded models behind
//! `generate`, `batch` and the Python package.

pub mod answer_head_cmd;
pub mod batch;
pub mod batch_cmd;
pub mod bench;
pub mod bench_memory;
pub mod common;
pub mod config;
pub mod dataset_cmd;
pub mod embed_cmd;
pub mod eval_cmd;
pub mod eval_prompt;
pub mod freed;
pub mod generate_cmd;
pub mod interpolate_cmd;
pub mod models_cmd;
pub mod optimizer_cmd;
pub mod provenance;
pub mod remember_cmd;
pub mod rl_cmd;
pub mod serve_cmd;
pub mod session;
pub mod target_arg;
pub mod train_args;
pub mod train_cmd;
