//! The environment of the evaluation protocol: the LLM answers a prompt (greedy, at most 128 new tokens,
//! user turn only) and the embedder embeds the answer; the score is the cosine to the target.

use std::sync::Arc;
use std::time::Instant;
use vec2prompt_core::{
    Embedder, Error, GenerationParams, Llm, Result, answer_score, is_empty_answer,
};

/// The real loop: an LLM and an embedder, shared.
#[derive(Clone)]
pub struct Environment {
    /// The LLM that answers prompts.
    pub llm: Arc<dyn Llm>,
    /// The embedder of answers (and of target texts).
    pub embedder: Arc<dyn Embedder>,
    /// Generation settings of every answer (the protocol's: greedy, 128 new tokens).
    pub params: GenerationParams,
}

/// One prompt answered and scored.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The LLM's answer.
    pub answer: String,
    /// Cosine between the target and the answer's embedding; 0 for an empty answer.
    pub similarity: f32,
    /// The answer's embedding ê (empty for an empty answer).
    pub vector: Vec<f32>,
    /// Wall seconds of this prompt's share of the batched generation and embedding.
    pub seconds: f64,
}

impl Environment {
    /// An environment with the protocol's generation settings.
    pub fn new(llm: Arc<dyn Llm>, embedder: Arc<dyn Embedder>) -> Self {
        Self {
            llm,
            embedder,
            params: GenerationParams::default(),
        }
    }

    /// Embedding dimension of the embedder.
    pub fn dimension(&self) -> usize {
        self.embedder.info().dimension
    }

    /// Answers every prompt (one batched LLM call per `prompts`) and scores each answer
    /// against its target (`targets[i]` belongs to `prompts[i]`).
    pub fn evaluate(&self, prompts: &[String], targets: &[&[f32]]) -> Result<Vec<Evaluation>> {
        if prompts.len() != targets.len() {
            return Err(Error::invalid(
                "targets",
                format!("{} prompts but {} targets", prompts.len(), targets.len()),
            ));
        }
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        let t = Instant::now();
        let generations = self.llm.generate(prompts, &self.params)?;
        let answers: Vec<String> = generations
            .into_iter()
            .map(|mut g| {
                g.pop()
                    .map(|g| g.text)
                    .ok_or_else(|| Error::backend(&self.llm.info().name, "returned no answer"))
            })
            .collect::<Result<_>>()?;
        let non_empty: Vec<String> = answers
            .iter()
            .filter(|a| !is_empty_answer(a))
            .cloned()
            .collect();
        let mut vectors = self.embedder.embed(&non_empty)?.into_iter();
        let share = t.elapsed().as_secs_f64() / prompts.len() as f64;
        Ok(answers
            .into_iter()
            .zip(targets)
            .map(|(answer, target)| {
                let vector = if is_empty_answer(&answer) {
                    Vec::new()
                } else {
                    vectors.next().unwrap_or_default()
                };
                let similarity = answer_score(target, &vector);
                Evaluation {
                    answer,
                    similarity,
                    vector,
                    seconds: share,
                }
            })
            .collect())
    }
}
