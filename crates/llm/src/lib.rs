//! Local GGUF LLM for vec2prompt: the quantized llama family on candle, with the tokenizer
//! and chat template read from the GGUF metadata, greedy and seeded sampling, and batched
//! generation (one forward pass per step for the whole batch).
//!
//! - [`gguf`]: opening and validating a GGUF file.
//! - [`tokenizer`]: a byte-level BPE tokenizer rebuilt from `tokenizer.ggml.*`.
//! - [`chat`]: the model's own chat template (`tokenizer.chat_template`, Jinja).
//! - [`llama`]: the transformer with a batched, left-padded KV cache; its attention runs
//!   each sequence on its own, so answers do not depend on the batch.
//! - [`sampler`]: greedy and temperature/top-p token selection.
//! - [`local`]: [`LocalLlm`], the [`vec2prompt_core::Llm`] implementation tying them up.

mod attention;
pub mod chat;
pub mod gguf;
pub mod llama;
pub mod local;
pub mod q8;
pub mod sampler;
mod shared;
pub mod tiny;
pub mod token_table;
pub mod tokenizer;

pub use local::{LocalLlm, LocalLlmConfig, WeightFormat};
