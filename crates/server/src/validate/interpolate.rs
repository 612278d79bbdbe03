//! Checks of an interpolation request: each end is exactly one kind of target, weights
//! belong to centroids and are in range, texts are visible, vectors have the embedder's
//! dimension, and the number of steps is within the server's limits.

use crate::api::TargetSpec;
use crate::error::ServerError;
use vec2prompt_core::TargetVector;
use vec2prompt_search::interpolation::{self, MAX_STEPS};

/// Points of a path when the request names none (fewer if the server allows fewer).
pub const DEFAULT_STEPS: usize = 5;

/// The number of points of a path: `steps` as asked (default [`DEFAULT_STEPS`]), between 2
/// and the smaller of [`MAX_STEPS`] and the server's `max_batch_items`.
pub fn steps(asked: Option<usize>, max_batch_items: usize) -> Result<usize, ServerError> {
    let max_steps = MAX_STEPS.min(max_batch_items.max(2));
    let steps = asked.unwrap_or(DEFAULT_STEPS.min(max_steps));
    if !(2..=max_steps).contains(&steps) {
        return Err(ServerError::invalid(
            "steps",
            format!("must be between 2 and {max_steps} (both ends included), got {steps}"),
        ));
    }
    Ok(steps)
}

/// How the texts of a [`TargetSpec`] are combined once embedded.
#[derive(Debug)]
pub enum Pending {
    /// A vector, already a target.
    Vector(TargetVector),
    /// Indices into the shared text list, with optional weights.
    Texts(Vec<usize>, Option<Vec<f32>>),
}

fn visible(field: &str, text: &str) -> Result<(), ServerError> {
    vec2prompt_core::text::require_non_empty(field, text)?;
    Ok(())
}

/// Checks one spec and queues its texts in `texts` (embedded later, all in one call).
pub fn plan(
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
        (Some(_), Some(w)) if w.iter().any(|&x| !(0.0..=super::MAX_WEIGHT).contains(&x)) => {
            return Err(ServerError::invalid(
                &format!("{field}.weights"),
                format!("each weight must be between 0 and {:e}", super::MAX_WEIGHT),
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
        super::check_items(&format!("{field}.{list}"), n, max_items)?;
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
        let t = super::parse_embedding(&format!("{field}.embedding"), v, dimension)?;
        return Ok(Pending::Vector(t));
    }
    let vs = spec.embeddings.as_deref().unwrap_or_default();
    let vectors = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            super::parse_embedding(&format!("{field}.embeddings[{i}]"), v, dimension)
                .map(|t| t.values)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let c = interpolation::centroid(&vectors, weights.as_deref())
        .map_err(|e| ServerError::invalid(field, e.to_string()))?;
    Ok(Pending::Vector(TargetVector::new(field, c, dimension)?))
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
