//! Input checks shared by the indexes. Every vector that enters an index, stored or
//! queried, passes through here, so the indexes can assume finite, non-zero,
//! right-sized, normalized data.

use rayon::prelude::*;
use vec2prompt_core::target::check_direction as check_values;
use vec2prompt_core::{Error, Result, l2_normalize};

/// Checks one vector and returns its L2-normalized copy, naming `argument` in errors.
pub(crate) fn normalized(argument: &str, vector: &[f32], dimension: usize) -> Result<Vec<f32>> {
    if vector.len() != dimension {
        return Err(Error::invalid(
            argument,
            format!(
                "the vector has {} dimensions but the index holds {dimension}-dimensional \
                 vectors; use vectors from the same embedding model",
                vector.len()
            ),
        ));
    }
    check_values(argument, vector, "the vector")?;
    let mut copy = vector.to_vec();
    l2_normalize(&mut copy);
    Ok(copy)
}

/// Checks a row-major block of `ids.len()` vectors and returns their L2-normalized copy.
/// Errors name `dimension`, `ids` or `data`, and a bad row is reported with its position
/// and id.
pub(crate) fn normalized_rows(dimension: usize, ids: &[u32], data: &[f32]) -> Result<Vec<f32>> {
    if dimension == 0 {
        return Err(Error::invalid(
            "dimension",
            "must be at least 1 (a 0-dimensional vector has no direction)",
        ));
    }
    if !data.len().is_multiple_of(dimension) {
        return Err(Error::invalid(
            "data",
            format!(
                "has {} values, which is not a whole number of {dimension}-dimensional rows",
                data.len()
            ),
        ));
    }
    let rows = data.len() / dimension;
    if ids.len() != rows {
        return Err(Error::invalid(
            "ids",
            format!(
                "has {} ids but data holds {rows} rows of dimension {dimension}; \
                 give one id per row",
                ids.len()
            ),
        ));
    }
    check_row_count("ids", rows)?;
    // Sequential so that the first bad row is the one reported.
    for (row, (values, id)) in data.chunks_exact(dimension).zip(ids).enumerate() {
        check_values("data", values, &format!("row {row} (id {id})"))?;
    }
    let mut copy = data.to_vec();
    copy.par_chunks_mut(dimension).for_each(l2_normalize);
    Ok(copy)
}

/// Rows are addressed with `u32` inside the indexes (half the memory of `usize` in the
/// graph and the heaps), so an index holds at most `u32::MAX` vectors.
pub(crate) fn check_row_count(argument: &str, rows: usize) -> Result<()> {
    if rows > u32::MAX as usize {
        return Err(Error::invalid(
            argument,
            format!("{rows} vectors exceed the limit of {} per index", u32::MAX),
        ));
    }
    Ok(())
}
