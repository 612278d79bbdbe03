//! The evaluation harness: every quality claim of vec2prompt is measured here.
//!
//! Targets are the output embeddings of test records (`index % 100 == 7`, file order);
//! each method picks a prompt per target, the environment (LLM, greedy, 128 new tokens)
//! answers it, and the score is the cosine between the target and the answer's embedding.
//!
//! - [`cache`]: answers cached per (prompt, LLM configuration), so re-runs are cheap.
//! - [`stats`]: mean, median, bootstrap CI, win rate, copy rate.
//! - [`cached_llm`]: an LLM answering from the cache, with honest timing.
//! - [`harness`]: the methods (random, oracle, knn-1, knn-best-of-k; inverter-greedy,
//!   fast, search-b with learned models) and the run.
//! - [`report`]: the JSON and Markdown leaderboard.
//! - [`quality`]: how the chosen prompts read (fluency, non-words, word lists, templates,
//!   length, diversity, task kept), beside the human prompts; [`report_quality`] measures
//!   it again for a finished report.
//! - [`rescore`]: the same choices scored again in a perturbed environment (sampled
//!   answers, other weights): robust, not lucky.
//! - [`paired`]: paired differences of methods on the same targets against their
//!   baselines, with bootstrap CIs.
//! - [`plots`]: SVG pictures of a run (score distributions, paired differences, quality
//!   against LLM calls).
//! - [`interpolation`]: the interpolation report (do answers follow a path between two targets?).
//! - [`optimizer_bench`]: the prompt optimizer's raw → optimized benchmark (per raw
//!   family, the gate and the held-out family); it lives here, not in the optimizer
//!   crate, so the server (which serves the optimizer) never links the harness.

pub mod cache;
pub mod cached_llm;
pub mod harness;
pub mod interpolation;
pub mod optimizer_bench;
pub mod paired;
pub mod plots;
pub mod prefix;
pub mod quality;
pub mod report;
pub mod report_quality;
pub mod rescore;
pub mod stats;

pub use cache::{AnswerCache, CachedAnswer};
pub use cached_llm::{CachedLlm, CallStats};
pub use harness::{EvalConfig, EvalData, EvalEvent, run};
pub use interpolation::{
    InterpolationEvalConfig, InterpolationReport, pick_pairs, run_interpolation,
};
pub use report::{MethodReport, RankingReport, Report};
pub use rescore::{Perturbed, rescore};
