//! Points of the embedding space between and among intents: interpolation paths between two
//! targets and centroids of several.
//!
//! Embeddings of the default embedder are unit vectors and compared by cosine, so the natural
//! path between two of them is the great circle (spherical interpolation): every point stays
//! on the sphere and the angle to each end changes linearly with `t`. The straight chord
//! (linear interpolation, then normalized) is offered too; it moves fastest near the middle.

use serde::{Deserialize, Serialize};
use vec2prompt_core::{Error, Result};

/// How to walk from one end to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// Along the great circle through both (normalized) ends: equal angle steps.
    #[default]
    Spherical,
    /// Along the straight chord between the normalized ends, each point normalized.
    Linear,
}

impl std::str::FromStr for PathKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "spherical" | "slerp" => Ok(Self::Spherical),
            "linear" | "lerp" => Ok(Self::Linear),
            _ => Err(format!("unknown path {s:?}: use spherical or linear")),
        }
    }
}

/// Most points one interpolation may ask for.
pub const MAX_STEPS: usize = 64;

/// `v` scaled to unit length; an error if it has no direction or overflows.
pub fn normalized(argument: &str, v: &[f32]) -> Result<Vec<f32>> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return Err(Error::invalid(
            argument,
            "the vector has no finite, non-zero length to normalize",
        ));
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}

/// The positions `t` of `steps` points from 0 to 1 inclusive (`steps >= 2`).
pub fn positions(steps: usize) -> Vec<f64> {
    let last = (steps.max(2) - 1) as f64;
    (0..steps.max(2)).map(|i| i as f64 / last).collect()
}

/// `steps` unit vectors from `from` to `to` (both ends included) along `kind`.
///
/// Errors: fewer than 2 or more than [`MAX_STEPS`] steps, different lengths, an end without
/// direction, or exactly opposite ends on the spherical path (no unique great circle).
pub fn interpolate(
    from: &[f32],
    to: &[f32],
    steps: usize,
    kind: PathKind,
) -> Result<Vec<Vec<f32>>> {
    if !(2..=MAX_STEPS).contains(&steps) {
        return Err(Error::invalid(
            "steps",
            format!("must be between 2 and {MAX_STEPS} (both ends included), got {steps}"),
        ));
    }
    if from.len() != to.len() {
        return Err(Error::invalid(
            "to",
            format!(
                "the ends have {} and {} dimensions; use vectors of one embedder",
                from.len(),
                to.len()
            ),
        ));
    }
    let a = normalized("from", from)?;
    let b = normalized("to", to)?;
    let dot: f64 = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum::<f64>()
        .clamp(-1.0, 1.0);
    let omega = dot.acos();
    let ts = positions(steps);
    let mut points = Vec::with_capacity(steps);
    for t in ts {
        let (wa, wb) = match kind {
            // Nearly identical ends: the great circle is the chord.
            PathKind::Spherical if omega > 1e-6 => {
                if std::f64::consts::PI - omega < 1e-6 {
                    return Err(Error::invalid(
                        "to",
                        "the ends point in opposite directions: the spherical path between \
                         them is not unique; use path linear or another end",
                    ));
                }
                let s = omega.sin();
                (((1.0 - t) * omega).sin() / s, (t * omega).sin() / s)
            }
            _ => (1.0 - t, t),
        };
        let p: Vec<f32> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| (wa * f64::from(x) + wb * f64::from(y)) as f32)
            .collect();
        points.push(normalized("to", &p).map_err(|_| {
            Error::invalid(
                "to",
                "the ends point in opposite directions: the linear path passes through zero",
            )
        })?);
    }
    Ok(points)
}

/// The normalized (weighted) mean of the normalized `vectors`: one target standing for
/// several intents. `weights`, when given, has one non-negative finite weight per vector.
pub fn centroid(vectors: &[Vec<f32>], weights: Option<&[f32]>) -> Result<Vec<f32>> {
    let Some(first) = vectors.first() else {
        return Err(Error::invalid(
            "targets",
            "a centroid needs at least one vector",
        ));
    };
    if let Some(w) = weights {
        if w.len() != vectors.len() {
            return Err(Error::invalid(
                "weights",
                format!("{} weights for {} vectors", w.len(), vectors.len()),
            ));
        }
        if let Some(i) = w.iter().position(|x| !x.is_finite() || *x < 0.0) {
            return Err(Error::invalid(
                "weights",
                format!("weight {i} is {}; weights must be finite and >= 0", w[i]),
            ));
        }
        if w.iter().all(|&x| x == 0.0) {
            return Err(Error::invalid("weights", "all weights are zero"));
        }
    }
    let mut sum = vec![0f64; first.len()];
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != first.len() {
            return Err(Error::invalid(
                "targets",
                format!(
                    "vector {i} has {} dimensions, vector 0 has {}",
                    v.len(),
                    first.len()
                ),
            ));
        }
        let w = weights.map_or(1.0, |w| f64::from(w[i]));
        for (s, &x) in sum
            .iter_mut()
            .zip(&normalized(&format!("targets[{i}]"), v)?)
        {
            *s += w * f64::from(x);
        }
    }
    let mean: Vec<f32> = sum.iter().map(|&x| x as f32).collect();
    normalized("targets", &mean).map_err(|_| {
        Error::invalid(
            "targets",
            "the vectors cancel out: their mean has no direction",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vec2prompt_core::cosine;

    fn unit(v: &[f32]) -> Vec<f32> {
        normalized("v", v).unwrap()
    }

    #[test]
    fn spherical_path_has_equal_angle_steps_and_both_ends() {
        let a = unit(&[1.0, 0.0, 0.0]);
        let b = unit(&[0.0, 3.0, 0.0]);
        let pts = interpolate(&a, &b, 5, PathKind::Spherical).unwrap();
        assert_eq!(pts.len(), 5);
        assert!(cosine(&pts[0], &a) > 0.9999);
        assert!(cosine(&pts[4], &unit(&b)) > 0.9999);
        // Angles to the start: 0, 22.5, 45, 67.5, 90 degrees.
        for (i, p) in pts.iter().enumerate() {
            let norm: f32 = p.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
            let angle = f64::from(cosine(p, &a))
                .clamp(-1.0, 1.0)
                .acos()
                .to_degrees();
            assert!((angle - 22.5 * i as f64).abs() < 1e-3, "{i}: {angle}");
        }
    }

    #[test]
    fn similarity_to_start_falls_and_to_end_rises_on_both_paths() {
        let a = unit(&[0.3, -0.2, 0.9, 0.1]);
        let b = unit(&[-0.5, 0.7, 0.1, 0.4]);
        for kind in [PathKind::Spherical, PathKind::Linear] {
            let pts = interpolate(&a, &b, 9, kind).unwrap();
            let to_a: Vec<f32> = pts.iter().map(|p| cosine(p, &a)).collect();
            let to_b: Vec<f32> = pts.iter().map(|p| cosine(p, &b)).collect();
            assert!(to_a.windows(2).all(|w| w[1] < w[0]), "{kind:?} {to_a:?}");
            assert!(to_b.windows(2).all(|w| w[1] > w[0]), "{kind:?} {to_b:?}");
        }
    }

    #[test]
    fn linear_and_spherical_differ_in_the_middle_only_by_speed() {
        let a = unit(&[1.0, 0.0]);
        let b = unit(&[0.0, 1.0]);
        let s = interpolate(&a, &b, 3, PathKind::Spherical).unwrap();
        let l = interpolate(&a, &b, 3, PathKind::Linear).unwrap();
        // By symmetry both midpoints are the bisector.
        assert!(cosine(&s[1], &l[1]) > 0.9999);
        let s5 = interpolate(&a, &b, 5, PathKind::Spherical).unwrap();
        let l5 = interpolate(&a, &b, 5, PathKind::Linear).unwrap();
        // At t = 0.25 the chord is still closer to the start than the arc (it speeds up in
        // the middle).
        assert!(cosine(&l5[1], &a) > cosine(&s5[1], &a));
    }

    #[test]
    fn bad_paths_are_clear_errors() {
        let a = vec![1.0, 0.0];
        assert!(interpolate(&a, &a, 1, PathKind::Spherical).is_err());
        assert!(interpolate(&a, &a, MAX_STEPS + 1, PathKind::Spherical).is_err());
        assert!(interpolate(&a, &[1.0, 0.0, 0.0], 3, PathKind::Linear).is_err());
        let e = interpolate(&a, &[-1.0, 0.0], 3, PathKind::Spherical)
            .unwrap_err()
            .to_string();
        assert!(e.contains("opposite"), "{e}");
        assert!(interpolate(&a, &[-1.0, 0.0], 3, PathKind::Linear).is_err());
        assert!(interpolate(&[0.0, 0.0], &a, 3, PathKind::Linear).is_err());
        // Identical ends are a valid, constant path.
        let same = interpolate(&a, &[2.0, 0.0], 4, PathKind::Spherical).unwrap();
        assert!(same.iter().all(|p| cosine(p, &a) > 0.9999));
    }

    #[test]
    fn centroid_is_the_normalized_mean_of_directions() {
        // Scale does not matter: each vector counts by its direction.
        let c = centroid(&[vec![10.0, 0.0], vec![0.0, 0.5]], None).unwrap();
        assert!((c[0] - c[1]).abs() < 1e-6 && (c[0] - 0.5f32.sqrt()).abs() < 1e-6);
        let w = centroid(&[vec![1.0, 0.0], vec![0.0, 1.0]], Some(&[3.0, 1.0])).unwrap();
        assert!(w[0] > w[1]);
        let one = centroid(&[vec![3.0, 4.0]], None).unwrap();
        assert!((one[0] - 0.6).abs() < 1e-6);
        assert!(centroid(&[], None).is_err());
        assert!(centroid(&[vec![1.0, 0.0], vec![-1.0, 0.0]], None).is_err());
        assert!(centroid(&[vec![1.0, 0.0]], Some(&[-1.0])).is_err());
        assert!(centroid(&[vec![1.0, 0.0]], Some(&[1.0, 2.0])).is_err());
        assert!(centroid(&[vec![1.0, 0.0], vec![1.0]], None).is_err());
    }

    #[test]
    fn path_kind_parses() {
        assert_eq!("linear".parse::<PathKind>().unwrap(), PathKind::Linear);
        assert_eq!(
            "spherical".parse::<PathKind>().unwrap(),
            PathKind::Spherical
        );
        assert!("curvy".parse::<PathKind>().is_err());
    }
}
