//! The search: propose candidates, rank them cheaply, answer the top ones for real within
//! a budget, return the best measured prompt (or the best ranked one in fast mode).

use crate::environment::Environment;
use crate::neighbours::Neighbours;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vec2prompt_core::{Error, Result, TargetVector};

/// How much real feedback a search may spend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchBudget {
    /// Most LLM calls (answers generated) spent choosing the prompt; 0 is fast mode.
    pub max_llm_calls: usize,
    /// Wall-time limit; once passed, no further LLM round starts.
    pub max_wall: Option<Duration>,
}

impl SearchBudget {
    /// Fast mode: no LLM calls, the cheap ranking decides.
    pub fn fast() -> Self {
        Self {
            max_llm_calls: 0,
            max_wall: None,
        }
    }

    /// Quality mode with at most `calls` LLM calls.
    pub fn calls(calls: usize) -> Self {
        Self {
            max_llm_calls: calls,
            max_wall: None,
        }
    }
}

/// Settings of one search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// The budget of real feedback.
    pub budget: SearchBudget,
    /// Candidates proposed per target before ranking.
    pub candidates: usize,
    /// Candidates returned as variants (best first), at least 1.
    pub variants: usize,
    /// Seed of any sampling in the proposal step.
    pub seed: u64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            budget: SearchBudget::fast(),
            candidates: 32,
            variants: 1,
            seed: 0,
        }
    }
}

/// Where a candidate prompt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSource {
    /// The prompt of a train record whose answer is near the target.
    Neighbour,
    /// Decoded by the inverter from the target.
    Inverter,
    /// Rewritten by the corrector from a measured candidate.
    Corrector,
}

/// One candidate prompt and what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The prompt text.
    pub prompt: String,
    /// Where it came from.
    pub source: CandidateSource,
    /// The dataset record it was taken from, for neighbours.
    pub record_id: Option<String>,
    /// The cheap ranking score (predicted cosine to the target).
    pub predicted: f32,
    /// The measured cosine of its real answer to the target, if it was evaluated.
    pub similarity: Option<f32>,
    /// The real answer, if it was evaluated.
    pub answer: Option<String>,
}

/// Where a search spent its time, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchTimings {
    /// Proposing candidates.
    pub propose_ms: f64,
    /// Ranking them cheaply.
    pub rank_ms: f64,
    /// Answering and scoring with the real LLM and embedder.
    pub evaluate_ms: f64,
    /// The whole search.
    pub total_ms: f64,
}

/// The outcome of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The chosen prompt: the best measured candidate, or the best ranked one when none was
    /// measured.
    pub best: Candidate,
    /// The top candidates, best first (measured ones by similarity, then by prediction).
    pub candidates: Vec<Candidate>,
    /// LLM calls spent choosing (never more than the budget).
    pub llm_calls: usize,
    /// The method, as named on the leaderboard (`fast`, `search-16`, …).
    pub method: String,
    /// Time spent per stage (for a batch: this target's share).
    pub timings: SearchTimings,
}

/// Finds prompts for target embeddings.
pub struct Searcher {
    env: Environment,
    neighbours: Arc<Neighbours>,
}

impl Searcher {
    /// A searcher proposing nearest-neighbour prompts, checked in `env`.
    pub fn new(env: Environment, neighbours: Arc<Neighbours>) -> Result<Self> {
        if neighbours.dimension() != env.dimension() {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "its embeddings have {} dimensions but the embedder produces {}",
                    neighbours.dimension(),
                    env.dimension()
                ),
            ));
        }
        Ok(Self { env, neighbours })
    }

    /// The environment (LLM and embedder) the search checks candidates in.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Dimension of target vectors.
    pub fn dimension(&self) -> usize {
        self.env.dimension()
    }

    /// Searches one target.
    pub fn search(&self, target: &TargetVector, options: &SearchOptions) -> Result<SearchResult> {
        self.search_batch(std::slice::from_ref(target), options)
            .pop()
            .unwrap_or_else(|| Err(Error::invalid("target", "no result")))
    }

    /// Searches many targets, batching their LLM calls; the result at `i` belongs to
    /// `targets[i]`. Errors of the environment fail every target of the batch.
    pub fn search_batch(
        &self,
        targets: &[TargetVector],
        options: &SearchOptions,
    ) -> Vec<Result<SearchResult>> {
        match self.search_all(targets, options) {
            Ok(results) => results.into_iter().map(Ok).collect(),
            Err(e) => targets
                .iter()
                .map(|_| Err(Error::backend("search", &e)))
                .collect(),
        }
    }

    fn search_all(
        &self,
        targets: &[TargetVector],
        options: &SearchOptions,
    ) -> Result<Vec<SearchResult>> {
        let started = Instant::now();
        let n = targets.len().max(1) as f64;
        let queries: Vec<Vec<f32>> = targets.iter().map(|t| t.values.clone()).collect();
        let k = options.candidates.max(options.budget.max_llm_calls).max(1);
        let t = Instant::now();
        let nearest = self.neighbours.nearest(&queries, k)?;
        let propose_ms = t.elapsed().as_secs_f64() * 1e3 / n;
        // Neighbours are already ranked by how near their answers are to the target.
        let mut ranked: Vec<Vec<Candidate>> = nearest
            .into_iter()
            .map(|hs| {
                hs.into_iter()
                    .map(|h| Candidate {
                        prompt: h.prompt,
                        source: CandidateSource::Neighbour,
                        record_id: Some(h.record_id),
                        predicted: h.score,
                        similarity: None,
                        answer: None,
                    })
                    .collect()
            })
            .collect();
        let t = Instant::now();
        let mut llm_calls = vec![0usize; targets.len()];
        let budget = options.budget.max_llm_calls;
        if budget > 0 {
            let mut prompts = Vec::new();
            let mut owners = Vec::new();
            for (i, cands) in ranked.iter().enumerate() {
                for (j, c) in cands.iter().take(budget).enumerate() {
                    prompts.push(c.prompt.clone());
                    owners.push((i, j));
                }
            }
            // Rounds of at most 32 prompts so the wall budget is checked between them.
            for chunk in prompts.chunks(32).zip(owners.chunks(32)) {
                if options
                    .budget
                    .max_wall
                    .is_some_and(|w| started.elapsed() >= w)
                {
                    break;
                }
                let (ps, os) = chunk;
                let tv: Vec<&[f32]> = os.iter().map(|&(i, _)| &queries[i][..]).collect();
                let evals = self.env.evaluate(ps, &tv)?;
                for (&(i, j), e) in os.iter().zip(evals) {
                    ranked[i][j].similarity = Some(e.similarity);
                    ranked[i][j].answer = Some(e.answer);
                    llm_calls[i] += 1;
                }
            }
        }
        let evaluate_ms = t.elapsed().as_secs_f64() * 1e3 / n;
        let total_ms = started.elapsed().as_secs_f64() * 1e3 / n;
        let method = if budget == 0 {
            "fast".to_string()
        } else {
            format!("search-{budget}")
        };
        Ok(ranked
            .into_iter()
            .zip(llm_calls)
            .map(|(mut cands, calls)| {
                sort_candidates(&mut cands);
                cands.truncate(options.variants.max(1));
                SearchResult {
                    best: cands[0].clone(),
                    candidates: cands,
                    llm_calls: calls,
                    method: method.clone(),
                    timings: SearchTimings {
                        propose_ms,
                        rank_ms: 0.0,
                        evaluate_ms,
                        total_ms,
                    },
                }
            })
            .collect())
    }
}

/// Measured candidates first (by similarity), then the rest by prediction.
fn sort_candidates(cands: &mut [Candidate]) {
    cands.sort_by(|a, b| match (a.similarity, b.similarity) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b.predicted.total_cmp(&a.predicted),
    });
}
