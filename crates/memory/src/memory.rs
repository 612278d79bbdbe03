//! The on-disk memory of one LLM configuration and its writer, [`Memory`].
//!
//! Layout under `<dataset>/memory/<digest of the LLM configuration>/`:
//! - `manifest.json`: the LLM configuration (the same string the evaluation's answer cache
//!   is keyed by), the generation settings, the embedder, the order's seed and fingerprint;
//! - `answers.jsonl`: one [`Entry`] per line, in the memory's order;
//! - `answers.f32`: the answers' embeddings, row `i` for line `i` (little-endian f32);
//! - `lock`: held (`flock`) by the one process building the memory.
//!
//! Crash safety: each batch is appended to `answers.jsonl`, flushed to disk, then its
//! vectors to `answers.f32`, flushed. On open, a torn line or vector is cut off and both
//! files are cut to the rows they both hold completely, so a `kill -9` at any point loses
//! at most the batch in flight (answered again) and duplicates nothing.

use crate::order::{fingerprint, train_order};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use vec2prompt_core::write_atomic;
use vec2prompt_core::{EmbedderInfo, Error, FinishReason, GenerationParams, Result};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_store::append::{
    SyncedAppend, complete_lines, complete_records, truncate, whole_lines, whole_records,
};
use vec2prompt_store::config_digest;

/// Layout version of a memory directory.
pub const VERSION: u32 = 1;

/// What a memory is made of; a memory refuses to be continued with anything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub version: u32,
    /// The LLM configuration (model, weights, generation settings) the answers come from.
    pub llm: String,
    /// The generation settings every answer was made with.
    pub params: GenerationParams,
    /// The embedder of every answer vector (the dataset's).
    pub embedder: EmbedderInfo,
    /// Seed of the order ([`crate::order`]).
    pub order_seed: u64,
    /// Number of train records (the size of the full memory).
    pub train_records: usize,
    /// sha256 over the ordered train ids and prompts.
    pub order_sha256: String,
}

/// One remembered answer: the environment's answer to a train record's prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The record's id.
    pub id: String,
    /// The record's position in its source file.
    pub index: usize,
    /// The record's split; always `train` (checked when written and when loaded).
    pub split: Split,
    /// The LLM's answer.
    pub answer: String,
    /// Prompt tokens after the chat template (0 when the backend does not say).
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Wall seconds spent generating it (its share of its batch).
    pub seconds: f64,
}

/// How a memory is keyed and ordered.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// The LLM configuration string (see the evaluation's answer cache).
    pub llm: String,
    /// The generation settings (the evaluation's: greedy, 128 new tokens, one answer).
    pub params: GenerationParams,
    /// Seed of the order.
    pub order_seed: u64,
}

/// The directory of the memory of LLM configuration `llm` in dataset `dataset`.
pub fn memory_dir(dataset: &Path, llm: &str) -> PathBuf {
    dataset.join("memory").join(config_digest(llm))
}

pub(crate) fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("manifest.json")
}
pub(crate) fn lines_path(dir: &Path) -> PathBuf {
    dir.join("answers.jsonl")
}
pub(crate) fn vectors_path(dir: &Path) -> PathBuf {
    dir.join("answers.f32")
}

pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = manifest_path(dir);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            "memory",
            format!("{} is not a valid memory manifest: {e}", path.display()),
        )
    })
}

pub(crate) fn parse_entry(dir: &Path, n: usize, line: &str) -> Result<Entry> {
    serde_json::from_str(line).map_err(|e| {
        Error::invalid(
            "memory",
            format!(
                "line {} of {} is damaged ({e}); delete the memory directory to rebuild it",
                n + 1,
                lines_path(dir).display()
            ),
        )
    })
}

/// Rows both files hold completely, without changing them (safe while a writer runs).
pub(crate) fn complete_rows(dir: &Path, dimension: usize) -> Result<(Vec<String>, usize)> {
    let (lines, _) = complete_lines(&lines_path(dir), None)?;
    let vectors = complete_records(&vectors_path(dir), dimension as u64 * 4)?;
    let n = lines.len().min(vectors);
    Ok((lines.into_iter().take(n).collect(), n))
}

/// The writer of one memory: holds its lock, knows the order and how far it got.
pub struct Memory {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) order: Vec<usize>,
    pub(crate) done: usize,
    pub(crate) lines: SyncedAppend,
    pub(crate) vectors: SyncedAppend,
    /// Held for the writer's lifetime; the OS releases it when the process dies.
    _lock: File,
}

impl Memory {
    /// Opens (or creates) the memory of `config` for the dataset in `dataset` (its
    /// `records`, answers embedded by `embedder`), taking the writer's lock, cutting off
    /// whatever a crash left half-written and checking the rest is the order's prefix.
    pub fn open(
        dataset: &Path,
        records: &[Record],
        embedder: &EmbedderInfo,
        config: &MemoryConfig,
    ) -> Result<Self> {
        config.params.validate()?;
        let dir = memory_dir(dataset, &config.llm);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = lock(&dir)?;
        let order = train_order(records, config.order_seed);
        if order.is_empty() {
            return Err(Error::invalid("--dataset", "has no train records"));
        }
        let manifest = Manifest {
            version: VERSION,
            llm: config.llm.clone(),
            params: config.params.clone(),
            embedder: embedder.clone(),
            order_seed: config.order_seed,
            train_records: order.len(),
            order_sha256: fingerprint(records, &order),
        };
        if manifest_path(&dir).exists() {
            let old = read_manifest(&dir)?;
            if old != manifest {
                return Err(Error::invalid(
                    "memory",
                    format!(
                        "{} was built for another dataset, embedder or LLM configuration \
                         ({}, {} train records, embedder {}); delete it to rebuild it for this one",
                        dir.display(),
                        old.llm,
                        old.train_records,
                        old.embedder.name
                    ),
                ));
            }
        } else {
            let json = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| Error::backend("memory manifest", e))?;
            write_atomic(&manifest_path(&dir), &json)?;
        }
        // Cut both files to the rows they both hold completely.
        let vector_bytes = embedder.dimension as u64 * 4;
        let lines = whole_lines(&lines_path(&dir), None)?;
        let vectors = whole_records(&vectors_path(&dir), vector_bytes)?;
        let done = lines.len().min(vectors);
        whole_lines(&lines_path(&dir), Some(done))?;
        if vectors_path(&dir).exists() {
            truncate(&vectors_path(&dir), done as u64 * vector_bytes)?;
        }
        if done > order.len() {
            return Err(Error::invalid(
                "memory",
                format!(
                    "{} holds {done} answers for {} train records; delete it to rebuild it",
                    dir.display(),
                    order.len()
                ),
            ));
        }
        for (n, line) in lines.iter().take(done).enumerate() {
            let entry = parse_entry(&dir, n, line)?;
            let record = &records[order[n]];
            if entry.id != record.id || entry.split != Split::Train {
                return Err(Error::invalid(
                    "memory",
                    format!(
                        "row {} of {} is record {:?}, but the order says {:?}; delete the \
                         memory directory to rebuild it",
                        n + 1,
                        lines_path(&dir).display(),
                        entry.id,
                        record.id
                    ),
                ));
            }
        }
        Ok(Self {
            lines: SyncedAppend::open(&lines_path(&dir))?,
            vectors: SyncedAppend::open(&vectors_path(&dir))?,
            dir,
            manifest,
            order,
            done,
            _lock: lock,
        })
    }

    /// The memory's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Answers remembered so far (the first `len()` train records of the order).
    pub fn len(&self) -> usize {
        self.done
    }

    /// Whether nothing is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.done == 0
    }

    /// The order: positions of the train records in the dataset's record list.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

/// Takes the exclusive lock of a memory directory, or says who holds it.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a valid, open file descriptor owned by `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(Error::invalid(
                "memory",
                format!(
                    "{} is being built by another process; wait for it or stop it first",
                    dir.display()
                ),
            ));
        }
    }
    Ok(file)
}
