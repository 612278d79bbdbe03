//! Vector indexes behind one trait, [`VectorIndex`]: [`FlatIndex`] searches exactly by
//! scanning every vector, [`HnswIndex`] searches approximately through a layered
//! navigable small-world graph (Malkov & Yashunin) and is much faster on large sets.
//!
//! Both rank by cosine similarity. Vectors are validated (dimension, finite values,
//! non-zero norm) and stored L2-normalized, so a dot product is a cosine; the scores of
//! the returned hits are recomputed with [`vec2prompt_core::cosine`], the one cosine of the
//! project, so an index never disagrees with the evaluation about a score.
//!
//! Ids are the caller's (typically record positions) and come back exactly as given; an
//! index does not require them to be unique or contiguous.
//!
//! - `flat`: normalized rows stored contiguously and scanned with an auto-vectorized dot
//!   product (`kernel`); a batch of queries shares each cache block.
//! - `hnsw`: a deterministic HNSW (heuristic neighbour selection; parallel batch insertion
//!   whose result does not depend on the thread count).
//! - `validate`: the checks on vectors and queries.

mod flat;
mod hnsw;
mod kernel;
mod validate;

pub use flat::FlatIndex;
pub use hnsw::{HnswIndex, HnswParams};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vec2prompt_core::{Error, Result};

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The caller-given id of the matching vector.
    pub id: u32,
    /// Cosine similarity between the query and the vector, in `[-1, 1]`.
    pub score: f32,
}

/// A searchable set of vectors of one dimension, ranked by cosine similarity.
///
/// Results are sorted best first; equal scores are ordered by ascending id, so a search
/// is deterministic.
pub trait VectorIndex: Send + Sync {
    /// Dimension every stored vector and every query must have.
    fn dimension(&self) -> usize;

    /// Number of stored vectors.
    fn len(&self) -> usize;

    /// Whether the index holds no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest vectors to `query` by cosine similarity, best first: `min(k, len)`
    /// hits, none for `k == 0`. Errors (naming `query`) on a query of the wrong dimension,
    /// with NaN or infinite components, or all zeros.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>>;

    /// [`VectorIndex::search`] for many queries at once, in parallel; the result at `i`
    /// belongs to `queries[i]`. An invalid query fails the whole call, and the error names
    /// the first one (`queries[i]`).
    fn search_batch(&self, queries: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Hit>>> {
        // Collect every outcome before looking at errors, so the reported error is the
        // first bad query and not whichever thread failed first.
        let outcomes: Vec<Result<Vec<Hit>>> =
            queries.par_iter().map(|q| self.search(q, k)).collect();
        outcomes
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.map_err(|e| in_batch(e, i)))
            .collect()
    }
}

/// Renames the `query` argument of a search error to `queries[i]`, so a batch caller
/// learns which query was bad.
pub(crate) fn in_batch(error: Error, i: usize) -> Error {
    match error {
        Error::InvalidInput { argument, reason } if argument == "query" => {
            Error::invalid(format!("queries[{i}]"), reason)
        }
        other => other,
    }
}
