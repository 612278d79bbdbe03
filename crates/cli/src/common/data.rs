//! A dataset directory as the commands read it: its records, its embedded columns, the
//! splits an evaluation or search draws from, and an index over a split.

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use std::path::{Path, PathBuf};
use vec2prompt_core::Embedder;
use vec2prompt_dataset::{Record, Split, read_records};
use vec2prompt_index::{FlatIndex, HnswIndex, HnswParams, VectorIndex};
use vec2prompt_store::EmbeddingStore;

/// The records of a dataset directory (made by `ingest`) or of a raw data file.
pub fn load_records(path: &Path) -> Result<Vec<Record>> {
    if path.is_file() {
        let (records, _) = vec2prompt_dataset::ingest(path, &Default::default())?;
        Ok(records)
    } else {
        let p = path.join("records.jsonl");
        vec2prompt_dataset::read_records(&p).with_context(|| {
            format!(
                "reading {} (a dataset directory or a data file)",
                p.display()
            )
        })
    }
}

/// The records file of a dataset directory.
pub fn records_path(dataset: &Path) -> PathBuf {
    dataset.join("records.jsonl")
}

/// Records and one column's vectors of a dataset directory, checked to match.
pub fn load_dataset(
    dataset: &Path,
    column: &str,
    embedder: &dyn Embedder,
) -> Result<(Vec<Record>, Vec<f32>)> {
    let path = records_path(dataset);
    if !path.exists() {
        bail!(
            "{} has no records.jsonl: run `vec2prompt ingest --dataset {}` first",
            dataset.display(),
            dataset.display()
        );
    }
    let records = read_records(&path)?;
    let vectors = load_column(dataset, column, embedder, records.len())?;
    Ok((records, vectors))
}

/// One column's vectors of a dataset directory whose records are already loaded
/// (`records` of them), checked to be complete and to match.
pub fn load_column(
    dataset: &Path,
    column: &str,
    embedder: &dyn Embedder,
    records: usize,
) -> Result<Vec<f32>> {
    let store = EmbeddingStore::open(dataset, embedder.info())?;
    if !store.is_complete(column)? {
        bail!(
            "the {column} of {} are not fully embedded ({} of {records}): run `vec2prompt ingest` again to finish",
            dataset.display(),
            store.count(column)?,
        );
    }
    let vectors = store.load(column)?;
    if vectors.len() != records * embedder.info().dimension {
        bail!(
            "{} has {records} records but a different number of {column} vectors",
            dataset.display(),
        );
    }
    Ok(vectors)
}

/// Which records a search covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// Train records.
    Train,
    /// Validation records.
    Validation,
    /// Test records.
    Test,
    /// Every record.
    All,
}

/// The held-out splits an evaluation draws its targets from (never train: train records
/// are what the models learn from and the search proposes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeldOut {
    /// Validation records (for development).
    Validation,
    /// Test records (for reported numbers).
    Test,
}

impl HeldOut {
    /// The dataset split.
    pub fn split(self) -> Split {
        match self {
            HeldOut::Validation => Split::Validation,
            HeldOut::Test => Split::Test,
        }
    }
}

/// Index kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IndexKind {
    /// Exact search over every vector.
    Flat,
    /// Approximate HNSW graph (for large collections).
    Hnsw,
}

/// Builds an index over the records of `split` (ids = record positions).
pub fn build_index(
    records: &[Record],
    vectors: &[f32],
    dimension: usize,
    split: SplitArg,
    kind: IndexKind,
) -> Result<Box<dyn VectorIndex>> {
    let keep = |r: &Record| match split {
        SplitArg::Train => r.split == Split::Train,
        SplitArg::Validation => r.split == Split::Validation,
        SplitArg::Test => r.split == Split::Test,
        SplitArg::All => true,
    };
    let mut ids = Vec::new();
    let mut data = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if keep(r) {
            ids.push(i as u32);
            data.extend_from_slice(&vectors[i * dimension..(i + 1) * dimension]);
        }
    }
    Ok(match kind {
        IndexKind::Flat => Box::new(FlatIndex::from_rows(dimension, ids, &data)?),
        IndexKind::Hnsw => Box::new(HnswIndex::build(
            dimension,
            ids,
            &data,
            HnswParams::default(),
        )?),
    })
}
