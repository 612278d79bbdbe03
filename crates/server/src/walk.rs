//! Walking the latent prompt space over HTTP: targets given as texts, vectors or centroids
//! of several, and `POST /interpolate` (one prompt per point between two ends).

use crate::api::{GenerateOptions, Variant};
use crate::error::{ErrorResponse, ErrorType, ServerError};
use crate::http::handlers::variants;
use crate::http::{ApiJson, AppState};
use crate::infer::Quality;
use crate::queue::Permit;
use crate::validate;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;
use utoipa::ToSchema;
use vec2prompt_core::{TargetVector, answer_score, cosine};
use vec2prompt_search::walk::{self, MAX_STEPS, PathKind};

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

/// Points of a path when the request names none (fewer if the server allows fewer).
const DEFAULT_STEPS: usize = 5;

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
    #[serde(default, deserialize_with = "crate::api::int::opt_usize")]
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

/// How the texts of a [`TargetSpec`] are combined once embedded.
#[derive(Debug)]
enum Pending {
    Vector(TargetVector),
    /// Indices into the shared text list, with optional weights.
    Texts(Vec<usize>, Option<Vec<f32>>),
}

fn visible(field: &str, text: &str) -> Result<(), ServerError> {
    vec2prompt_core::text::require_non_empty(field, text)?;
    Ok(())
}

/// Checks one spec and queues its texts in `texts` (embedded later, all in one call).
fn plan(
    field: &str,
    spec: &TargetSpec,
    dimension: usize,
    max_items: usize,
    texts: &mut Vec<String>,
) -> Result<Pending, ServerError> {
    let given = [
        spec.text.is_some(),
        spec.texts.is_some(),
        spec.embedding.is_some(),
        spec.embeddings.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err(ServerError::invalid(
            field,
            "give exactly one of text, texts, embedding or embeddings",
        ));
    }
    let many = spec
        .texts
        .as_ref()
        .map(Vec::len)
        .or(spec.embeddings.as_ref().map(Vec::len));
    match (many, &spec.weights) {
        (None, Some(_)) => {
            return Err(ServerError::invalid(
                &format!("{field}.weights"),
                "weights belong to a centroid: use texts or embeddings",
            ));
        }
        (Some(_), Some(w))
            if w.iter()
                .any(|&x| !(0.0..=validate::MAX_WEIGHT).contains(&x)) =>
        {
            return Err(ServerError::invalid(
                &format!("{field}.weights"),
                format!(
                    "each weight must be between 0 and {:e}",
                    validate::MAX_WEIGHT
                ),
            ));
        }
        (Some(n), Some(w)) if w.len() != n => {
            return Err(ServerError::invalid(
                &format!("{field}.weights"),
                format!(
                    "{} weights for {n} items; give one weight per item",
                    w.len()
                ),
            ));
        }
        _ => {}
    }
    // Only the ratios matter: scaled by the largest in f64, tiny weights stay distinct from
    // zero as 32-bit floats.
    let weights: Option<Vec<f32>> = spec.weights.as_ref().map(|w| {
        let largest = w.iter().fold(0f64, |m, &x| m.max(x));
        let scale = if largest > 0.0 { largest } else { 1.0 };
        w.iter().map(|&x| (x / scale) as f32).collect()
    });
    if let Some(n) = many {
        let list = if spec.texts.is_some() {
            "texts"
        } else {
            "embeddings"
        };
        validate::check_items(&format!("{field}.{list}"), n, max_items)?;
    }
    if let Some(t) = &spec.text {
        visible(&format!("{field}.text"), t)?;
        texts.push(t.clone());
        return Ok(Pending::Texts(vec![texts.len() - 1], None));
    }
    if let Some(ts) = &spec.texts {
        let mut idx = Vec::with_capacity(ts.len());
        for (i, t) in ts.iter().enumerate() {
            visible(&format!("{field}.texts[{i}]"), t)?;
            texts.push(t.clone());
            idx.push(texts.len() - 1);
        }
        return Ok(Pending::Texts(idx, weights));
    }
    if let Some(v) = &spec.embedding {
        let t = validate::parse_embedding(&format!("{field}.embedding"), v, dimension)?;
        return Ok(Pending::Vector(t));
    }
    let vs = spec.embeddings.as_deref().unwrap_or_default();
    let vectors = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            validate::parse_embedding(&format!("{field}.embeddings[{i}]"), v, dimension)
                .map(|t| t.values)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let c = walk::centroid(&vectors, weights.as_deref())
        .map_err(|e| ServerError::invalid(field, e.to_string()))?;
    Ok(Pending::Vector(TargetVector::new(field, c, dimension)?))
}

/// Resolves several target specs, embedding all their texts in one embedder call under
/// the request's admission `permit`.
pub async fn resolve_targets(
    s: &AppState,
    permit: &Permit,
    specs: &[(&str, &TargetSpec)],
) -> Result<Vec<TargetVector>, ServerError> {
    let mut texts = Vec::new();
    let plans = specs
        .iter()
        .map(|(field, spec)| {
            plan(
                field,
                spec,
                s.info.dimension,
                s.config.max_batch_items,
                &mut texts,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let embedded = if texts.is_empty() {
        Vec::new()
    } else {
        s.infer.embed(permit.clone(), texts).await??.vectors
    };
    let mut out = Vec::with_capacity(plans.len());
    for ((field, _), p) in specs.iter().zip(plans) {
        out.push(match p {
            Pending::Vector(t) => t,
            Pending::Texts(idx, weights) => {
                let vs: Vec<Vec<f32>> = idx
                    .iter()
                    .filter_map(|&i| embedded.get(i).cloned())
                    .collect();
                if vs.len() != idx.len() {
                    return Err(ServerError::new(
                        ErrorType::Backend,
                        "the embedder returned too few vectors",
                    ));
                }
                let c = walk::centroid(&vs, weights.as_deref())
                    .map_err(|e| ServerError::invalid(field, e.to_string()))?;
                TargetVector::new(field, c, s.info.dimension)?
            }
        });
    }
    Ok(out)
}

/// Prompts for points between two targets: one per point of a spherical (or linear) path,
/// with how close each answer is predicted (and, measured, lands) to its point and to both
/// ends.
#[utoipa::path(
    post, path = "/interpolate", tag = "generate",
    request_body = InterpolateRequest,
    responses(
        (status = 200, description = "One prompt per point", body = InterpolateResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "Invalid ends, steps or options", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "A backend failed", body = ErrorResponse),
    )
)]
pub async fn interpolate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<InterpolateRequest>,
) -> Result<Json<InterpolateResponse>, ServerError> {
    let started = Instant::now();
    let max_steps = MAX_STEPS.min(s.config.max_batch_items.max(2));
    let steps = req.steps.unwrap_or(DEFAULT_STEPS.min(max_steps));
    if !(2..=max_steps).contains(&steps) {
        return Err(ServerError::invalid(
            "steps",
            format!("must be between 2 and {max_steps} (both ends included), got {steps}"),
        ));
    }
    let mut options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    let return_vectors = options.keep_vectors;
    // The answers' vectors are needed to compare them with both ends.
    options.keep_vectors = true;
    let permit = s.infer.try_acquire()?;
    let ends = resolve_targets(&s, &permit, &[("from", &req.from), ("to", &req.to)]).await?;
    let (a, b) = (&ends[0].values, &ends[1].values);
    let points = walk::interpolate(a, b, steps, req.path.into())
        .map_err(|e| ServerError::invalid("to", e.to_string()))?;
    let targets = points
        .iter()
        .map(|p| TargetVector::new("point", p.clone(), s.info.dimension))
        .collect::<Result<Vec<_>, _>>()?;
    let quality = if req.evaluate_quality {
        Quality::Best
    } else {
        Quality::Skip
    };
    let outcomes = s.infer.search(permit, targets, options, quality).await?;
    let a = walk::normalized("from", a)?;
    let b = walk::normalized("to", b)?;
    let ts = walk::positions(steps);
    let (mut calls, mut eval_calls) = (0, 0);
    let mut out = Vec::with_capacity(points.len());
    for (index, ((o, point), t)) in outcomes.into_iter().zip(points).zip(ts).enumerate() {
        let o = o?;
        calls += o.result.llm_calls;
        eval_calls += o.quality_llm_calls;
        let best = &o.result.best;
        let pv = best.predicted_vector.as_deref();
        let av = best.answer_vector.as_deref().filter(|v| !v.is_empty());
        let mut vs = variants(&o);
        if !return_vectors {
            for v in &mut vs {
                v.predicted_vector = None;
                v.answer_vector = None;
            }
        }
        out.push(InterpolatePoint {
            index,
            t,
            prompt: best.prompt.clone(),
            source: best.source.name().to_string(),
            predicted_similarity: best.predicted,
            predicted_similarity_to_start: pv.map(|p| cosine(p, &a)),
            predicted_similarity_to_end: pv.map(|p| cosine(p, &b)),
            similarity: best.similarity,
            similarity_to_start: best
                .similarity
                .map(|_| answer_score(&a, av.unwrap_or_default())),
            similarity_to_end: best
                .similarity
                .map(|_| answer_score(&b, av.unwrap_or_default())),
            answer: best.answer.clone(),
            llm_calls: o.result.llm_calls,
            variants: vs,
            vector: return_vectors.then_some(point),
        });
    }
    Ok(Json(InterpolateResponse {
        path: req.path,
        ends_similarity: cosine(&a, &b),
        points: out,
        llm_calls: calls,
        evaluation_llm_calls: eval_calls,
        processing_time: started.elapsed().as_secs_f64(),
        from_vector: return_vectors.then(|| a.clone()),
        to_vector: return_vectors.then(|| b.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn spec(json: serde_json::Value) -> TargetSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_spec_needs_exactly_one_kind_of_target() {
        let mut texts = Vec::new();
        let both = spec(serde_json::json!({"text": "a", "embedding": [1.0, 0.0]}));
        assert!(plan("from", &both, 2, 10, &mut texts).is_err());
        assert!(plan("from", &TargetSpec::default(), 2, 10, &mut texts).is_err());
        let weights_alone = spec(serde_json::json!({"text": "a", "weights": [1.0]}));
        let e = plan("from", &weights_alone, 2, 10, &mut texts).unwrap_err();
        assert!(e.to_string().contains("weights"), "{e}");
        let bad_count = spec(serde_json::json!({"texts": ["a", "b"], "weights": [1.0]}));
        assert!(plan("from", &bad_count, 2, 10, &mut texts).is_err());
        let invisible = spec(serde_json::json!({"texts": ["a", "   "]}));
        assert!(plan("from", &invisible, 2, 10, &mut texts).is_err());
        let too_many = spec(serde_json::json!({"texts": ["a", "b", "c"]}));
        assert!(plan("from", &too_many, 2, 2, &mut texts).is_err());
        // Weights are checked as written (in f64), then only their ratios are kept.
        for bad in [json!([-1e-300, 1.0]), json!([2e38, 1.0])] {
            let w = spec(json!({"embeddings": [[1.0, 0.0], [0.0, 1.0]], "weights": bad}));
            assert!(plan("from", &w, 2, 10, &mut texts).is_err());
        }
        let tiny =
            spec(json!({"embeddings": [[1.0, 0.0], [0.0, 1.0]], "weights": [5e-324, 5e-324]}));
        let Pending::Vector(t) = plan("from", &tiny, 2, 10, &mut texts).unwrap() else {
            panic!("a vector centroid needs no text");
        };
        assert!((t.values[0] - t.values[1]).abs() < 1e-6, "{:?}", t.values);
    }

    #[test]
    fn vector_centroids_resolve_without_the_embedder() {
        let mut texts = Vec::new();
        let c = spec(
            serde_json::json!({"embeddings": [[2.0, 0.0], [0.0, 1.0]], "weights": [1.0, 1.0]}),
        );
        let Pending::Vector(t) = plan("to", &c, 2, 10, &mut texts).unwrap() else {
            panic!("a vector centroid needs no text");
        };
        assert!((t.values[0] - t.values[1]).abs() < 1e-6);
        assert!(texts.is_empty());
        let wrong_dim = spec(serde_json::json!({"embeddings": [[1.0, 0.0, 0.0]]}));
        let e = plan("to", &wrong_dim, 2, 10, &mut texts).unwrap_err();
        assert!(e.to_string().contains("to.embeddings[0]"), "{e}");
        let cancel = spec(serde_json::json!({"embeddings": [[1.0, 0.0], [-1.0, 0.0]]}));
        assert!(plan("to", &cancel, 2, 10, &mut texts).is_err());
    }

    #[test]
    fn texts_are_queued_in_order() {
        let mut texts = vec!["earlier".to_string()];
        let c = spec(serde_json::json!({"texts": ["x", "y"]}));
        let Pending::Texts(idx, _) = plan("from", &c, 2, 10, &mut texts).unwrap() else {
            panic!("texts are embedded later");
        };
        assert_eq!(idx, vec![1, 2]);
        assert_eq!(texts, vec!["earlier", "x", "y"]);
    }
}
