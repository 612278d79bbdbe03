//! Candidates from the dataset: the train records whose answers are nearest the target,
//! proposed with their prompts (the evaluation's knn-1 baseline is the first of them).

use std::path::Path;
use vec2prompt_core::{EmbedderInfo, Error, Result};
use vec2prompt_dataset::{Record, Split, read_records};
use vec2prompt_index::{FlatIndex, VectorIndex};
use vec2prompt_store::EmbeddingStore;

/// The train records of an ingested dataset and an index over their output embeddings.
pub struct Neighbours {
    /// The train records, in file order; index ids are positions in this list.
    records: Vec<Record>,
    /// Exact index over the train records' output embeddings.
    index: FlatIndex,
    /// The train records' prompt embeddings (rows), when the dataset has them.
    prompt_vectors: Option<Vec<f32>>,
}

/// One nearest train record.
#[derive(Debug, Clone)]
pub struct Neighbour {
    /// The record's prompt.
    pub prompt: String,
    /// The record's id in the dataset.
    pub record_id: String,
    /// The prompt's embedding E(p), when the dataset has it.
    pub prompt_vector: Option<Vec<f32>>,
    /// Cosine between the target and the record's output embedding.
    pub score: f32,
}

impl Neighbours {
    /// Loads the train split of an ingested dataset directory (`vec2prompt ingest`); its
    /// output embeddings must be complete and made by `embedder`.
    pub fn load(dataset_dir: &Path, embedder: &EmbedderInfo) -> Result<Self> {
        let records = read_records(&dataset_dir.join("records.jsonl"))?;
        let store = EmbeddingStore::open(dataset_dir, embedder)?;
        if !store.is_complete("outputs")? {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "{}: the output embeddings are incomplete; run `vec2prompt ingest --dataset {}` again to finish them",
                    dataset_dir.display(),
                    dataset_dir.display()
                ),
            ));
        }
        let outputs = store.load("outputs")?;
        let prompts = if store.is_complete("prompts")? {
            Some(store.load("prompts")?)
        } else {
            None
        };
        Self::from_parts(records, &outputs, prompts.as_deref(), embedder.dimension)
    }

    /// Builds from all records (file order), their output embeddings and optionally their
    /// prompt embeddings (each `records.len() × dimension`); only train records become
    /// candidates.
    pub fn from_parts(
        records: Vec<Record>,
        outputs: &[f32],
        prompts: Option<&[f32]>,
        dimension: usize,
    ) -> Result<Self> {
        if outputs.len() != records.len() * dimension
            || prompts.is_some_and(|p| p.len() != outputs.len())
        {
            return Err(Error::invalid(
                "dataset",
                "the output embeddings do not match the records",
            ));
        }
        let mut train = Vec::new();
        let mut data = Vec::new();
        let mut pvecs = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            if r.split == Split::Train {
                let rows = i * dimension..(i + 1) * dimension;
                data.extend_from_slice(&outputs[rows.clone()]);
                if let Some(p) = prompts {
                    pvecs.extend_from_slice(&p[rows]);
                }
                train.push(r);
            }
        }
        if train.is_empty() {
            return Err(Error::invalid("dataset", "has no train records"));
        }
        let ids = (0..train.len() as u32).collect();
        let index = FlatIndex::from_rows(dimension, ids, &data)?;
        Ok(Self {
            records: train,
            index,
            prompt_vectors: prompts.map(|_| pvecs),
        })
    }

    /// Number of train records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no train records (never true for a loaded set).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Embedding dimension of the index.
    pub fn dimension(&self) -> usize {
        self.index.dimension()
    }

    /// The `k` train records whose outputs are nearest each target, best first.
    pub fn nearest(&self, targets: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Neighbour>>> {
        let hits = self.index.search_batch(targets, k)?;
        Ok(hits
            .into_iter()
            .map(|hs| {
                hs.into_iter()
                    .map(|h| {
                        let r = &self.records[h.id as usize];
                        let d = self.index.dimension();
                        let i = h.id as usize;
                        Neighbour {
                            prompt: r.prompt.clone(),
                            record_id: r.id.clone(),
                            prompt_vector: self
                                .prompt_vectors
                                .as_ref()
                                .map(|p| p[i * d..(i + 1) * d].to_vec()),
                            score: h.score,
                        }
                    })
                    .collect()
            })
            .collect())
    }
}
