//! Storage of the layered graph: every node's neighbour list on every layer it lives on,
//! in fixed-capacity slots so the lists never reallocate and layer 0 (where a search
//! spends nearly all its time) is one contiguous array.

/// Neighbour lists of all nodes on all layers.
///
/// A slot is `1 + capacity` `u32`s: the list's length, then the neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Graph {
    /// Capacity of a list on layers above 0.
    m: usize,
    /// Capacity of a list on layer 0.
    m0: usize,
    /// Top layer of each node.
    levels: Vec<u8>,
    /// Layer-0 slots of all nodes, node after node.
    layer0: Vec<u32>,
    /// Per node, its slots on layers `1..=level`, layer after layer.
    upper: Vec<Vec<u32>>,
}

impl Graph {
    /// A graph without edges for nodes with the given top layers; lists on layer 0 hold
    /// up to `m0` neighbours, on higher layers up to `m`.
    pub fn new(levels: Vec<u8>, m: usize, m0: usize) -> Self {
        let layer0 = vec![0; levels.len() * (m0 + 1)];
        let upper = levels
            .iter()
            .map(|&level| vec![0; level as usize * (m + 1)])
            .collect();
        Self {
            m,
            m0,
            levels,
            layer0,
            upper,
        }
    }

    /// Top layer of `node`.
    #[inline]
    pub fn level(&self, node: u32) -> usize {
        self.levels[node as usize] as usize
    }

    /// Most neighbours a list on `layer` may hold.
    #[inline]
    pub fn capacity(&self, layer: usize) -> usize {
        if layer == 0 { self.m0 } else { self.m }
    }

    /// The slot of `node` on `layer` (length word first), or `None` above its top layer.
    #[inline]
    fn slot(&self, node: u32, layer: usize) -> Option<&[u32]> {
        if layer == 0 {
            let start = node as usize * (self.m0 + 1);
            self.layer0.get(start..start + self.m0 + 1)
        } else {
            let start = (layer - 1) * (self.m + 1);
            self.upper
                .get(node as usize)?
                .get(start..start + self.m + 1)
        }
    }

    /// Neighbours of `node` on `layer`; empty above its top layer.
    #[inline]
    pub fn neighbors(&self, node: u32, layer: usize) -> &[u32] {
        match self.slot(node, layer) {
            Some(slot) => {
                let len = (slot[0] as usize).min(slot.len() - 1);
                &slot[1..1 + len]
            }
            None => &[],
        }
    }

    /// Replaces the neighbours of `node` on `layer`, keeping at most the layer's capacity
    /// (callers select lists that fit; the cut only guards the slot). Ignored above the
    /// node's top layer, where it has no slot.
    pub fn set_neighbors(&mut self, node: u32, layer: usize, list: &[u32]) {
        let slot = if layer == 0 {
            let start = node as usize * (self.m0 + 1);
            self.layer0.get_mut(start..start + self.m0 + 1)
        } else {
            let start = (layer - 1) * (self.m + 1);
            self.upper
                .get_mut(node as usize)
                .and_then(|s| s.get_mut(start..start + self.m + 1))
        };
        if let Some(slot) = slot {
            let len = list.len().min(slot.len() - 1);
            slot[0] = len as u32;
            slot[1..1 + len].copy_from_slice(&list[..len]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_respect_layers_and_capacity() {
        let mut g = Graph::new(vec![0, 2, 1], 2, 4);
        g.set_neighbors(0, 0, &[1, 2]);
        g.set_neighbors(1, 2, &[2, 0, 0]);
        g.set_neighbors(1, 1, &[2]);
        g.set_neighbors(2, 0, &[0, 1, 0, 1, 0]);
        g.set_neighbors(0, 1, &[2]); // node 0 has no layer 1: ignored
        assert_eq!(g.neighbors(0, 0), &[1, 2]);
        assert_eq!(g.neighbors(1, 2), &[2, 0]);
        assert_eq!(g.neighbors(1, 1), &[2]);
        assert_eq!(g.neighbors(1, 0), &[] as &[u32]);
        assert_eq!(g.neighbors(2, 0), &[0, 1, 0, 1]);
        assert_eq!(g.neighbors(0, 1), &[] as &[u32]);
        assert_eq!(g.neighbors(2, 5), &[] as &[u32]);
        assert_eq!((g.level(1), g.capacity(0), g.capacity(3)), (2, 4, 2));
        g.set_neighbors(0, 0, &[2]);
        assert_eq!(g.neighbors(0, 0), &[2]);
    }
}
