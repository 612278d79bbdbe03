//! The models of `generate`-like work loaded once and kept: the searcher, the embedder,
//! the LLM and (on first use) the prompt optimizer. `vec2prompt batch` and the Python
//! package both drive a [`Session`], so a prompt from either is the one `generate` writes.

use crate::common::{load_optimizer, run_optimize};
use crate::config::{Backends, Config, Loaded};
use anyhow::{Result, anyhow};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use vec2prompt_core::{TargetVector, answer_score};
use vec2prompt_optimizer::service::{OptimizeOutcome, OptimizeRequest, Optimizer};
use vec2prompt_search::interpolation::{self, PathKind};
use vec2prompt_search::{SearchBudget, SearchOptions, SearchResult, Searcher};

/// How each target is searched.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most LLM calls per target; 0 is fast mode (predicted similarity only).
    pub budget: usize,
    /// Candidate prompts returned beside the best one (0: none).
    pub variants: usize,
    /// Seed of the generator's and inverter's sampling.
    pub seed: u64,
    /// Wall-time limit of one search call (no new LLM round starts after it).
    pub max_seconds: Option<f64>,
    /// The cosine a request built around a word list must beat every other candidate
    /// by, in [0, 2] ([`parse_content_margin`]).
    pub content_margin: f32,
}

/// A content margin from text: a number in [0, 2] (0 ranks every source alike, 2 keeps
/// the templates around word lists as a fallback).
pub fn parse_content_margin(s: &str) -> std::result::Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(m) if (0.0..=2.0).contains(&m) => Ok(m),
        Ok(m) => Err(format!("{m} is not in [0, 2]")),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            budget: 4,
            variants: 0,
            seed: 0,
            max_seconds: None,
            content_margin: vec2prompt_search::DEFAULT_CONTENT_MARGIN,
        }
    }
}

/// One candidate prompt beside the chosen one.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    /// The prompt.
    pub prompt: String,
    /// Measured cosine when `measured`, else the surrogate's prediction.
    pub similarity: f32,
    /// Whether the LLM answered it and the answer was embedded and compared.
    pub measured: bool,
    /// Where it came from (`generator`, `neighbour`, `lexicon`, …).
    pub source: String,
}

/// The prompt chosen for one target.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    /// The prompt.
    pub prompt: String,
    /// Measured cosine between the LLM's answer and the target when `measured`, else the
    /// surrogate's prediction.
    pub similarity: f32,
    /// Whether `similarity` was measured with the real LLM.
    pub measured: bool,
    /// Real LLM calls spent on this target.
    pub llm_calls: usize,
    /// The method, as named on the leaderboard (`fast`, `search-4`, …).
    pub method: String,
    /// The LLM's answer, when measured.
    pub answer: Option<String>,
    /// Further candidates, best first (as many as asked for).
    pub variants: Vec<Variant>,
}

impl Generated {
    /// The chosen prompt of `r`, with up to `variants` further candidates.
    pub fn from_result(r: SearchResult, variants: usize) -> Self {
        let source = |s: &vec2prompt_search::CandidateSource| format!("{s:?}").to_lowercase();
        let variants = r
            .candidates
            .iter()
            .filter(|c| c.prompt != r.best.prompt)
            .take(variants)
            .map(|c| Variant {
                prompt: c.prompt.clone(),
                similarity: c.similarity.unwrap_or(c.predicted),
                measured: c.similarity.is_some(),
                source: source(&c.source),
            })
            .collect();
        Self {
            similarity: r.best.similarity.unwrap_or(r.best.predicted),
            measured: r.best.similarity.is_some(),
            prompt: r.best.prompt,
            llm_calls: r.llm_calls,
            method: r.method,
            answer: r.best.answer,
            variants,
        }
    }
}

/// One point of an interpolation path and its prompt.
#[derive(Debug, Clone, Serialize)]
pub struct PathPoint {
    /// Position on the path, 0 (start) to 1 (end).
    pub t: f64,
    /// The prompt chosen for the point.
    pub prompt: String,
    /// Measured cosine to the point when `measured`, else the prediction.
    pub similarity: f32,
    /// Whether the prompt was answered by the LLM.
    pub measured: bool,
    /// Cosine of the answer to the path's start (when measured).
    pub similarity_to_start: Option<f32>,
    /// Cosine of the answer to the path's end (when measured).
    pub similarity_to_end: Option<f32>,
    /// LLM calls spent on the point's search.
    pub llm_calls: usize,
}

/// The loaded models.
pub struct Session {
    config: Config,
    backends: Backends,
    searcher: Searcher,
    optimizer: OnceLock<Arc<Optimizer>>,
}

impl Session {
    /// Loads the backends and the searcher of `config`; `dataset` (or the default one when
    /// ingested) adds its train prompts to the candidates.
    pub fn open(config: Config, dataset: Option<&Path>) -> Result<Self> {
        let backends = config.backends()?;
        let Loaded { searcher, .. } = config.searcher(&backends, dataset)?;
        Ok(Self {
            config,
            backends,
            searcher,
            optimizer: OnceLock::new(),
        })
    }

    /// The embedding space's dimension.
    pub fn dimension(&self) -> usize {
        self.searcher.dimension()
    }

    /// Embeds `texts` (unit vectors).
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        for (i, t) in texts.iter().enumerate() {
            vec2prompt_core::text::require_non_empty(&format!("texts[{i}]"), t)?;
        }
        Ok(self.backends.embedder.embed(texts)?)
    }

    /// A prompt for each target, searched together so their LLM calls share forward
    /// passes. A target that is invalid (wrong dimension, NaN, zero) fails alone; an
    /// error of a backend fails the targets of the batch.
    pub fn generate(
        &self,
        targets: &[Vec<f32>],
        options: &GenerateOptions,
    ) -> Vec<Result<Generated>> {
        let dim = self.dimension();
        let checked: Vec<Result<TargetVector>> = targets
            .iter()
            .map(|v| TargetVector::new("target", v.clone(), dim).map_err(Into::into))
            .collect();
        let valid: Vec<TargetVector> = checked
            .iter()
            .filter_map(|t| t.as_ref().ok().cloned())
            .collect();
        let search = SearchOptions {
            budget: SearchBudget {
                max_llm_calls: options.budget,
                max_wall: options.max_seconds.map(Duration::from_secs_f64),
            },
            variants: options.variants + 1,
            seed: options.seed,
            content_margin: options.content_margin,
            ..SearchOptions::default()
        };
        let mut found = if valid.is_empty() {
            Vec::new()
        } else {
            self.searcher.search_batch(&valid, &search)
        }
        .into_iter();
        checked
            .into_iter()
            .map(|t| match t {
                Err(e) => Err(e),
                Ok(_) => match found.next() {
                    Some(Ok(r)) => Ok(Generated::from_result(r, options.variants)),
                    Some(Err(e)) => Err(e.into()),
                    None => Err(anyhow!("the search returned fewer results than targets")),
                },
            })
            .collect()
    }

    /// A prompt for each text's embedding.
    pub fn generate_from_text(
        &self,
        texts: &[String],
        options: &GenerateOptions,
    ) -> Result<Vec<Result<Generated>>> {
        let vectors = self.embed(texts)?;
        Ok(self.generate(&vectors, options))
    }

    /// Rewrites `request.raw_prompt` with the prompt optimizer (loaded on first use); with
    /// a budget, the raw prompt and the rewrites are answered and the raw one is kept
    /// unless a rewrite measures better.
    pub fn optimize(&self, request: &OptimizeRequest) -> Result<OptimizeOutcome> {
        let service = match self.optimizer.get() {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(load_optimizer(&self.config, None)?);
                self.optimizer.get_or_init(|| s).clone()
            }
        };
        run_optimize(
            &service,
            self.backends.embedder.as_ref(),
            self.backends.llm.as_ref(),
            request,
        )
    }

    /// Prompts for `steps` points on the path from `a` to `b`, each chosen prompt answered
    /// (the search's own measurement kept when it made one) and compared with both ends.
    pub fn interpolate(
        &self,
        a: &[f32],
        b: &[f32],
        steps: usize,
        budget: usize,
        path: PathKind,
    ) -> Result<Vec<PathPoint>> {
        let dim = self.dimension();
        let from = TargetVector::new("from", a.to_vec(), dim)?;
        let to = TargetVector::new("to", b.to_vec(), dim)?;
        let points = interpolation::interpolate(&from.values, &to.values, steps, path)?;
        let targets = points
            .iter()
            .map(|p| TargetVector::new("point", p.clone(), dim))
            .collect::<vec2prompt_core::Result<Vec<_>>>()?;
        let options = SearchOptions {
            budget: SearchBudget::calls(budget),
            keep_vectors: true,
            ..SearchOptions::default()
        };
        let mut best = Vec::with_capacity(points.len());
        let mut calls = Vec::with_capacity(points.len());
        for r in self.searcher.search_batch(&targets, &options) {
            let r = r?;
            calls.push(r.llm_calls);
            best.push(r.best);
        }
        crate::common::measure(&self.searcher, &points, &mut best)?;
        let start = interpolation::normalized("from", &from.values)?;
        let end = interpolation::normalized("to", &to.values)?;
        Ok(interpolation::positions(steps)
            .into_iter()
            .zip(best)
            .zip(calls)
            .map(|((t, c), llm_calls)| {
                let av = c.answer_vector.as_deref();
                let sim = |x: &[f32]| av.map(|v| answer_score(x, v));
                PathPoint {
                    t,
                    similarity: c.similarity.unwrap_or(c.predicted),
                    measured: c.similarity.is_some(),
                    similarity_to_start: sim(&start),
                    similarity_to_end: sim(&end),
                    prompt: c.prompt,
                    llm_calls,
                }
            })
            .collect())
    }
}

/// The kind of an error, as the HTTP API names it in `error_type`: `invalid_input` for a
/// bad argument, `model` for a model file that cannot be used, `backend` for a backend
/// that failed, `io` for a file that cannot be read or written, else `internal`.
pub fn error_type(e: &anyhow::Error) -> &'static str {
    use vec2prompt_core::Error;
    for cause in e.chain() {
        if let Some(err) = cause.downcast_ref::<Error>() {
            return match err {
                Error::InvalidInput { .. } => "invalid_input",
                Error::Model { .. } => "model",
                Error::Backend { .. } => "backend",
                Error::Io { .. } => "io",
            };
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return "io";
        }
    }
    "internal"
}
