//! The embedding store of a dataset directory: vectors of named text columns
//! (`outputs`, `prompts`), computed in batches, appended to flat files, resumable.
//!
//! Layout under `<dataset>/embeddings/`:
//! - `manifest.json`: which embedder made the vectors (name, dimension, pooling,
//!   normalization) and, per column, the count and sha256 of the texts it embeds. A store
//!   refuses another embedder or changed texts instead of mixing vectors.
//! - `<column>.f32`: row-major little-endian f32 vectors in text order.
//!
//! Crash safety: every batch is appended and flushed to disk (`fdatasync`) before the next
//! begins, and the vector count is the file length divided by the vector size. After a
//! `kill -9` a torn tail (a partly written vector) is cut off on the next open, and
//! embedding continues from the first missing vector: nothing lost, nothing embedded twice.
//!
//! - [`EmbeddingStore`]: `open`, `fill` (one batch at a time), `count`, `load`; [`Manifest`].
//! - [`append`]: the crash-safe rules every resumable writer shares (this store, the
//!   environment memory): `SyncedAppend` (append + `fdatasync` per batch), counting whole
//!   units (`whole_records`, `whole_lines`, `complete_lines`) and cutting torn tails,
//!   `read_f32`, and `config_digest` (short stable names of per-configuration caches).
//!
//! Files that are replaced rather than appended (this manifest, records, reports, model
//! cards, checkpoints, exported weights) go through `vec2prompt_core::write_atomic` instead.

pub mod append;

pub use append::{SyncedAppend, config_digest};
use vec2prompt_core::write_atomic;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vec2prompt_core::{Embedder, EmbedderInfo, Error, Result};

/// What the store records about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub version: u32,
    /// The embedder that made every vector.
    pub embedder: EmbedderInfo,
    /// Per column: the texts the vectors belong to.
    pub columns: BTreeMap<String, ColumnInfo>,
}

/// Identity of a column's texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Number of texts.
    pub count: usize,
    /// sha256 over the texts (length-prefixed), so a changed dataset is noticed.
    pub sha256: String,
}

/// Result of [`EmbeddingStore::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillReport {
    /// Vectors already present when the call began.
    pub already: usize,
    /// Vectors computed by this call.
    pub embedded: usize,
}

/// A dataset directory's embedding store.
pub struct EmbeddingStore {
    dir: PathBuf,
    manifest: Manifest,
}

const VERSION: u32 = 1;

fn fingerprint(texts: &[String]) -> String {
    let mut h = Sha256::new();
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex::encode(h.finalize())
}

impl EmbeddingStore {
    /// Opens (or creates) the store under `dataset_dir` for vectors made by `embedder`.
    /// Fails if the store was made by a different embedder.
    pub fn open(dataset_dir: &Path, embedder: &EmbedderInfo) -> Result<Self> {
        let dir = dataset_dir.join("embeddings");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join("manifest.json");
        let manifest = if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                Error::invalid(
                    "--dataset",
                    format!("{} is not a valid manifest: {e}", path.display()),
                )
            })?;
            if m.embedder != *embedder {
                return Err(Error::invalid(
                    "--dataset",
                    format!(
                        "{} holds vectors of embedder {} ({} dims, {:?} pooling, normalized: {}); \
                         refusing to mix them with {} ({} dims, {:?} pooling, normalized: {}). \
                         Use another dataset directory or the original embedder",
                        dataset_dir.display(),
                        m.embedder.name,
                        m.embedder.dimension,
                        m.embedder.pooling,
                        m.embedder.normalized,
                        embedder.name,
                        embedder.dimension,
                        embedder.pooling,
                        embedder.normalized
                    ),
                ));
            }
            m
        } else {
            let m = Manifest {
                version: VERSION,
                embedder: embedder.clone(),
                columns: BTreeMap::new(),
            };
            write_manifest(&path, &m)?;
            m
        };
        Ok(Self { dir, manifest })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn column_path(&self, column: &str) -> PathBuf {
        self.dir.join(format!("{column}.f32"))
    }

    fn vector_bytes(&self) -> u64 {
        self.manifest.embedder.dimension as u64 * 4
    }

    /// Number of complete vectors of `column`; cuts off a torn tail left by a crash.
    pub fn count(&self, column: &str) -> Result<usize> {
        append::whole_records(&self.column_path(column), self.vector_bytes())
    }

    /// Embeds the texts of `column` that are not stored yet, `batch` at a time, calling
    /// `progress(done, total)` after each batch. Refuses texts that differ from the ones
    /// the stored vectors were made from.
    pub fn fill(
        &mut self,
        column: &str,
        texts: &[String],
        embedder: &dyn Embedder,
        batch: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<FillReport> {
        if embedder.info() != &self.manifest.embedder {
            return Err(Error::invalid(
                "embedder",
                "is not the embedder this store was made with",
            ));
        }
        let info = ColumnInfo {
            count: texts.len(),
            sha256: fingerprint(texts),
        };
        match self.manifest.columns.get(column) {
            Some(old) if *old != info => {
                return Err(Error::invalid(
                    "--dataset",
                    format!(
                        "the {column} texts changed since they were embedded ({} texts then, {} now); \
                         delete {} to embed them again",
                        old.count,
                        info.count,
                        self.column_path(column).display()
                    ),
                ));
            }
            Some(_) => {}
            None => {
                self.manifest.columns.insert(column.to_string(), info);
                write_manifest(&self.dir.join("manifest.json"), &self.manifest)?;
            }
        }
        let already = self.count(column)?;
        if already > texts.len() {
            return Err(Error::invalid(
                "--dataset",
                format!(
                    "{column} has {already} vectors for {} texts; the store is damaged",
                    texts.len()
                ),
            ));
        }
        let path = self.column_path(column);
        let mut file = SyncedAppend::open(&path)?;
        progress(already, texts.len());
        let mut done = already;
        for chunk in texts[already..].chunks(batch.max(1)) {
            let vectors = embedder.embed(chunk)?;
            let mut bytes = Vec::with_capacity(chunk.len() * self.vector_bytes() as usize);
            for v in &vectors {
                if v.len() != self.manifest.embedder.dimension {
                    return Err(Error::backend(
                        &self.manifest.embedder.name,
                        "returned a vector of the wrong dimension",
                    ));
                }
                for x in v {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
            }
            file.append(&bytes)?;
            done += chunk.len();
            progress(done, texts.len());
        }
        Ok(FillReport {
            already,
            embedded: done - already,
        })
    }

    /// All vectors of `column`, row-major (`count × dimension`).
    pub fn load(&self, column: &str) -> Result<Vec<f32>> {
        let n = self.count(column)?;
        append::read_f32(
            &self.column_path(column),
            n * self.manifest.embedder.dimension,
        )
    }

    /// Whether `column` holds a vector for each of its `count` texts.
    pub fn is_complete(&self, column: &str) -> Result<bool> {
        match self.manifest.columns.get(column) {
            Some(info) => Ok(self.count(column)? == info.count),
            None => Ok(false),
        }
    }
}

fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let json = serde_json::to_vec_pretty(m).map_err(|e| Error::backend("manifest", e))?;
    write_atomic(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use vec2prompt_core::Pooling;

    /// A deterministic embedder: the vector encodes the text's length and first byte.
    struct Fake {
        info: EmbedderInfo,
        calls: AtomicUsize,
        fail_after: Option<usize>,
    }

    impl Fake {
        fn new(name: &str) -> Self {
            let info = EmbedderInfo {
                name: name.into(),
                dimension: 3,
                pooling: Pooling::Mean,
                normalized: false,
                max_tokens: 16,
            };
            Self {
                info,
                calls: AtomicUsize::new(0),
                fail_after: None,
            }
        }
    }

    impl Embedder for Fake {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            let c = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail_after.is_some_and(|n| c >= n) {
                return Err(Error::backend("fake", "simulated crash"));
            }
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, t.as_bytes()[0] as f32, 1.0])
                .collect())
        }
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("text number {i}")).collect()
    }

    #[test]
    fn fills_resumes_after_failure_and_never_embeds_twice() {
        let dir = tempfile::tempdir().unwrap();
        let t = texts(10);
        let mut failing = Fake::new("fake");
        failing.fail_after = Some(2);
        let mut store = EmbeddingStore::open(dir.path(), &failing.info).unwrap();
        assert!(
            store
                .fill("outputs", &t, &failing, 3, &mut |_, _| {})
                .is_err()
        );
        assert_eq!(store.count("outputs").unwrap(), 6);
        let fake = Fake::new("fake");
        let mut store = EmbeddingStore::open(dir.path(), &fake.info).unwrap();
        let r = store.fill("outputs", &t, &fake, 3, &mut |_, _| {}).unwrap();
        assert_eq!(
            r,
            FillReport {
                already: 6,
                embedded: 4
            }
        );
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
        let v = store.load("outputs").unwrap();
        assert_eq!(v.len(), 30);
        for (i, text) in t.iter().enumerate() {
            assert_eq!(v[i * 3], text.len() as f32);
        }
        assert!(store.is_complete("outputs").unwrap());
        // A second fill does nothing.
        let r = store.fill("outputs", &t, &fake, 3, &mut |_, _| {}).unwrap();
        assert_eq!(
            r,
            FillReport {
                already: 10,
                embedded: 0
            }
        );
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new("fake");
        let mut store = EmbeddingStore::open(dir.path(), &fake.info).unwrap();
        store
            .fill("prompts", &texts(4), &fake, 2, &mut |_, _| {})
            .unwrap();
        let path = dir.path().join("embeddings/prompts.f32");
        // Simulate a crash in the middle of writing a fifth vector.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(f);
        assert_eq!(store.count("prompts").unwrap(), 4);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * 12);
    }

    #[test]
    fn refuses_other_embedders_and_changed_texts() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new("fake");
        let mut store = EmbeddingStore::open(dir.path(), &fake.info).unwrap();
        store
            .fill("outputs", &texts(4), &fake, 2, &mut |_, _| {})
            .unwrap();
        let other = Fake::new("other-model");
        let err = EmbeddingStore::open(dir.path(), &other.info)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("refusing to mix") && err.contains("other-model"),
            "{err}"
        );
        let err = store
            .fill("outputs", &texts(5), &fake, 2, &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("changed since they were embedded"), "{err}");
        std::fs::write(dir.path().join("embeddings/manifest.json"), b"{oops").unwrap();
        let err = EmbeddingStore::open(dir.path(), &fake.info)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a valid manifest"), "{err}");
    }

    #[test]
    fn progress_reports_every_batch() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new("fake");
        let mut store = EmbeddingStore::open(dir.path(), &fake.info).unwrap();
        let mut seen = Vec::new();
        store
            .fill("outputs", &texts(5), &fake, 2, &mut |d, t| {
                seen.push((d, t))
            })
            .unwrap();
        assert_eq!(seen, vec![(0, 5), (2, 5), (4, 5), (5, 5)]);
    }
}
