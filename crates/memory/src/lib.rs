//! The environment memory: the configured LLM's own answers to a dataset's train prompts,
//! each with its embedding, keyed by the LLM configuration (`vec2prompt remember`).
//!
//! The dataset's outputs were written by another model; the environment a prompt is scored
//! in is the LLM vec2prompt serves. The memory records what that LLM really answers, under
//! the evaluation's generation settings, so models can be trained on it and fast mode can
//! retrieve prompts by their real answers. It is built once, in slices:
//!
//! ```text
//!  records.jsonl ─► train_order(seed) ─► next batch of train prompts ─► Llm::generate (greedy, 128)
//!                   (sha256(seed ‖ id))          │ split re-checked            │
//!                                                ▼                             ▼
//!  <dataset>/memory/<digest of LLM key>/  answers.jsonl (Entry per line) ◄─ answers ─► Embedder ─► answers.f32
//! ```
//!
//! - [`order`]: a seeded shuffle of the train split: train records sorted by
//!   `sha256(seed ‖ id)`, deterministic without depending on an RNG's version; every prefix
//!   is a uniform sample, so a memory built to `--limit N` is already useful and a larger N
//!   extends it.
//! - [`Memory`]: the writer (one per memory, held by a `flock`ed lock file):
//!   [`Memory::build`] answers, embeds and appends batch by batch. A batch is appended to
//!   `answers.jsonl` and flushed, then its vectors to `answers.f32`, flushed; on open, torn
//!   tails are cut (`vec2prompt_store::append`), both files are cut to the rows both hold,
//!   and those rows must be the order's prefix. A `kill -9` therefore loses at most the
//!   batch in flight (tested through the CLI with a real SIGKILL against an uninterrupted
//!   run). The manifest pins the LLM key, generation settings, embedder, seed and a
//!   fingerprint of the ordered train ids and prompts; anything else is refused, not mixed.
//! - [`RememberedAnswers`]: the reader (ids → answers and embeddings), checked to hold
//!   train answers only; [`Status`]: how far a memory got. Readers never modify the files.
//!
//! The key is the string the evaluation's answer cache uses (the CLI's `Config::llm_key`:
//! model, weight format, answer length, greedy; a remote LLM: model and base URL), so each
//! LLM configuration has its own memory. Empty answers get the zero vector
//! (`answer_score` scores them 0, as everywhere).
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
