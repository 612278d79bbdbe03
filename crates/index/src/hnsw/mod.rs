//! Approximate search through a hierarchical navigable small-world graph (Malkov &
//! Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs", 2016).
//!
//! Every node lives on layer 0 and, with geometrically falling probability, on layers
//! above it; each layer links nodes to similar ones. A search walks greedily down the
//! sparse upper layers to a good starting point, then runs a best-first search of width
//! `ef_search` on layer 0.

mod build;
mod graph;
mod search;

use crate::kernel::{Ranked, TopK, finish, scan_rows};
use crate::validate::{normalized, normalized_rows};
use crate::{Hit, VectorIndex};
use graph::Graph;
use search::{Near, Vectors, greedy, search_layer};
use serde::{Deserialize, Serialize};
use vec2prompt_core::{Error, Result};

/// Largest accepted `m`: lists take `2 * m + 1` words per node on layer 0, and values
/// beyond a few dozen only cost memory and time.
const MAX_M: usize = 256;

/// Parameters of an [`HnswIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HnswParams {
    /// Links per node on the upper layers (twice as many on layer 0); more links give
    /// better recall for more memory and slower builds. At least 2.
    pub m: usize,
    /// Width of the search that finds a new node's neighbours while building; larger
    /// builds a better graph, more slowly. At least 1.
    pub ef_construction: usize,
    /// Width of the search at query time (raised to `k` when `k` is larger); the main
    /// recall/speed trade-off, adjustable later with [`HnswIndex::set_ef_search`]. At
    /// least 1.
    pub ef_search: usize,
    /// Seed of the random layer assignment: the same seed, data and insertion order give
    /// the same graph.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0,
        }
    }
}

impl HnswParams {
    /// Rejects values the graph cannot be built with, naming the field.
    fn validate(&self) -> Result<()> {
        if !(2..=MAX_M).contains(&self.m) {
            return Err(Error::invalid(
                "m",
                format!(
                    "is {} but must be between 2 and {MAX_M} (16 is typical)",
                    self.m
                ),
            ));
        }
        if self.ef_construction == 0 {
            return Err(Error::invalid(
                "ef_construction",
                "must be at least 1 (200 is typical)",
            ));
        }
        if self.ef_search == 0 {
            return Err(Error::invalid(
                "ef_search",
                "must be at least 1 (64 is typical)",
            ));
        }
        Ok(())
    }
}

/// Approximate cosine index: an HNSW graph over L2-normalized copies of the vectors.
///
/// Built once from all vectors; deterministic: the same data, ids order and parameters
/// give the same graph and the same results, whatever the number of threads.
#[derive(Clone)]
pub struct HnswIndex {
    /// Dimension of every vector.
    dimension: usize,
    /// Parameters it was built with (`ef_search` as currently set).
    params: HnswParams,
    /// Caller id of each node.
    ids: Vec<u32>,
    /// Normalized vectors, node `i` at row `i`.
    data: Vec<f32>,
    /// The layered links.
    graph: Graph,
    /// Where every search starts: a node on the top layer; `None` when empty.
    entry: Option<u32>,
}

impl std::fmt::Debug for HnswIndex {
    // Summarized: the vectors and links are far too many to print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dimension", &self.dimension)
            .field("len", &self.ids.len())
            .field("params", &self.params)
            .finish()
    }
}

impl HnswIndex {
    /// Builds an index over `ids.len()` row-major vectors in `data` (row `i` belongs to
    /// `ids[i]`), inserted in row order. Errors name `dimension`, `data`, `ids` (as
    /// [`crate::FlatIndex::from_rows`]) or the offending parameter (`m`,
    /// `ef_construction`, `ef_search`).
    pub fn build(
        dimension: usize,
        ids: Vec<u32>,
        data: &[f32],
        params: HnswParams,
    ) -> Result<Self> {
        params.validate()?;
        let data = normalized_rows(dimension, &ids, data)?;
        let vectors = Vectors {
            data: &data,
            dimension,
        };
        let (graph, entry) = build::build_graph(vectors, &params);
        Ok(Self {
            dimension,
            params,
            ids,
            data,
            graph,
            entry,
        })
    }

    /// Sets the query-time search width (values below 1 count as 1): higher finds more
    /// of the true neighbours, more slowly.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    /// The parameters the index was built with, with the current `ef_search`.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// The stored vectors as the graph sees them.
    fn vectors(&self) -> Vectors<'_> {
        Vectors {
            data: &self.data,
            dimension: self.dimension,
        }
    }
}

impl VectorIndex for HnswIndex {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        let query = normalized("query", query, self.dimension)?;
        let k = k.min(self.len());
        let Some(entry) = self.entry.filter(|_| k > 0) else {
            return Ok(Vec::new());
        };
        let vectors = self.vectors();
        let mut closest = Near {
            score: vectors.score(&query, entry),
            node: entry,
        };
        for layer in (1..=self.graph.level(entry)).rev() {
            closest = greedy(&self.graph, vectors, &query, closest, layer);
        }
        let ef = self.params.ef_search.max(k);
        let found = search_layer(&self.graph, vectors, &query, &[closest], ef, 0);
        // Rank by id among equal scores like the flat index, then keep k.
        let mut ranked: Vec<Ranked> = found
            .into_iter()
            .map(|n| Ranked {
                score: n.score,
                id: self.ids[n.node as usize],
                row: n.node,
            })
            .collect();
        if ranked.len() < k {
            // Pruning can leave a node with no links leading to it, so a search reaches
            // fewer than k nodes only when k is close to len: scan all rows instead, to
            // keep the promise of min(k, len) hits (at a cost close to the search's).
            let mut top = TopK::new(k);
            scan_rows(&query, &self.ids, 0, &self.data, &mut top);
            ranked = top.into_vec();
        }
        ranked.sort_unstable();
        ranked.truncate(k);
        Ok(finish(&query, &self.data, self.dimension, ranked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node nothing links to is still returned when k asks for every node.
    #[test]
    fn unreachable_nodes_are_found_when_k_covers_them() {
        let (n, d) = (40u32, 3);
        let data: Vec<f32> = (0..n * d as u32)
            .map(|i| ((i * 7919 % 101) as f32 - 50.0) / 10.0 + 0.01)
            .collect();
        let ids: Vec<u32> = (0..n).map(|i| 1000 + i).collect();
        let mut index = HnswIndex::build(d, ids, &data, HnswParams::default()).expect("valid");
        let orphan = (0..n)
            .find(|&node| Some(node) != index.entry)
            .expect("more than one node");
        for node in 0..n {
            for layer in 0..=index.graph.level(node) {
                let kept: Vec<u32> = index
                    .graph
                    .neighbors(node, layer)
                    .iter()
                    .copied()
                    .filter(|&nb| nb != orphan)
                    .collect();
                index.graph.set_neighbors(node, layer, &kept);
            }
        }
        let query = [1.0, 2.0, 3.0];
        let all = index.search(&query, n as usize).expect("valid query");
        assert_eq!(all.len(), n as usize);
        assert!(all.iter().any(|h| h.id == 1000 + orphan));
    }
}
