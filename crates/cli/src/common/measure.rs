//! Measuring chosen prompts that a search did not answer itself.

use anyhow::Result;
use vec2prompt_search::{Candidate, Searcher};

/// Answers the chosen prompts that the search did not measure, in one batch.
pub fn measure(searcher: &Searcher, points: &[Vec<f32>], best: &mut [Candidate]) -> Result<()> {
    let missing: Vec<usize> = (0..best.len())
        .filter(|&i| best[i].similarity.is_none())
        .collect();
    let prompts: Vec<String> = missing.iter().map(|&i| best[i].prompt.clone()).collect();
    let tv: Vec<&[f32]> = missing.iter().map(|&i| &points[i][..]).collect();
    let evals = searcher.environment().evaluate(&prompts, &tv)?;
    for (&i, e) in missing.iter().zip(evals) {
        best[i].similarity = Some(e.similarity);
        best[i].answer = Some(e.answer);
        best[i].answer_vector = Some(e.vector);
    }
    Ok(())
}
