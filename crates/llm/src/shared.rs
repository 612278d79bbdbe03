//! Weights shared between the models of one process.
//!
//! The LLM, the generator and the prompt optimizer all start from the same base GGUF, and
//! the adapters of the last two change only the query and value projections. Every other
//! weight they hold (the token embedding, the output head, the attention output and the
//! feed-forward projections) is equal, bit for bit, to the LLM's. A projection is keyed by
//! a 128-bit hash of its f32 values, its shape and its layout, so a model built later gets
//! the one already in memory instead of a copy. Entries are weak: a weight is freed when
//! its last model is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use twox_hash::XxHash3_128;

/// How a weight is laid out in memory, part of its key: equal values held in two
/// layouts are two weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Layout {
    /// f32 as given.
    Dense,
    /// Int8 per 32 values, packed for this CPU's kernel.
    Packed,
    /// A token embedding table, in whatever form it is kept.
    Embedding,
}

/// The identity of a weight: its values' hash, shape and layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    hash: u128,
    rows: usize,
    cols: usize,
    layout: Layout,
}

impl Key {
    /// The key of the row-major `(rows, cols)` matrix `values` held in `layout`.
    pub(crate) fn of(values: &[f32], rows: usize, cols: usize, layout: Layout) -> Self {
        Self {
            hash: XxHash3_128::oneshot(bytemuck::cast_slice(values)),
            rows,
            cols,
            layout,
        }
    }
}

/// Weights of one type by key, held weakly.
pub(crate) struct Registry<T> {
    map: Mutex<HashMap<Key, Weak<T>>>,
}

impl<T> Registry<T> {
    /// An empty registry.
    pub(crate) fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Weak<T>>> {
        // A panic elsewhere cannot leave the map half-written: every change is one call.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live weight under `key`, if a model holds one.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<T>> {
        self.lock().get(key).and_then(Weak::upgrade)
    }

    /// Stores `value` under `key` and returns it shared; when another model stored one
    /// meanwhile, that one is returned and `value` dropped.
    pub(crate) fn insert(&self, key: Key, value: T) -> Arc<T> {
        let mut map = self.lock();
        if let Some(live) = map.get(&key).and_then(Weak::upgrade) {
            return live;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let value = Arc::new(value);
        map.insert(key, Arc::downgrade(&value));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_and_freed_weights_are_forgotten() {
        let r: Registry<Vec<f32>> = Registry::new();
        let v = vec![1.0f32, 2.0, 3.0, 4.0];
        let k = Key::of(&v, 2, 2, Layout::Dense);
        assert!(r.get(&k).is_none());
        let a = r.insert(k, v.clone());
        let b = r.get(&Key::of(&v, 2, 2, Layout::Dense)).expect("shared");
        assert!(Arc::ptr_eq(&a, &b));
        // Another shape, layout or value is another weight.
        assert!(r.get(&Key::of(&v, 1, 4, Layout::Dense)).is_none());
        assert!(r.get(&Key::of(&v, 2, 2, Layout::Packed)).is_none());
        assert!(
            r.get(&Key::of(&[1.0, 2.0, 3.0, 4.5], 2, 2, Layout::Dense))
                .is_none()
        );
        // A second insert under a live key returns the first value.
        let c = r.insert(k, vec![9.0]);
        assert!(Arc::ptr_eq(&a, &c));
        drop((a, b, c));
        assert!(r.get(&k).is_none(), "a weight no model holds is freed");
    }
}
