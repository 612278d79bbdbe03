//! The one cosine similarity of the project. Every score vec2prompt reports goes through
//! [`cosine`], so the evaluation, the search and the API can never disagree.

/// Cosine similarity of two vectors of equal length, accumulated in f64.
///
/// Returns 0.0 when either vector has zero norm (no direction to compare). Panics in debug
/// builds if the lengths differ; callers validate dimensions first (see
/// [`crate::TargetVector`]).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "cosine of vectors with different lengths");
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

/// Whether an answer is empty: nothing but whitespace. An empty answer carries no
/// meaning, so it is never embedded and scores 0 against any target ([`answer_score`]).
pub fn is_empty_answer(text: &str) -> bool {
    text.trim().is_empty()
}

/// The one scoring rule of an answer against a target: 0 for an empty answer (passed as
/// an empty `answer_vector`, the way every caller stores an answer it did not embed), else
/// the [`cosine`] of the answer's embedding with the target.
pub fn answer_score(target: &[f32], answer_vector: &[f32]) -> f32 {
    if answer_vector.is_empty() {
        0.0
    } else {
        cosine(target, answer_vector)
    }
}

/// Scales `v` to unit L2 norm in place; a zero vector is left unchanged.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (*x as f64 / norm) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_answer_scores_zero_and_others_their_cosine() {
        let t = [1.0, 0.0];
        assert_eq!(answer_score(&t, &[]), 0.0);
        assert!((answer_score(&t, &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!((answer_score(&t, &[-1.0, 0.0]) + 1.0).abs() < 1e-6);
        assert!(is_empty_answer(" \n\t"));
        assert!(!is_empty_answer(" a "));
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-7);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-7);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-7);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn normalize_gives_unit_norm() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        let mut z = vec![0.0; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }
}
