//! Construction of the graph (Malkov & Yashunin, algorithm 1), in parallel batches whose
//! result does not depend on the number of threads.
//!
//! Inserting nodes one at a time is inherently sequential, and the usual parallel builds
//! (locks per node) make the graph depend on thread timing. Here nodes are inserted in
//! batches of consecutive nodes instead:
//! 1. in parallel, each node of the batch searches the graph as it was before the batch
//!    and adds the earlier nodes of its batch as candidates (compared directly, since
//!    they are not reachable yet), then selects its neighbours: a pure function of the
//!    graph before the batch;
//! 2. the selected lists are written, and the reverse links are applied per target node
//!    (in parallel over targets, in insertion order within a target).
//!
//! Every step is a pure function of its inputs, so the graph depends only on the data,
//! the insertion order and the parameters. Batches grow with the graph (an eighth of it,
//! at most [`MAX_BATCH`] nodes), so early nodes, which shape the upper layers, are
//! inserted nearly one by one.

use super::HnswParams;
use super::graph::Graph;
use super::search::{Near, Vectors, greedy, search_layer, select_neighbors, sort_best_first};
use crate::kernel::dot;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// Highest layer a node may get; the chance of even reaching it is about `m^-31`.
const MAX_LEVEL: usize = 31;

/// Largest batch: bounds the direct comparisons within a batch (about `MAX_BATCH / 2`
/// per node) while leaving plenty of parallel work.
const MAX_BATCH: usize = 512;

/// A batch is at most this fraction (1/`BATCH_DIVISOR`) of the nodes already inserted.
const BATCH_DIVISOR: usize = 8;

/// Builds the graph over all `vectors`, inserted in row order. Returns it with its entry
/// point (a node on the top layer; `None` for an empty graph).
pub(super) fn build_graph(vectors: Vectors<'_>, params: &HnswParams) -> (Graph, Option<u32>) {
    let nodes = vectors.len();
    let levels = draw_levels(nodes, params.m, params.seed);
    let mut graph = Graph::new(levels, params.m, 2 * params.m);
    let mut entry: Option<u32> = None;
    let mut start = 0usize;
    while start < nodes {
        let end = (start + (start / BATCH_DIVISOR).clamp(1, MAX_BATCH)).min(nodes);
        let frozen = &graph;
        let lists: Vec<Vec<Vec<u32>>> = (start..end)
            .into_par_iter()
            .map(|node| plan(frozen, vectors, entry, start as u32, node as u32, params))
            .collect();
        let mut reverse: Vec<(u32, usize, u32)> = Vec::new();
        for (node, layers) in (start as u32..).zip(&lists) {
            for (layer, list) in layers.iter().enumerate() {
                graph.set_neighbors(node, layer, list);
                reverse.extend(list.iter().map(|&target| (target, layer, node)));
            }
        }
        link_back(&mut graph, vectors, reverse);
        for node in start as u32..end as u32 {
            if entry.is_none_or(|e| graph.level(node) > graph.level(e)) {
                entry = Some(node);
            }
        }
        start = end;
    }
    (graph, entry)
}

/// Top layer of each node: `floor(-ln(u) / ln(m))` for uniform `u`, so each layer holds
/// about `1/m` of the nodes of the layer below. Drawn in row order from `seed`.
fn draw_levels(nodes: usize, m: usize, seed: u64) -> Vec<u8> {
    let scale = 1.0 / (m as f64).ln();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..nodes)
        .map(|_| {
            // `random` is in [0, 1); flip it so ln never sees 0.
            let u = 1.0 - rng.random::<f64>();
            let level = (-u.ln() * scale).floor();
            level.min(MAX_LEVEL as f64) as u8
        })
        .collect()
}

/// Chooses the neighbours of `node` on each of its layers, given the graph before its
/// batch (which begins at `batch_start`) and that graph's entry point.
fn plan(
    graph: &Graph,
    vectors: Vectors<'_>,
    entry: Option<u32>,
    batch_start: u32,
    node: u32,
    params: &HnswParams,
) -> Vec<Vec<u32>> {
    let query = vectors.row(node);
    let level = graph.level(node);
    let mut candidates: Vec<Vec<Near>> = vec![Vec::new(); level + 1];
    if let Some(entry) = entry {
        let top = graph.level(entry);
        let mut closest = Near {
            score: vectors.score(query, entry),
            node: entry,
        };
        for layer in (level + 1..=top).rev() {
            closest = greedy(graph, vectors, query, closest, layer);
        }
        let mut entries = vec![closest];
        let ef = params.ef_construction.max(params.m);
        for layer in (0..=level.min(top)).rev() {
            entries = search_layer(graph, vectors, query, &entries, ef, layer);
            candidates[layer] = entries.clone();
        }
    }
    for earlier in batch_start..node {
        let score = dot(query, vectors.row(earlier));
        for layer_candidates in candidates
            .iter_mut()
            .take(graph.level(earlier).min(level) + 1)
        {
            layer_candidates.push(Near {
                score,
                node: earlier,
            });
        }
    }
    // Up to the layer's full capacity (2m on layer 0, as FAISS does, rather than m as in
    // the paper): on the recall test's data it reached the same recall with ~15% fewer
    // distance computations per query.
    candidates
        .into_iter()
        .enumerate()
        .map(|(layer, mut c)| {
            sort_best_first(&mut c);
            select_neighbors(vectors, &c, graph.capacity(layer))
        })
        .collect()
}

/// Adds the reverse links `(target, layer, source)`: each target gains its sources (in
/// source order) and, where its list overflows, keeps a diverse subset chosen by the
/// neighbour heuristic. Targets are independent, so they are updated in parallel.
fn link_back(graph: &mut Graph, vectors: Vectors<'_>, mut reverse: Vec<(u32, usize, u32)>) {
    reverse.sort_unstable();
    let frozen = &*graph;
    let updates: Vec<(u32, usize, Vec<u32>)> = reverse
        .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|group| {
            let (target, layer) = (group[0].0, group[0].1);
            let mut list = frozen.neighbors(target, layer).to_vec();
            for &(_, _, source) in group {
                if source != target && !list.contains(&source) {
                    list.push(source);
                }
            }
            if list.len() > frozen.capacity(layer) {
                let base = vectors.row(target);
                let mut candidates: Vec<Near> = list
                    .iter()
                    .map(|&node| Near {
                        score: dot(base, vectors.row(node)),
                        node,
                    })
                    .collect();
                sort_best_first(&mut candidates);
                list = select_neighbors(vectors, &candidates, frozen.capacity(layer));
            }
            (target, layer, list)
        })
        .collect();
    for (target, layer, list) in updates {
        graph.set_neighbors(target, layer, &list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_thin_out_by_m_per_layer_and_follow_the_seed() {
        let levels = draw_levels(100_000, 16, 7);
        let at_least = |l: u8| levels.iter().filter(|&&x| x >= l).count() as f64;
        // Expected 100000/16 = 6250 on layer 1 and 390 on layer 2.
        assert!((at_least(1) - 6250.0).abs() < 400.0, "{}", at_least(1));
        assert!((at_least(2) - 390.6).abs() < 100.0, "{}", at_least(2));
        assert_eq!(levels, draw_levels(100_000, 16, 7));
        assert_ne!(levels, draw_levels(100_000, 16, 8));
    }
}
