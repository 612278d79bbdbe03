//! `POST /interpolate`: one prompt per point between two targets, each end given as a
//! text, a vector or a centroid of several.

use crate::api::{InterpolatePoint, InterpolateRequest, InterpolateResponse, TargetSpec};
use crate::error::{ErrorResponse, ErrorType, ServerError};
use crate::http::handlers::variants;
use crate::http::{ApiJson, AppState};
use crate::jobs::Quality;
use crate::queue::Permit;
use crate::validate;
use crate::validate::interpolate::{Pending, plan};
use axum::Json;
use axum::extract::State;
use std::time::Instant;
use vec2prompt_core::{TargetVector, answer_score, cosine};
use vec2prompt_search::interpolation;

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
                let c = interpolation::centroid(&vs, weights.as_deref())
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
    let steps = validate::interpolate::steps(req.steps, s.config.max_batch_items)?;
    let mut options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    let return_vectors = options.keep_vectors;
    // The answers' vectors are needed to compare them with both ends.
    options.keep_vectors = true;
    let quality = if req.evaluate_quality {
        Quality::Best
    } else {
        Quality::Skip
    };
    validate::check_work(steps, &options, quality, s.config.max_request_work)?;
    let permit = s.infer.try_acquire()?;
    let ends = resolve_targets(&s, &permit, &[("from", &req.from), ("to", &req.to)]).await?;
    let (a, b) = (&ends[0].values, &ends[1].values);
    let points = interpolation::interpolate(a, b, steps, req.path.into())
        .map_err(|e| ServerError::invalid("to", e.to_string()))?;
    let targets = points
        .iter()
        .map(|p| TargetVector::new("point", p.clone(), s.info.dimension))
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = s.infer.search(permit, targets, options, quality).await?;
    let a = interpolation::normalized("from", a)?;
    let b = interpolation::normalized("to", b)?;
    let ts = interpolation::positions(steps);
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
