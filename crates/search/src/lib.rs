//! Search: given a target embedding e*, find a prompt whose LLM answer lands near it.
//!
//! Candidates come from the nearest train records (their prompts), and — once a learned
//! model is loaded — from the inverter and the corrector; a cheap score ranks them; the top
//! few are answered by the real environment (LLM + embedder) within a [`SearchBudget`]; the
//! best measured candidate wins. Fast mode (`max_llm_calls == 0`) never calls the LLM.
//!
//! - [`calibrate`]: learning from each measured answer within a search (the surrogate's
//!   residuals near measured prompts; diverse picks).
//! - [`environment`]: the real loop, prompt → answer → embedding → cosine.
//! - [`lexicon`]: content candidates: the words that, written together, embed nearest the
//!   target (embedder calls only).
//! - [`neighbours`]: candidates from the dataset (nearest answers → their prompts).
//! - [`recall`]: candidates from the environment memory (nearest *real* answers → their
//!   prompts, with their similarity known without an LLM call).
//! - [`searcher`]: the search itself and its result types.
//! - [`interpolation`]: points between and among targets (interpolation paths, centroids).

pub mod calibrate;
pub mod environment;
pub mod interpolation;
pub mod lexicon;
pub mod neighbours;
pub mod recall;
pub mod searcher;

pub use environment::{Environment, Evaluation};
pub use interpolation::{PathKind, centroid, interpolate};
pub use lexicon::{Lexicon, TopicOptions, Topics};
pub use neighbours::Neighbours;
pub use recall::{Recall, Recalled};
pub use searcher::{
    Candidate, CandidateSource, DEFAULT_ANSWER_WEIGHT, DEFAULT_CONTENT_MARGIN, HYPOTHESIS_TOKENS,
    SearchBudget, SearchOptions, SearchResult, SearchTimings, Searcher,
};
