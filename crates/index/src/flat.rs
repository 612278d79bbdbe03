//! Exact search: a scan of every stored vector.

use crate::kernel::{TopK, finish, scan_rows};
use crate::validate::{check_row_count, normalized, normalized_rows};
use crate::{Hit, VectorIndex, in_batch};
use rayon::prelude::*;
use vec2prompt_core::Result;

/// Stored values (`len * dimension`) above which one search splits the scan across
/// threads; below it, the cost of waking threads outweighs the scan (1M values, 4 MiB,
/// scan in well under a millisecond).
const PARALLEL_VALUES: usize = 1 << 20;

/// Values scanned by one parallel task of a single search (1 MiB of vectors): many tasks
/// per thread so threads finishing early can steal work.
const TASK_VALUES: usize = 1 << 18;

/// Queries scanned together by [`FlatIndex::search_batch`]: each block of stored vectors
/// is loaded into cache once and used for all of them, instead of streaming the whole
/// index from memory once per query.
const QUERY_GROUP: usize = 8;

/// Values per block of a grouped scan (128 KiB): small enough to stay in the L2 cache
/// while the group's queries pass over it.
const BLOCK_VALUES: usize = 1 << 15;

/// Exact cosine index: L2-normalized copies of the vectors stored contiguously
/// (row-major, `len * dimension` values), searched by a dot product with every row.
///
/// Use it when exact results matter or the set is small; for large sets [`crate::HnswIndex`]
/// answers much faster with nearly the same results.
#[derive(Clone)]
pub struct FlatIndex {
    /// Dimension of every vector.
    dimension: usize,
    /// Caller id of each row.
    ids: Vec<u32>,
    /// Normalized rows, `ids.len() * dimension` values.
    data: Vec<f32>,
}

impl std::fmt::Debug for FlatIndex {
    // Summarized: printing millions of values helps no one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatIndex")
            .field("dimension", &self.dimension)
            .field("len", &self.ids.len())
            .finish()
    }
}

impl FlatIndex {
    /// An empty index for vectors of `dimension` (an index of dimension 0 accepts none).
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            ids: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Adds one vector under `id`. Errors (naming `vector`) if it has the wrong dimension,
    /// NaN or infinite components, or is all zeros.
    pub fn add(&mut self, id: u32, vector: &[f32]) -> Result<()> {
        let unit = normalized("vector", vector, self.dimension)?;
        check_row_count("vector", self.ids.len() + 1)?;
        self.ids.push(id);
        self.data.extend_from_slice(&unit);
        Ok(())
    }

    /// Builds an index from `ids.len()` row-major vectors in `data` (row `i` belongs to
    /// `ids[i]`). Errors name `dimension` (zero), `data` (length not a multiple of
    /// `dimension`, or a bad row) or `ids` (not one per row).
    pub fn from_rows(dimension: usize, ids: Vec<u32>, data: &[f32]) -> Result<Self> {
        let data = normalized_rows(dimension, &ids, data)?;
        Ok(Self {
            dimension,
            ids,
            data,
        })
    }

    /// Search with an already validated, normalized query and `1 <= k <= len`.
    fn search_unit(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let top = if self.data.len() <= PARALLEL_VALUES {
            let mut top = TopK::new(k);
            scan_rows(query, &self.ids, 0, &self.data, &mut top);
            top
        } else {
            let rows_per_task = (TASK_VALUES / self.dimension).max(1);
            self.data
                .par_chunks(rows_per_task * self.dimension)
                .enumerate()
                .map(|(task, block)| {
                    let mut top = TopK::new(k);
                    scan_rows(query, &self.ids, task * rows_per_task, block, &mut top);
                    top
                })
                .reduce(
                    || TopK::new(k),
                    |mut a, b| {
                        a.merge(b);
                        a
                    },
                )
        };
        finish(query, &self.data, self.dimension, top.into_vec())
    }

    /// Searches a group of validated, normalized queries in one pass over the rows.
    fn search_group(&self, group: &[Vec<f32>], k: usize) -> Vec<Vec<Hit>> {
        let rows_per_block = (BLOCK_VALUES / self.dimension).max(1);
        let mut tops = vec![TopK::new(k); group.len()];
        for (b, block) in self
            .data
            .chunks(rows_per_block * self.dimension)
            .enumerate()
        {
            for (query, top) in group.iter().zip(&mut tops) {
                scan_rows(query, &self.ids, b * rows_per_block, block, top);
            }
        }
        group
            .iter()
            .zip(tops)
            .map(|(query, top)| finish(query, &self.data, self.dimension, top.into_vec()))
            .collect()
    }
}

impl VectorIndex for FlatIndex {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        let query = normalized("query", query, self.dimension)?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        Ok(self.search_unit(&query, k))
    }

    fn search_batch(&self, queries: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Hit>>> {
        let units = queries
            .iter()
            .enumerate()
            .map(|(i, q)| normalized("query", q, self.dimension).map_err(|e| in_batch(e, i)))
            .collect::<Result<Vec<_>>>()?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        if self.data.len() <= PARALLEL_VALUES {
            // A small index stays in cache: one query per task.
            return Ok(units.par_iter().map(|q| self.search_unit(q, k)).collect());
        }
        let threads = rayon::current_num_threads().max(1);
        if units.len() < threads {
            // Fewer queries than threads: parallelize each search over rows instead.
            return Ok(units.iter().map(|q| self.search_unit(q, k)).collect());
        }
        let group = units.len().div_ceil(threads).clamp(1, QUERY_GROUP);
        Ok(units
            .par_chunks(group)
            .flat_map_iter(|group| self.search_group(group, k))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grouped scan and the single scan (both its sequential and parallel paths)
    /// must agree exactly; the grouped one is only reached by large batches.
    #[test]
    fn grouped_scan_equals_single_scans() {
        let dimension = 40;
        let rows = PARALLEL_VALUES / dimension + 500;
        let data: Vec<f32> = (0..rows * dimension)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 100.0)
            .collect();
        let ids: Vec<u32> = (0..rows as u32).map(|i| i % 1000).collect();
        let index = FlatIndex::from_rows(dimension, ids, &data).expect("valid rows");
        let queries: Vec<Vec<f32>> = (0..QUERY_GROUP + 3)
            .map(|q| {
                let row = q * 97 % rows;
                data[row * dimension..(row + 1) * dimension].to_vec()
            })
            .collect();
        let units: Vec<Vec<f32>> = queries
            .iter()
            .map(|q| normalized("query", q, dimension).expect("valid query"))
            .collect();
        let grouped = index.search_group(&units, 7);
        for (unit, got) in units.iter().zip(&grouped) {
            assert_eq!(got, &index.search_unit(unit, 7));
            assert_eq!(got.len(), 7);
        }
    }
}
