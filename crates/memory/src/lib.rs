//! The environment memory: the configured LLM's own answers to a dataset's train prompts,
//! each with its embedding, keyed by the LLM configuration.
//!
//! The dataset's outputs were written by another model; the environment a prompt is scored
//! in is the LLM vec2prompt serves. The memory records what that LLM really answers, under
//! the evaluation's generation settings, so models can be trained on it and fast mode can
//! retrieve prompts by their real answers.
//!
//! - [`order`]: a seeded shuffle of the train split; every prefix is a uniform sample, so
//!   a memory built to `--limit N` is already useful and can be extended later.
//! - [`Memory`]: the writer (one per memory, locked): [`Memory::build`] answers, embeds and
//!   appends batch by batch; a `kill -9` loses at most the batch in flight.
//! - [`RememberedAnswers`]: the reader (ids → answers and embeddings), checked to hold
//!   train answers only; [`Status`]: how far a memory got.
//!
//! Validation and test prompts are never answered: the order holds train records only,
//! each batch is checked again before it reaches the LLM, and loading refuses a memory
//! holding any other split.
//!
//! ```no_run
//! use std::path::Path;
//! use vec2prompt_core::GenerationParams;
//! use vec2prompt_memory::{BuildOptions, Memory, MemoryConfig, RememberedAnswers, DEFAULT_ORDER_SEED};
//! # fn demo(llm: &dyn vec2prompt_core::Llm, embedder: &dyn vec2prompt_core::Embedder) -> vec2prompt_core::Result<()> {
//! let dataset = Path::new("datasets/alpaca");
//! let records = vec2prompt_dataset::read_records(&dataset.join("records.jsonl"))?;
//! let config = MemoryConfig {
//!     llm: "SmolLM2-135M-Instruct.Q4_1 weights=Q8_0 max_new_tokens=128 greedy".into(),
//!     params: GenerationParams::default(),
//!     order_seed: DEFAULT_ORDER_SEED,
//! };
//! let mut memory = Memory::open(dataset, &records, embedder.info(), &config)?;
//! let options = BuildOptions { limit: Some(1000), batch: 64 };
//! memory.build(&records, llm, embedder, &options, &mut |done, total| eprintln!("{done}/{total}"))?;
//! drop(memory);
//! let answers = RememberedAnswers::load(dataset, &config.llm, &records)?;
//! println!("{}: {}", answers.entries[0].id, answers.entries[0].answer);
//! # Ok(()) }
//! ```

pub mod build;
pub mod memory;
pub mod order;
pub mod view;

pub use build::{BuildOptions, BuildReport};
pub use memory::{Entry, Manifest, Memory, MemoryConfig, memory_dir};
pub use order::{DEFAULT_ORDER_SEED, train_order};
pub use view::{RememberedAnswers, Status};
