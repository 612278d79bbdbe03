//! The memory's order: a seeded shuffle of the train records, so that every prefix is a
//! uniform sample of the train split and a partial memory is already useful.
//!
//! Record `r` gets the key `sha256(seed as 8 little-endian bytes ‖ r.id)`; train records
//! are sorted by key (ties, which need a hash collision, by position). The order depends
//! only on the seed and the record ids, not on a random-number generator's version, the
//! position of a record in the file or which other records exist: adding records to a
//! dataset inserts them into the order without moving the others relative to each other.

use sha2::{Digest, Sha256};
use vec2prompt_dataset::{Record, Split};

/// The seed of the default order (recorded in every memory's manifest).
pub const DEFAULT_ORDER_SEED: u64 = 0;

/// Positions (into `records`) of the train records, in the memory's order for `seed`.
/// Validation and test records never appear.
pub fn train_order(records: &[Record], seed: u64) -> Vec<usize> {
    let mut keyed: Vec<([u8; 32], usize)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.split == Split::Train)
        .map(|(i, r)| {
            let mut h = Sha256::new();
            h.update(seed.to_le_bytes());
            h.update(r.id.as_bytes());
            (h.finalize().into(), i)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Fingerprint of an order (the ids and prompts in it, length-prefixed): a memory built
/// on one order refuses to continue on another (a re-ingested dataset with other records,
/// ids or prompts).
pub fn fingerprint(records: &[Record], order: &[usize]) -> String {
    let mut h = Sha256::new();
    for &i in order {
        for field in [records[i].id.as_bytes(), records[i].prompt.as_bytes()] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field);
        }
    }
    hex::encode(h.finalize())
}
