//! Targets given on the command line: one or several texts (their centroid), or a vector
//! file holding one vector or several (a JSON array of arrays, or JSONL as written by
//! `vec2prompt embed`), whose centroid is the target.

use anyhow::{Result, anyhow, bail};
use std::path::Path;
use vec2prompt_core::{Embedder, TargetVector, text};
use vec2prompt_search::centroid;

/// The target of one or more texts: the embedding of one, the centroid of several.
pub fn from_texts(flag: &str, texts: &[String], embedder: &dyn Embedder) -> Result<TargetVector> {
    for t in texts {
        text::require_non_empty(flag, t)?;
    }
    let dim = embedder.info().dimension;
    let vectors = embedder.embed(texts)?;
    let c = centroid(&vectors, None).map_err(|e| anyhow!("{flag}: {e}"))?;
    Ok(TargetVector::new(flag, c, dim)?)
}

/// The target in a vector file: one vector, or the centroid of several.
pub fn from_vector_file(flag: &str, path: &Path, dim: usize) -> Result<TargetVector> {
    let json = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    let vectors = parse_vectors(flag, &json, dim)?;
    if vectors.len() == 1 {
        return vectors
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("{flag}: no vector"));
    }
    let values: Vec<Vec<f32>> = vectors.into_iter().map(|t| t.values).collect();
    let c = centroid(&values, None).map_err(|e| anyhow!("{flag}: {e}"))?;
    Ok(TargetVector::new(flag, c, dim)?)
}

fn parse_vectors(flag: &str, json: &str, dim: usize) -> Result<Vec<TargetVector>> {
    let trimmed = json.trim();
    // A JSON array of arrays: several vectors in one document.
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(trimmed)
        && items.first().is_some_and(serde_json::Value::is_array)
    {
        return items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Ok(TargetVector::from_json(
                    &format!("{flag}[{i}]"),
                    &v.to_string(),
                    dim,
                )?)
            })
            .collect();
    }
    let lines: Vec<&str> = trimmed.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > 1 {
        return lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(TargetVector::from_json(
                    &format!("{flag} line {}", i + 1),
                    l,
                    dim,
                )?)
            })
            .collect();
    }
    Ok(vec![TargetVector::from_json(flag, trimmed, dim)?])
}

/// The target of `--target-text` (one or several) or `--vector-file`.
pub fn target(
    texts: &[String],
    vector_file: Option<&Path>,
    embedder: &dyn Embedder,
    (text_flag, file_flag): (&str, &str),
) -> Result<TargetVector> {
    let dim = embedder.info().dimension;
    match (texts.is_empty(), vector_file) {
        (false, None) => from_texts(text_flag, texts, embedder),
        (true, Some(p)) => from_vector_file(file_flag, p, dim),
        _ => bail!("give the target as {text_flag} TEXT or {file_flag} FILE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vector_several_vectors_and_jsonl() {
        let one = parse_vectors("f", "[1, 0, 0]", 3).unwrap();
        assert_eq!(one.len(), 1);
        let many = parse_vectors("f", "[[1, 0, 0], [0, 1, 0]]", 3).unwrap();
        assert_eq!(many.len(), 2);
        let jsonl = "{\"embedding\": [1, 0, 0]}\n{\"embedding\": [0, 1, 0]}\n";
        assert_eq!(parse_vectors("f", jsonl, 3).unwrap().len(), 2);
        let e = parse_vectors("f", "[[1, 0, 0], [0, 1]]", 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("f[1]"), "{e}");
    }
}
