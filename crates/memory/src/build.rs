//! Building a memory: answer the next train prompts of the order in batches, embed the
//! answers, append and flush each batch.

use crate::memory::{Entry, Memory};
use std::time::Instant;
use vec2prompt_core::{Embedder, Error, Llm, Result, is_empty_answer};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_store::append::f32_bytes;

/// How far and how a build goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Build (or extend) the memory to the first `limit` records of the order; `None`:
    /// every train record.
    pub limit: Option<usize>,
    /// Prompts per LLM call, which is also what a crash can lose (each batch is flushed to
    /// disk before the next starts).
    pub batch: usize,
}

/// What a build did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildReport {
    /// Answers remembered before the call.
    pub already: usize,
    /// Answers added by the call.
    pub answered: usize,
    /// Answers the call aimed for (`limit`, at most the train records).
    pub target: usize,
    /// Wall seconds spent in the LLM.
    pub generate_seconds: f64,
    /// Wall seconds spent embedding answers.
    pub embed_seconds: f64,
    /// Tokens the LLM generated.
    pub completion_tokens: usize,
}

impl Memory {
    /// Answers the train prompts of the order from the first missing one up to the limit,
    /// `batch` at a time, with `llm` under the memory's generation settings; embeds the
    /// answers with `embedder` (an empty answer gets the zero vector: it means nothing, as
    /// in the evaluation, where it scores 0) and appends each batch to disk.
    /// `progress(done, target)` is called before the first batch and after each one.
    pub fn build(
        &mut self,
        records: &[Record],
        llm: &dyn Llm,
        embedder: &dyn Embedder,
        options: &BuildOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BuildReport> {
        if embedder.info() != &self.manifest.embedder {
            return Err(Error::invalid(
                "embedder",
                "is not the embedder this memory's vectors were made with",
            ));
        }
        let dim = self.manifest.embedder.dimension;
        let target = options
            .limit
            .unwrap_or(self.order.len())
            .min(self.order.len());
        let already = self.done;
        let mut report = BuildReport {
            already,
            answered: 0,
            target,
            generate_seconds: 0.0,
            embed_seconds: 0.0,
            completion_tokens: 0,
        };
        progress(self.done, target);
        while self.done < target {
            let end = (self.done + options.batch.max(1)).min(target);
            let batch: Vec<&Record> = self.order[self.done..end]
                .iter()
                .map(|&i| &records[i])
                .collect();
            // The order holds train records only; checked again right before any prompt
            // reaches the LLM, so a held-out prompt can never be answered into the memory.
            if let Some(r) = batch.iter().find(|r| r.split != Split::Train) {
                return Err(Error::invalid(
                    "memory",
                    format!("record {} is not a train record", r.id),
                ));
            }
            let prompts: Vec<String> = batch.iter().map(|r| r.prompt.clone()).collect();
            let t = Instant::now();
            let generations = llm.generate(&prompts, &self.manifest.params)?;
            let generate_seconds = t.elapsed().as_secs_f64();
            if generations.len() != prompts.len() {
                return Err(Error::backend(
                    &llm.info().name,
                    "returned a different number of answers than prompts",
                ));
            }
            let share = generate_seconds / prompts.len() as f64;
            let mut entries = Vec::with_capacity(batch.len());
            for (r, mut g) in batch.iter().zip(generations) {
                let g = g
                    .drain(..)
                    .next()
                    .ok_or_else(|| Error::backend(&llm.info().name, "returned no answer"))?;
                report.completion_tokens += g.completion_tokens;
                entries.push(Entry {
                    id: r.id.clone(),
                    index: r.index,
                    split: r.split,
                    answer: g.text,
                    prompt_tokens: g.prompt_tokens,
                    completion_tokens: g.completion_tokens,
                    finish_reason: g.finish_reason,
                    seconds: share,
                });
            }
            let t = Instant::now();
            let vectors = embed_answers(embedder, &entries, dim)?;
            report.embed_seconds += t.elapsed().as_secs_f64();
            report.generate_seconds += generate_seconds;

            let mut lines = Vec::new();
            for e in &entries {
                serde_json::to_writer(&mut lines, e).map_err(|e| Error::backend("memory", e))?;
                lines.push(b'\n');
            }
            // Lines first, then vectors: a crash between the two leaves extra lines, which
            // the next open cuts back to the rows that have vectors.
            self.lines.append(&lines)?;
            self.vectors
                .append(&f32_bytes(vectors.iter().map(|v| v.as_slice())))?;
            self.done = end;
            report.answered += entries.len();
            progress(self.done, target);
        }
        Ok(report)
    }
}

/// Embeddings of the entries' answers; the zero vector for an empty answer.
fn embed_answers(embedder: &dyn Embedder, entries: &[Entry], dim: usize) -> Result<Vec<Vec<f32>>> {
    let texts: Vec<String> = entries
        .iter()
        .filter(|e| !is_empty_answer(&e.answer))
        .map(|e| e.answer.clone())
        .collect();
    let mut embedded = if texts.is_empty() {
        Vec::new().into_iter()
    } else {
        embedder.embed(&texts)?.into_iter()
    };
    entries
        .iter()
        .map(|e| {
            if is_empty_answer(&e.answer) {
                return Ok(vec![0.0; dim]);
            }
            let v = embedded
                .next()
                .ok_or_else(|| Error::backend(&embedder.info().name, "returned too few vectors"))?;
            if v.len() != dim {
                return Err(Error::backend(
                    &embedder.info().name,
                    "returned a vector of the wrong dimension",
                ));
            }
            Ok(v)
        })
        .collect()
}
