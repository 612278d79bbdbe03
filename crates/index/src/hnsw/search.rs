//! Searching one layer of the graph, and choosing a node's neighbours: the two
//! procedures both insertion and querying are made of (Malkov & Yashunin, algorithms 2
//! and 4).

use super::graph::Graph;
use crate::kernel::dot;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The normalized vectors a graph connects, node `i` at row `i`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vectors<'a> {
    /// Row-major normalized vectors.
    pub data: &'a [f32],
    /// Values per row.
    pub dimension: usize,
}

impl Vectors<'_> {
    /// The vector of `node`.
    #[inline]
    pub fn row(&self, node: u32) -> &[f32] {
        let start = node as usize * self.dimension;
        &self.data[start..start + self.dimension]
    }

    /// Number of vectors (nodes).
    pub fn len(&self) -> usize {
        self.data.len() / self.dimension.max(1)
    }

    /// Cosine of `query` (normalized) and `node`.
    #[inline]
    pub fn score(&self, query: &[f32], node: u32) -> f32 {
        dot(query, self.row(node))
    }
}

/// A node and its similarity to whatever is being searched for.
///
/// Ordered by similarity (then lower node first, so ties are deterministic): the max-heap
/// of [`BinaryHeap`] yields the most similar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Near {
    /// Similarity (dot product of normalized vectors).
    pub score: f32,
    /// The node.
    pub node: u32,
}

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.node.cmp(&self.node))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sorts candidates most similar first.
pub(super) fn sort_best_first(candidates: &mut [Near]) {
    candidates.sort_unstable_by(|a, b| b.cmp(a));
}

/// Nodes already reached by one layer search, one bit each: n/8 bytes (6.5 KiB for 52,000
/// nodes), small enough for every search to allocate its own, which keeps searches free
/// of shared state.
pub(super) struct Visited {
    /// One bit per node.
    bits: Vec<u64>,
}

impl Visited {
    /// An empty set for nodes `0..nodes`.
    pub fn new(nodes: usize) -> Self {
        Self {
            bits: vec![0; nodes.div_ceil(64)],
        }
    }

    /// Marks `node`; true if it was not marked before.
    #[inline]
    pub fn insert(&mut self, node: u32) -> bool {
        let (word, bit) = (node as usize / 64, 1u64 << (node % 64));
        match self.bits.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                true
            }
            _ => false,
        }
    }
}

/// Greedy walk on `layer` from `start` towards `query`: moves to the most similar
/// neighbour until no neighbour is more similar. Used above the layers where a wider
/// search pays off.
pub(super) fn greedy(
    graph: &Graph,
    vectors: Vectors<'_>,
    query: &[f32],
    start: Near,
    layer: usize,
) -> Near {
    let mut best = start;
    loop {
        let mut moved = false;
        for &node in graph.neighbors(best.node, layer) {
            let candidate = Near {
                score: vectors.score(query, node),
                node,
            };
            if candidate > best {
                best = candidate;
                moved = true;
            }
        }
        if !moved {
            return best;
        }
    }
}

/// Best-first search of `layer` from `entries`, keeping the `ef` most similar nodes
/// found; returns them most similar first.
pub(super) fn search_layer(
    graph: &Graph,
    vectors: Vectors<'_>,
    query: &[f32],
    entries: &[Near],
    ef: usize,
    layer: usize,
) -> Vec<Near> {
    let ef = ef.max(1);
    let mut visited = Visited::new(vectors.len());
    // Frontier, most similar first; and the results, least similar on top so it can be
    // evicted when a better node turns up.
    let mut frontier: BinaryHeap<Near> = BinaryHeap::new();
    let mut found: BinaryHeap<Reverse<Near>> = BinaryHeap::new();
    for &entry in entries {
        if visited.insert(entry.node) {
            frontier.push(entry);
            found.push(Reverse(entry));
            if found.len() > ef {
                found.pop();
            }
        }
    }
    while let Some(current) = frontier.pop() {
        if let Some(Reverse(worst)) = found.peek()
            && found.len() >= ef
            && current < *worst
        {
            // Every node left in the frontier is less similar than all results: done.
            break;
        }
        for &node in graph.neighbors(current.node, layer) {
            if !visited.insert(node) {
                continue;
            }
            let candidate = Near {
                score: vectors.score(query, node),
                node,
            };
            let admit = match found.peek() {
                Some(Reverse(worst)) => found.len() < ef || candidate > *worst,
                None => true,
            };
            if admit {
                frontier.push(candidate);
                found.push(Reverse(candidate));
                if found.len() > ef {
                    found.pop();
                }
            }
        }
    }
    // Ascending `Reverse` order is descending similarity.
    found.into_sorted_vec().into_iter().map(|r| r.0).collect()
}

/// Chooses up to `m` neighbours from `candidates` (sorted most similar first, similarity
/// to the node being linked): a candidate is kept only if it is more similar to that
/// node than to every neighbour kept so far (the paper's heuristic, algorithm 4); places
/// left over go to the most similar of the pruned candidates.
///
/// Plain nearest-`m` would spend a whole list on one dense cluster; the heuristic keeps
/// links in other directions, which is what keeps clustered data navigable.
pub(super) fn select_neighbors(vectors: Vectors<'_>, candidates: &[Near], m: usize) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(m);
    for candidate in candidates {
        if kept.len() >= m {
            break;
        }
        if kept.contains(&candidate.node) {
            continue;
        }
        let row = vectors.row(candidate.node);
        let diverse = kept
            .iter()
            .all(|&k| dot(row, vectors.row(k)) < candidate.score);
        if diverse {
            kept.push(candidate.node);
        }
    }
    // Fill the remaining places with the nearest pruned candidates (the paper's
    // `keepPrunedConnections`): on clustered data this gave higher recall for fewer
    // distance computations per query than leaving the places empty.
    for candidate in candidates {
        if kept.len() >= m {
            break;
        }
        if !kept.contains(&candidate.node) {
            kept.push(candidate.node);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn heuristic_prefers_one_link_per_direction() {
        // Nodes 0 and 1 point almost the same way, node 2 elsewhere; the base is between.
        let data: Vec<f32> = [unit(&[1.0, 0.05]), unit(&[1.0, 0.0]), unit(&[0.0, 1.0])].concat();
        let vectors = Vectors {
            data: &data,
            dimension: 2,
        };
        let base = unit(&[1.0, 0.6]);
        let mut candidates: Vec<Near> = (0..3)
            .map(|node| Near {
                score: vectors.score(&base, node),
                node,
            })
            .collect();
        sort_best_first(&mut candidates);
        // 1 is pruned (closer to 0 than to the base), then fills the place left over.
        assert_eq!(select_neighbors(vectors, &candidates, 2), vec![0, 2]);
        assert_eq!(select_neighbors(vectors, &candidates, 3), vec![0, 2, 1]);
        assert_eq!(select_neighbors(vectors, &candidates, 1), vec![0]);
    }

    #[test]
    fn layer_search_finds_the_nearest_along_a_chain() {
        // Points on a half circle, linked to their neighbours along it.
        let n = 50u32;
        let data: Vec<f32> = (0..n)
            .flat_map(|i| {
                let a = std::f32::consts::PI * i as f32 / n as f32;
                [a.cos(), a.sin()]
            })
            .collect();
        let vectors = Vectors {
            data: &data,
            dimension: 2,
        };
        let mut graph = Graph::new(vec![0; n as usize], 2, 2);
        for i in 0..n {
            let list: Vec<u32> = [i.checked_sub(1), (i + 1 < n).then_some(i + 1)]
                .into_iter()
                .flatten()
                .collect();
            graph.set_neighbors(i, 0, &list);
        }
        let query = vectors.row(37).to_vec();
        let start = Near {
            score: vectors.score(&query, 0),
            node: 0,
        };
        assert_eq!(greedy(&graph, vectors, &query, start, 0).node, 37);
        let found = search_layer(&graph, vectors, &query, &[start], 3, 0);
        let mut nodes: Vec<u32> = found.iter().map(|n| n.node).collect();
        assert_eq!(nodes[0], 37);
        // 36 and 38 are equally far in exact arithmetic; rounding decides their order.
        nodes[1..].sort_unstable();
        assert_eq!(nodes, vec![37, 36, 38]);
    }

    #[test]
    fn visited_marks_each_node_once() {
        let mut v = Visited::new(130);
        assert!(v.insert(129));
        assert!(!v.insert(129));
        assert!(v.insert(0));
        assert!(!v.insert(500), "out of range counts as visited");
    }
}
