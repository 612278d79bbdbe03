//! Target vectors: the embedding a generated prompt's answer should land near.

use crate::{Error, Result};
use std::path::Path;

/// A validated target embedding: finite values, non-zero norm, known dimension, scaled to
/// unit length.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetVector {
    /// The vector's components, normalized to unit length: only the direction of a target
    /// matters (cosine ignores scale), and the learned models read unit vectors, so the same
    /// direction at any scale is the same target.
    pub values: Vec<f32>,
}

/// Rejects NaN, infinite and all-zero vectors (no direction to compare by cosine);
/// `what` names the vector in the message, `argument` the input it came from.
pub fn check_direction(argument: &str, values: &[f32], what: &str) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            argument,
            format!(
                "{what}: component {i} is {} (NaN or infinite values are not allowed)",
                values[i]
            ),
        ));
    }
    if values.iter().all(|&v| v == 0.0) {
        return Err(Error::invalid(
            argument,
            format!("{what} is all zeros and has no direction"),
        ));
    }
    Ok(())
}

impl TargetVector {
    /// Validates `values` for an embedding space of `dimension`, naming `argument` in errors.
    pub fn new(argument: &str, values: Vec<f32>, dimension: usize) -> Result<Self> {
        if values.len() != dimension {
            return Err(Error::invalid(
                argument,
                format!(
                    "the vector has {} dimensions but the embedder produces {dimension}; \
                     use a vector from the same embedding model",
                    values.len()
                ),
            ));
        }
        check_direction(argument, &values, "the vector")?;
        // In f64: the squares of large f32 components overflow f32 long before the norm
        // itself does.
        let norm = values
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm > f64::from(f32::MAX) {
            return Err(Error::invalid(
                argument,
                format!(
                    "the vector's length ({norm:.3e}) overflows a 32-bit float; scale it down \
                     (only its direction matters)"
                ),
            ));
        }
        // A vector already of unit length (an embedder's output) is kept bit for bit.
        let values = if (norm - 1.0).abs() <= 1e-6 {
            values
        } else {
            values
                .iter()
                .map(|&v| (f64::from(v) / norm) as f32)
                .collect()
        };
        Ok(Self { values })
    }

    /// Parses a vector from JSON text: either a bare array `[0.1, …]` or an object with an
    /// `embedding` (or `vector`) array, as written by `vec2prompt embed`.
    pub fn from_json(argument: &str, json: &str, dimension: usize) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid(argument, format!("not valid JSON: {e}")))?;
        let array = match &value {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(o) => match o.get("embedding").or_else(|| o.get("vector")) {
                Some(serde_json::Value::Array(a)) => a,
                _ => {
                    return Err(Error::invalid(
                        argument,
                        "expected a JSON array of numbers or an object with an \"embedding\" array",
                    ));
                }
            },
            _ => return Err(Error::invalid(argument, "expected a JSON array of numbers")),
        };
        let mut values = Vec::with_capacity(array.len());
        for (i, v) in array.iter().enumerate() {
            match v.as_f64() {
                Some(x) => values.push(x as f32),
                None => {
                    return Err(Error::invalid(
                        argument,
                        format!("component {i} is {v}, not a number (NaN is not allowed)"),
                    ));
                }
            }
        }
        Self::new(argument, values, dimension)
    }

    /// Reads and parses a vector file (see [`TargetVector::from_json`]).
    pub fn from_file(argument: &str, path: &Path, dimension: usize) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::invalid(argument, format!("cannot read {}: {e}", path.display()))
        })?;
        let text = crate::text::utf8(argument, bytes)?;
        Self::from_json(argument, &text, dimension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_array_and_object() {
        assert_eq!(
            TargetVector::from_json("v", "[3, 4]", 2).unwrap().values,
            vec![0.6, 0.8]
        );
        let v = TargetVector::from_json("v", r#"{"text":"x","embedding":[0,1]}"#, 2).unwrap();
        assert_eq!(v.values, vec![0.0, 1.0]);
    }

    #[test]
    fn one_direction_at_any_scale_is_one_target() {
        let base: Vec<f32> = (0..384)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let unit = TargetVector::new("v", base.clone(), 384).unwrap();
        let norm: f32 = unit.values.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
        for scale in [2.0f32, 1e20, 1e-20] {
            let scaled = TargetVector::new("v", base.iter().map(|v| v * scale).collect(), 384);
            let scaled = scaled.unwrap();
            for (a, b) in unit.values.iter().zip(&scaled.values) {
                assert!((a - b).abs() < 1e-6, "scale {scale}: {a} vs {b}");
            }
        }
        // A unit vector is kept as it is.
        let again = TargetVector::new("v", unit.values.clone(), 384).unwrap();
        assert_eq!(again.values, unit.values);
    }

    #[test]
    fn a_length_beyond_f32_is_refused() {
        let e = TargetVector::new("target_embedding", vec![3e38; 384], 384)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("target_embedding") && e.contains("overflows"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_vectors_with_clear_reasons() {
        let e = TargetVector::from_json("--target-file", "[1,2,3]", 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--target-file") && e.contains("3 dimensions"),
            "{e}"
        );
        let e = TargetVector::from_json("v", "[1, NaN]", 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = TargetVector::from_json("v", r#"[1, "a"]"#, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("component 1"), "{e}");
        let e = TargetVector::new("v", vec![f32::NAN, 1.0], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("component 0"), "{e}");
        let e = TargetVector::new("v", vec![f32::INFINITY, 1.0], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("infinite"), "{e}");
        assert!(TargetVector::new("v", vec![0.0, 0.0], 2).is_err());
        assert!(TargetVector::from_json("v", r#"{"a":1}"#, 2).is_err());
    }
}
