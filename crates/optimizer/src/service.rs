//! One optimization request, shared by the CLI and the HTTP API: checks, drafting the
//! variants (no LLM), ranking them on measured answers (with a budget), the response.

use crate::answer_head::AnswerHead;
use crate::model::{PromptOptimizer, Style};
use crate::vague::split_prompt;
use serde::Serialize;
use vec2prompt_core::{Error, Result, answer_score};
use vec2prompt_latent::LatentModel;

/// Most improved prompts per request.
pub const MAX_RETURN_SEQUENCES: usize = 8;
/// Most LLM calls per request.
pub const MAX_BUDGET: usize = 8;
/// Longest improved prompt, in tokens.
pub const MAX_LENGTH: usize = 512;
/// How much better (cosine to the goal) a measured rewrite's answer must land than the raw
/// prompt's before it is returned as an improvement: one answer's cosine varies by a few
/// hundredths between near-identical prompts, so a smaller gain is noise.
pub const IMPROVEMENT_MARGIN: f32 = 0.02;

/// Where a variant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The user's own prompt, measured beside the rewrites when there is a budget.
    Raw,
    /// The learned optimizer's rewrite.
    Optimizer,
}

/// What the measured answers are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    /// The predicted answer of the raw prompt's intent (no target given): the answer
    /// head's when the optimizer has one, else the surrogate's for the raw prompt.
    #[default]
    PredictedAnswer,
    /// The embedding of a text the user wants the answers to resemble.
    TargetText,
    /// A vector the user gave, in the embedder's space.
    TargetEmbedding,
    /// The mean embedding of example answers the user gave ("answers like these").
    TargetExamples,
}

impl GoalKind {
    /// The name the API uses.
    pub fn name(self) -> &'static str {
        match self {
            GoalKind::PredictedAnswer => "predicted_answer",
            GoalKind::TargetText => "target_text",
            GoalKind::TargetEmbedding => "target_embedding",
            GoalKind::TargetExamples => "target_examples",
        }
    }
}

/// Most example answers one request may give as its target.
pub const MAX_TARGET_EXAMPLES: usize = 8;

/// The user's own goal for the answers, in place of the predicted answer of the intent.
#[derive(Debug, Clone)]
pub struct UserTarget {
    /// What the user gave.
    pub kind: GoalKind,
    /// The unit vector the answers are compared with.
    pub vector: Vec<f32>,
    /// Texts a rewrite may not copy a run of 8 words from (the target text or examples).
    pub texts: Vec<String>,
}

impl UserTarget {
    /// A target from texts and their embeddings: the normalized mean of `vectors`.
    pub fn from_texts(kind: GoalKind, texts: Vec<String>, vectors: &[Vec<f32>]) -> Result<Self> {
        let dim = vectors.first().map_or(0, Vec::len);
        let mut mean = vec![0.0f32; dim];
        for v in vectors {
            for (m, x) in mean.iter_mut().zip(v) {
                *m += x;
            }
        }
        Self::from_vector(kind, mean, texts)
    }

    /// A target from a vector (normalized here); an error when it is empty, not finite or
    /// zero.
    pub fn from_vector(kind: GoalKind, vector: Vec<f32>, texts: Vec<String>) -> Result<Self> {
        let field = match kind {
            GoalKind::TargetText => "target_text",
            GoalKind::TargetExamples => "target_examples",
            _ => "target_embedding",
        };
        if vector.is_empty() || vector.iter().any(|x| !x.is_finite()) {
            return Err(Error::invalid(
                field,
                "must be a non-empty vector of finite numbers",
            ));
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm <= f32::EPSILON {
            return Err(Error::invalid(
                field,
                "is the zero vector: it has no direction",
            ));
        }
        Ok(Self {
            kind,
            vector: vector.iter().map(|x| x / norm).collect(),
            texts,
        })
    }

    /// Whether `prompt` copies a run of 8 words of one of the target's texts.
    pub fn copied_by(&self, prompt: &str) -> bool {
        self.texts
            .iter()
            .any(|t| vec2prompt_core::text::copies(prompt, t))
    }
}

/// What to optimize and how.
#[derive(Debug, Clone)]
pub struct OptimizeRequest {
    /// The prompt to improve; a record-style input after a blank line is kept as is.
    pub raw_prompt: String,
    /// Most tokens per improved prompt (8–512).
    pub max_length: usize,
    /// Improved prompts to return (1–8).
    pub num_return_sequences: usize,
    /// The style.
    pub style: Style,
    /// LLM calls to rank the variants with (0–8).
    pub budget: usize,
    /// The user's own goal for the answers (needs a budget); `None`: the predicted answer
    /// of the intent.
    pub target: Option<UserTarget>,
}

impl OptimizeRequest {
    /// Checks the request; the error names the field.
    pub fn validate(&self) -> Result<()> {
        vec2prompt_core::text::require_non_empty("raw_prompt", &self.raw_prompt)?;
        if !(8..=MAX_LENGTH).contains(&self.max_length) {
            return Err(Error::invalid(
                "max_length",
                format!(
                    "must be between 8 and {MAX_LENGTH} tokens, got {}",
                    self.max_length
                ),
            ));
        }
        if !(1..=MAX_RETURN_SEQUENCES).contains(&self.num_return_sequences) {
            return Err(Error::invalid(
                "num_return_sequences",
                format!(
                    "must be between 1 and {MAX_RETURN_SEQUENCES}, got {}",
                    self.num_return_sequences
                ),
            ));
        }
        if self.budget > MAX_BUDGET {
            return Err(Error::invalid(
                "budget",
                format!("must be between 0 and {MAX_BUDGET}, got {}", self.budget),
            ));
        }
        if self.target.is_some() && self.budget == 0 {
            return Err(Error::invalid(
                "budget",
                "is 0, but a target is compared with real answers: give a budget of at least 1",
            ));
        }
        Ok(())
    }

    /// The instruction part (what is embedded and rewritten).
    pub fn instruction(&self) -> &str {
        split_prompt(&self.raw_prompt).0
    }

    /// Variants to draft.
    pub fn variants(&self) -> usize {
        self.num_return_sequences.max(self.budget)
    }

    /// The texts to embed for [`RawEmbedding::from_vectors`]: the instruction, and the
    /// whole raw prompt when it has an input.
    pub fn texts_to_embed(&self) -> Vec<String> {
        let instruction = self.instruction().to_string();
        if instruction.trim() == self.raw_prompt.trim() {
            vec![instruction]
        } else {
            vec![instruction, self.raw_prompt.clone()]
        }
    }
}

/// The raw prompt as the optimizer reads it: the instruction's embedding (what the intent
/// network and the rewriter read) and the whole prompt's, its input included (what the
/// answer head reads).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawEmbedding {
    /// E(instruction).
    pub instruction: Vec<f32>,
    /// E(raw prompt), the input included (the instruction's own when there is none).
    pub prompt: Vec<f32>,
}

impl RawEmbedding {
    /// From the embeddings of [`OptimizeRequest::texts_to_embed`], in order.
    pub fn from_vectors(vectors: Vec<Vec<f32>>) -> Self {
        let mut it = vectors.into_iter();
        let instruction = it.next().unwrap_or_default();
        let prompt = it.next().unwrap_or_else(|| instruction.clone());
        Self {
            instruction,
            prompt,
        }
    }

    /// Both the same vector (a prompt without an input).
    pub fn same(e: &[f32]) -> Self {
        Self {
            instruction: e.to_vec(),
            prompt: e.to_vec(),
        }
    }
}

/// Variants drafted for a request, before or after ranking.
#[derive(Debug, Clone)]
pub struct Drafts {
    /// Full improved prompts (input re-attached), most likely first, or best ranked
    /// first after [`Optimizer::rank`].
    pub candidates: Vec<String>,
    /// Cosine of each answer to the goal (the user's target, or the predicted answer).
    pub scores: Vec<Option<f32>>,
    /// The answers, when measured.
    pub answers: Vec<Option<String>>,
    /// The optimizer's intent vector.
    pub intent: Vec<f32>,
    /// The predicted answer of the intent (the answer head's, else the surrogate's for
    /// the raw prompt); `None` without either.
    pub predicted: Option<Vec<f32>>,
    /// LLM calls spent.
    pub llm_calls: usize,
    /// Where each candidate came from.
    pub sources: Vec<Source>,
    /// Rewrites dropped because they copied 8+ words of the user's target.
    pub refused_copies: usize,
}

/// One improved prompt of a response.
#[derive(Debug, Clone, Serialize)]
pub struct Optimized {
    /// The prompt.
    pub prompt: String,
    /// With a budget: cosine of its answer to the goal (the user's target, or the
    /// predicted answer of the intent).
    pub score: Option<f32>,
    /// With a budget: the LLM's answer.
    pub answer: Option<String>,
    /// Where it came from (the raw prompt itself, or the optimizer).
    pub source: Source,
    /// Whether `score` was measured on a real answer (otherwise the prompt was not
    /// answered and has no score).
    pub measured: bool,
}

/// The result of a request.
#[derive(Debug, Clone, Serialize)]
pub struct OptimizeOutcome {
    /// The best improved prompt.
    pub optimized_prompt: String,
    /// Every improved prompt returned, best first.
    pub optimized_prompts: Vec<Optimized>,
    /// The style.
    pub style: Style,
    /// LLM calls spent.
    pub llm_calls: usize,
    /// With a budget and a surrogate: whether the best measured rewrite beat the raw
    /// prompt by [`IMPROVEMENT_MARGIN`]. When it did not, the raw prompt comes back first,
    /// as the best prompt; `None` when nothing was compared.
    pub improved: Option<bool>,
    /// With a budget: the raw prompt's own measured score (cosine of its answer to the
    /// same goal as the rewrites').
    pub raw_score: Option<f32>,
    /// What the scores compare the answers with.
    pub goal: GoalKind,
    /// Rewrites dropped because they copied 8+ words of the user's target.
    pub refused_copies: usize,
}

/// A loaded optimizer and the models that predict the answer its measured variants are
/// ranked against.
pub struct Optimizer {
    /// The network.
    pub model: PromptOptimizer,
    /// Prompt embedding → predicted answer embedding, used on the raw prompt when there
    /// is no answer head; with neither, measured variants keep the optimizer's order.
    pub surrogate: Option<std::sync::Arc<LatentModel>>,
    /// Raw prompt embedding → the answer its intent should get (the default goal).
    pub head: Option<AnswerHead>,
}

impl Optimizer {
    /// Drafts `request.variants()` improved prompts for a raw prompt embedded as `e`:
    /// the greedy one first, then seeded samples.
    pub fn draft(&self, request: &OptimizeRequest, e: &RawEmbedding) -> Result<Drafts> {
        self.draft_until(request, e, &|| false)
    }

    /// The predicted answer of a raw prompt: the answer head's for the whole prompt when
    /// there is one, else the surrogate's for it, else `None`. (The surrogate's
    /// prediction for the optimizer's intent vector lands far from the reference answers,
    /// further than the raw prompt's own embedding, and is not used.)
    pub fn predicted_answer(&self, e: &RawEmbedding) -> Result<Option<Vec<f32>>> {
        let one = std::slice::from_ref(&e.prompt);
        if let Some(h) = &self.head {
            return Ok(h.predict(one)?.into_iter().next());
        }
        match &self.surrogate {
            Some(s) => Ok(s.predict(one)?.into_iter().next()),
            None => Ok(None),
        }
    }

    /// [`Optimizer::draft`], asking `stop` before every forward pass: once it says true
    /// drafting ends with an error.
    pub fn draft_until(
        &self,
        request: &OptimizeRequest,
        e: &RawEmbedding,
        stop: &dyn Fn() -> bool,
    ) -> Result<Drafts> {
        let e_instruction = e.instruction.as_slice();
        let (_, input) = split_prompt(&request.raw_prompt);
        let max_tokens = request.max_length.min(MAX_LENGTH);
        let raw = &request.raw_prompt;
        let texts = self.model.drafts_until(
            raw,
            e_instruction,
            request.style,
            request.variants(),
            max_tokens,
            0,
            stop,
        )?;
        // A rewrite that pastes the target's words would be scored on the paste (the
        // user's own input, re-attached below, is theirs to keep).
        let mut texts = texts;
        let before = texts.len();
        if let Some(t) = &request.target {
            texts.retain(|c| !t.copied_by(c));
        }
        let refused_copies = before - texts.len();
        let mut candidates: Vec<String> = texts
            .into_iter()
            .map(|t| match input {
                Some(i) => format!("{t}\n\n{i}"),
                None => t,
            })
            .collect();
        let mut sources = vec![Source::Optimizer; candidates.len()];
        // With a budget the raw prompt is measured too (it spends one of the calls), so a
        // rewrite is returned only when it measures better.
        if request.budget >= 1 {
            if let Some(same) = candidates.iter().position(|c| c.trim() == raw.trim()) {
                candidates.remove(same);
                sources.remove(same);
            }
            candidates.insert(0, raw.clone());
            sources.insert(0, Source::Raw);
        }
        let intent = self
            .model
            .intents(&[e_instruction.to_vec()])?
            .into_iter()
            .next()
            .unwrap_or_default();
        // Only a budget's answers are compared with it.
        let predicted = if request.budget > 0 && request.target.is_none() {
            self.predicted_answer(e)?
        } else {
            None
        };
        let n = candidates.len();
        Ok(Drafts {
            candidates,
            scores: vec![None; n],
            answers: vec![None; n],
            intent,
            predicted,
            llm_calls: 0,
            sources,
            refused_copies,
        })
    }

    /// Ranks the first `answers.len()` variants by how close their answers' embeddings
    /// (`vectors`; empty for an empty answer) land to the request's target, or without
    /// one to the predicted answer of the intent; unmeasured variants follow in their
    /// drafted order.
    pub fn rank(
        &self,
        mut d: Drafts,
        request: &OptimizeRequest,
        answers: &[String],
        vectors: &[Vec<f32>],
    ) -> Drafts {
        let goal = match &request.target {
            Some(t) => Some(t.vector.clone()),
            None => d.predicted.clone(),
        };
        let m = answers.len().min(d.candidates.len());
        for i in 0..m {
            d.answers[i] = Some(answers[i].clone());
            d.scores[i] = goal.as_ref().map(|g| answer_score(g, &vectors[i]));
        }
        d.llm_calls += m;
        let mut idx: Vec<usize> = (0..d.candidates.len()).collect();
        // Stable: measured variants by score, then the rest as drafted.
        idx.sort_by(|&a, &b| match (d.scores[a], d.scores[b]) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(&b),
        });
        Drafts {
            candidates: idx.iter().map(|&i| d.candidates[i].clone()).collect(),
            scores: idx.iter().map(|&i| d.scores[i]).collect(),
            answers: idx.iter().map(|&i| d.answers[i].clone()).collect(),
            sources: idx.iter().map(|&i| d.sources[i]).collect(),
            intent: d.intent,
            predicted: d.predicted,
            llm_calls: d.llm_calls,
            refused_copies: d.refused_copies,
        }
    }

    /// The response (see [`respond`]).
    pub fn finish(&self, d: Drafts, request: &OptimizeRequest) -> OptimizeOutcome {
        respond(d, request)
    }
}

/// The response: the first `num_return_sequences` prompts, best first. A measured raw
/// prompt stays first unless a measured rewrite beat it by [`IMPROVEMENT_MARGIN`]; with no
/// score to compare (no surrogate), the rewrites come first and nothing is claimed.
pub fn respond(d: Drafts, request: &OptimizeRequest) -> OptimizeOutcome {
    {
        let mut rows: Vec<Optimized> = d
            .candidates
            .into_iter()
            .zip(d.scores)
            .zip(d.answers)
            .zip(d.sources)
            .map(|(((prompt, score), answer), source)| Optimized {
                measured: answer.is_some() && score.is_some(),
                prompt,
                score,
                answer,
                source,
            })
            .collect();
        let raw_score = rows
            .iter()
            .find(|r| r.source == Source::Raw && r.measured)
            .and_then(|r| r.score);
        let best_rewrite = rows
            .iter()
            .filter(|r| r.source == Source::Optimizer && r.measured)
            .filter_map(|r| r.score)
            .max_by(f32::total_cmp);
        let improved = match (raw_score, best_rewrite) {
            (Some(raw), Some(best)) => Some(best > raw + IMPROVEMENT_MARGIN),
            (Some(_), None) => Some(false),
            _ => None,
        };
        let raw_first = match improved {
            Some(better) => !better,
            // Nothing compared: the raw prompt (if present) goes last.
            None => false,
        };
        if let Some(pos) = rows.iter().position(|r| r.source == Source::Raw) {
            let raw = rows.remove(pos);
            if raw_first {
                rows.insert(0, raw);
            } else {
                rows.push(raw);
            }
        }
        rows.truncate(request.num_return_sequences);
        OptimizeOutcome {
            optimized_prompt: rows.first().map(|p| p.prompt.clone()).unwrap_or_default(),
            optimized_prompts: rows,
            style: request.style,
            llm_calls: d.llm_calls,
            improved,
            raw_score,
            goal: request
                .target
                .as_ref()
                .map_or(GoalKind::PredictedAnswer, |t| t.kind),
            refused_copies: d.refused_copies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drafts(scores: &[Option<f32>], sources: &[Source]) -> Drafts {
        let n = scores.len();
        Drafts {
            candidates: (0..n).map(|i| format!("prompt {i}")).collect(),
            scores: scores.to_vec(),
            answers: scores
                .iter()
                .map(|s| s.map(|_| "answer".to_string()))
                .collect(),
            intent: Vec::new(),
            predicted: None,
            llm_calls: scores.iter().filter(|s| s.is_some()).count(),
            sources: sources.to_vec(),
            refused_copies: 0,
        }
    }

    fn request(n: usize, budget: usize) -> OptimizeRequest {
        OptimizeRequest {
            raw_prompt: "prompt 0".into(),
            max_length: 64,
            num_return_sequences: n,
            style: Style::Precise,
            budget,
            target: None,
        }
    }

    #[test]
    fn a_rewrite_within_the_margin_gives_back_the_raw_prompt() {
        let d = drafts(&[Some(0.51), Some(0.50)], &[Source::Optimizer, Source::Raw]);
        let out = respond(d, &request(2, 2));
        assert_eq!(out.improved, Some(false));
        assert_eq!(out.optimized_prompt, "prompt 1");
        assert_eq!(out.optimized_prompts[0].source, Source::Raw);
        assert!(out.optimized_prompts.iter().all(|p| p.measured));
    }

    #[test]
    fn a_rewrite_beyond_the_margin_is_returned_first() {
        let d = drafts(&[Some(0.60), Some(0.50)], &[Source::Optimizer, Source::Raw]);
        let out = respond(d, &request(1, 2));
        assert_eq!(out.improved, Some(true));
        assert_eq!(out.optimized_prompt, "prompt 0");
        assert_eq!(out.optimized_prompts.len(), 1);
    }

    #[test]
    fn with_nothing_measured_the_rewrite_comes_first_and_nothing_is_claimed() {
        let d = drafts(&[None, None], &[Source::Raw, Source::Optimizer]);
        let out = respond(d, &request(2, 0));
        assert_eq!(out.improved, None);
        assert_eq!(out.optimized_prompts[0].source, Source::Optimizer);
        assert!(!out.optimized_prompts[0].measured);
    }

    #[test]
    fn a_user_target_is_normalized_checked_and_refuses_copies() {
        let t = UserTarget::from_texts(
            GoalKind::TargetExamples,
            vec!["the cat sat on the warm mat by the door all day".into()],
            &[vec![3.0, 0.0], vec![0.0, 4.0]],
        )
        .unwrap();
        assert!((t.vector[0] - 0.6).abs() < 1e-6 && (t.vector[1] - 0.8).abs() < 1e-6);
        assert!(t.copied_by("Describe how the cat sat on the warm mat by the door."));
        assert!(!t.copied_by("Describe a cat on a mat."));
        for bad in [vec![], vec![0.0, 0.0], vec![f32::NAN, 1.0]] {
            assert!(UserTarget::from_vector(GoalKind::TargetEmbedding, bad, vec![]).is_err());
        }
        let mut r = request(1, 0);
        r.target = Some(t);
        assert!(r.validate().is_err(), "a target needs a budget");
        r.budget = 2;
        assert!(r.validate().is_ok());
    }
}
