//! Candidates from the environment memory: train prompts whose *real* answers (the LLM's
//! own, remembered by `vec2prompt remember`) lie nearest the target. Their similarity is
//! known without an LLM call: it is the cosine of the remembered answer, which under the
//! memory's greedy settings is the answer the environment gives.

use std::collections::HashMap;
use std::path::Path;
use vec2prompt_core::{EmbedderInfo, Error, Result, cosine};
use vec2prompt_dataset::{Record, read_records};
use vec2prompt_index::{FlatIndex, VectorIndex};
use vec2prompt_memory::RememberedAnswers;
use vec2prompt_store::EmbeddingStore;

/// One remembered train prompt and its real answer.
#[derive(Debug, Clone)]
pub struct Recalled {
    /// The record's prompt.
    pub prompt: String,
    /// The record's id.
    pub record_id: String,
    /// The LLM's remembered answer.
    pub answer: String,
    /// The answer's embedding ê.
    pub answer_vector: Vec<f32>,
    /// The prompt's embedding E(p), when the dataset has it.
    pub prompt_vector: Option<Vec<f32>>,
    /// Tokens the answer took.
    pub completion_tokens: usize,
    /// Seconds the answer took when it was remembered (its share of its batch).
    pub seconds: f64,
}

/// An index over a memory's answer embeddings.
pub struct Recall {
    entries: Vec<Recalled>,
    by_record: HashMap<String, usize>,
    index: Option<FlatIndex>,
    dimension: usize,
}

impl Recall {
    /// Builds from a loaded memory and the dataset's records (file order) with, optionally,
    /// their prompt embeddings (`records.len() × dimension`). Empty answers (zero vectors)
    /// are left out: they match nothing.
    pub fn new(
        memory: &RememberedAnswers,
        records: &[Record],
        prompts: Option<&[f32]>,
    ) -> Result<Self> {
        let d = memory.dimension();
        if prompts.is_some_and(|p| p.len() != records.len() * d) {
            return Err(Error::invalid(
                "dataset",
                "the prompt embeddings do not match the records",
            ));
        }
        let mut entries = Vec::new();
        let mut rows = Vec::new();
        for (i, e) in memory.entries.iter().enumerate() {
            let v = memory.embedding(i);
            if v.iter().all(|&x| x == 0.0) {
                continue;
            }
            let r = memory.records[i];
            let record = records
                .get(r)
                .filter(|rec| rec.id == e.id)
                .ok_or_else(|| Error::invalid("memory", "was loaded for another record list"))?;
            rows.extend_from_slice(v);
            entries.push(Recalled {
                prompt: record.prompt.clone(),
                record_id: e.id.clone(),
                answer: e.answer.clone(),
                answer_vector: v.to_vec(),
                prompt_vector: prompts.map(|p| p[r * d..(r + 1) * d].to_vec()),
                completion_tokens: e.completion_tokens,
                seconds: e.seconds,
            });
        }
        let index = if entries.is_empty() {
            None
        } else {
            Some(FlatIndex::from_rows(
                d,
                (0..entries.len() as u32).collect(),
                &rows,
            )?)
        };
        let by_record = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.record_id.clone(), i))
            .collect();
        Ok(Self {
            entries,
            by_record,
            index,
            dimension: d,
        })
    }

    /// Loads the memory of LLM configuration `llm` (the key it was built under) from an
    /// ingested dataset directory, with the dataset's prompt embeddings when they are
    /// complete (else the search embeds the prompts it ranks). The dataset must have been
    /// embedded by `embedder`. With `limit`, only the first `limit` answers of the
    /// memory's order are used (a memory of that size).
    pub fn load(
        dataset_dir: &Path,
        llm: &str,
        embedder: &EmbedderInfo,
        limit: Option<usize>,
    ) -> Result<Self> {
        let records = read_records(&dataset_dir.join("records.jsonl"))?;
        let mut memory = RememberedAnswers::load(dataset_dir, llm, &records)?;
        if let Some(n) = limit {
            memory.truncate(n);
        }
        if memory.manifest.embedder != *embedder {
            return Err(Error::invalid(
                "memory",
                format!(
                    "its answers were embedded by {}, not by {}",
                    memory.manifest.embedder.name, embedder.name
                ),
            ));
        }
        let store = EmbeddingStore::open(dataset_dir, embedder)?;
        let prompts = if store.is_complete("prompts")? {
            Some(store.load("prompts")?)
        } else {
            None
        };
        Self::new(&memory, &records, prompts.as_deref())
    }

    /// Every remembered answer in the index, in the memory's order.
    pub fn entries(&self) -> &[Recalled] {
        &self.entries
    }

    /// Remembered answers in the index.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no answer is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Embedding dimension.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The remembered answer of a train record, if the memory has one.
    pub fn get(&self, record_id: &str) -> Option<&Recalled> {
        self.by_record.get(record_id).map(|&i| &self.entries[i])
    }

    /// The `k` remembered prompts whose real answers are nearest each target, best first,
    /// with the real similarity of each.
    pub fn nearest(&self, targets: &[Vec<f32>], k: usize) -> Result<Vec<Vec<(f32, &Recalled)>>> {
        let Some(index) = &self.index else {
            return Ok(targets.iter().map(|_| Vec::new()).collect());
        };
        let hits = index.search_batch(targets, k.min(self.entries.len()))?;
        Ok(hits
            .into_iter()
            .zip(targets)
            .map(|(hs, t)| {
                hs.into_iter()
                    .map(|h| {
                        let e = &self.entries[h.id as usize];
                        (cosine(t, &e.answer_vector), e)
                    })
                    .collect()
            })
            .collect())
    }
}
