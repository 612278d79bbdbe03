//! Bodies of `POST /interpolate`: the targets (texts, vectors or centroids of several),
//! the path, and one prompt per point.

use super::{GenerateOptions, Variant};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use vec2prompt_search::interpolation::PathKind;

/// A target: exactly one of a text, a vector, or several texts or vectors whose
/// (weighted) centroid is the target — the "mean of a user's preferences" case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// A text; the target is its embedding.
    pub text: Option<String>,
    /// Several texts; the target is the normalized mean of their embeddings.
    pub texts: Option<Vec<String>>,
    /// A vector with the embedder's dimension.
    #[schema(value_type = Option<Vec<f64>>)]
    pub embedding: Option<Value>,
    /// Several vectors; the target is the normalized mean of their directions.
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub embeddings: Option<Vec<Value>>,
    /// One non-negative weight per text or vector of a centroid. Default: equal weights.
    pub weights: Option<Vec<f64>>,
}

/// Path between the two ends of an interpolation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathName {
    /// Great circle: equal angle steps (the default).
    #[default]
    Spherical,
    /// Straight chord, each point normalized.
    Linear,
}

impl From<PathName> for PathKind {
    fn from(p: PathName) -> Self {
        match p {
            PathName::Spherical => PathKind::Spherical,
            PathName::Linear => PathKind::Linear,
        }
    }
}

/// `POST /interpolate`: a prompt for each of `steps` points from `from` to `to`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterpolateRequest {
    /// The start of the path.
    pub from: TargetSpec,
    /// The end of the path.
    pub to: TargetSpec,
    /// Points on the path, both ends included (2–64, and at most the server's
    /// `max_batch_items`). Default 5, or that maximum if it is lower.
    #[serde(default, deserialize_with = "super::int::opt_usize")]
    pub steps: Option<usize>,
    /// `spherical` (default) or `linear`.
    #[serde(default)]
    pub path: PathName,
    /// Answer each point's prompt with the LLM (one call per point unless the search
    /// already measured it), so the answers' similarities to the point and both ends are
    /// measured, not only predicted.
    #[serde(default)]
    pub evaluate_quality: bool,
    /// Search settings, shared by every point (`budget` is per point).
    #[serde(default)]
    pub options: Option<GenerateOptions>,
}

/// One point of an interpolation and its prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InterpolatePoint {
    /// Position on the path, 0 = `from`, `steps − 1` = `to`.
    pub index: usize,
    /// Fraction of the way from `from` to `to` (0–1).
    pub t: f64,
    /// The prompt for this point.
    pub prompt: String,
    /// Where it came from (`neighbour`, `memory`, `generator`, `inverter`, `corrector`,
    /// `recombined` or `content`: a request naming the target's topics).
    pub source: String,
    /// The cheap ranking's predicted cosine between the prompt's answer and the point.
    pub predicted_similarity: f32,
    /// Predicted cosine of the answer to the start, when a surrogate ranked it.
    pub predicted_similarity_to_start: Option<f32>,
    /// Predicted cosine of the answer to the end, when a surrogate ranked it.
    pub predicted_similarity_to_end: Option<f32>,
    /// Measured cosine of the real answer to the point; null unless measured.
    pub similarity: Option<f32>,
    /// Measured cosine of the real answer to the start; null unless measured.
    pub similarity_to_start: Option<f32>,
    /// Measured cosine of the real answer to the end; null unless measured.
    pub similarity_to_end: Option<f32>,
    /// The LLM's answer, when measured.
    pub answer: Option<String>,
    /// LLM calls the search spent choosing this point's prompt.
    pub llm_calls: usize,
    /// The top candidates, best first (as many as `options.variants`).
    pub variants: Vec<Variant>,
    /// The point itself (unit vector), with `options.return_vectors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// Response of `/interpolate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InterpolateResponse {
    /// The path taken.
    pub path: PathName,
    /// Cosine between the two ends.
    pub ends_similarity: f32,
    /// One entry per point, from `from` to `to`.
    pub points: Vec<InterpolatePoint>,
    /// LLM calls spent choosing the prompts, all points together.
    pub llm_calls: usize,
    /// LLM calls spent measuring them afterwards (`evaluate_quality`).
    pub evaluation_llm_calls: usize,
    /// Seconds the request took on the server.
    pub processing_time: f64,
    /// The normalized start, with `options.return_vectors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_vector: Option<Vec<f32>>,
    /// The normalized end, with `options.return_vectors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_vector: Option<Vec<f32>>,
}
