//! Reading a memory: [`RememberedAnswers`] (ids → answer texts and embeddings) for training
//! on the environment and for fast mode, and [`Status`] (how far a memory got).
//!
//! Reading never changes the files, so it is safe while `vec2prompt remember` extends the
//! memory: a row half-written at that moment is simply not read yet.

use crate::memory::{Entry, Manifest, complete_rows, memory_dir, parse_entry, read_manifest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Result};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_store::append::read_f32;

/// A loaded memory: the environment's answers to the first `len()` train records of the
/// order, with their embeddings.
#[derive(Debug, Clone)]
pub struct RememberedAnswers {
    /// The memory's manifest.
    pub manifest: Manifest,
    /// The answers, in the memory's order.
    pub entries: Vec<Entry>,
    /// Position in the dataset's record list of each entry's record.
    pub records: Vec<usize>,
    /// The answers' embeddings, row-major (`len() × dimension`); zero for empty answers.
    pub embeddings: Vec<f32>,
}

impl RememberedAnswers {
    /// Loads the memory of LLM configuration `llm` in `dataset`, checking every entry
    /// against the dataset's `records`: each must be a train record there (so no
    /// validation or test answer can reach a model trained on the memory).
    pub fn load(dataset: &Path, llm: &str, records: &[Record]) -> Result<Self> {
        Self::load_dir(&memory_dir(dataset, llm), records)
    }

    /// [`load`](Self::load) from a memory directory.
    pub fn load_dir(dir: &Path, records: &[Record]) -> Result<Self> {
        if !dir.join("manifest.json").exists() {
            return Err(Error::invalid(
                "memory",
                format!(
                    "there is no memory at {}: run `vec2prompt remember` first",
                    dir.display()
                ),
            ));
        }
        let manifest = read_manifest(dir)?;
        let dim = manifest.embedder.dimension;
        let (lines, n) = complete_rows(dir, dim)?;
        let by_id: HashMap<&str, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let mut entries = Vec::with_capacity(n);
        let mut positions = Vec::with_capacity(n);
        for (k, line) in lines.iter().enumerate() {
            let e = parse_entry(dir, k, line)?;
            let position = by_id.get(e.id.as_str()).copied().ok_or_else(|| {
                Error::invalid(
                    "memory",
                    format!(
                        "{} remembers record {:?}, which the dataset does not have",
                        dir.display(),
                        e.id
                    ),
                )
            })?;
            if e.split != Split::Train || records[position].split != Split::Train {
                return Err(Error::invalid(
                    "memory",
                    format!(
                        "{} holds an answer to {} record {:?}; a memory may only hold train answers",
                        dir.display(),
                        records[position].split.as_str(),
                        e.id
                    ),
                ));
            }
            entries.push(e);
            positions.push(position);
        }
        let embeddings = read_f32(&crate::memory::vectors_path(dir), n * dim)?;
        Ok(Self {
            manifest,
            entries,
            records: positions,
            embeddings,
        })
    }

    /// Number of remembered answers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the memory holds no answer.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Embedding dimension.
    pub fn dimension(&self) -> usize {
        self.manifest.embedder.dimension
    }

    /// The embedding of entry `i`'s answer.
    pub fn embedding(&self, i: usize) -> &[f32] {
        let d = self.dimension();
        &self.embeddings[i * d..(i + 1) * d]
    }

    /// Keeps the first `n` answers of the order (a prefix is a uniform sample of the
    /// train split), for training or searching on a memory of a given size.
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.entries.len());
        self.entries.truncate(n);
        self.records.truncate(n);
        self.embeddings.truncate(n * self.dimension());
    }

    /// Entry positions by record id.
    pub fn by_id(&self) -> HashMap<&str, usize> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.as_str(), i))
            .collect()
    }
}

/// Where a memory stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The memory's directory.
    pub dir: PathBuf,
    /// Its manifest, `None` when nothing was built yet.
    pub manifest: Option<Manifest>,
    /// Answers remembered.
    pub done: usize,
    /// Generated tokens over those answers.
    pub completion_tokens: usize,
    /// Generation seconds over those answers.
    pub seconds: f64,
}

impl Status {
    /// The status of LLM configuration `llm`'s memory in `dataset` (read only).
    pub fn of(dataset: &Path, llm: &str) -> Result<Self> {
        let dir = memory_dir(dataset, llm);
        if !dir.join("manifest.json").exists() {
            return Ok(Self {
                dir,
                manifest: None,
                done: 0,
                completion_tokens: 0,
                seconds: 0.0,
            });
        }
        let manifest = read_manifest(&dir)?;
        let (lines, done) = complete_rows(&dir, manifest.embedder.dimension)?;
        let (mut tokens, mut seconds) = (0, 0.0);
        for (k, line) in lines.iter().enumerate() {
            let e = parse_entry(&dir, k, line)?;
            tokens += e.completion_tokens;
            seconds += e.seconds;
        }
        Ok(Self {
            dir,
            manifest: Some(manifest),
            done,
            completion_tokens: tokens,
            seconds,
        })
    }
}
