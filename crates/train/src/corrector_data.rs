//! The corrector's training examples. Each example shows the corrector a
//! target e*, a current prompt with its answer embedding ê, and asks for the target's own
//! prompt. Current prompts come from two sources:
//!
//! - **inverter hypotheses**: the inverter's greedy prompt for e*, with ê the surrogate's
//!   prediction for it (what search has before it asks the LLM);
//! - **near misses**: the prompt of one of the target's nearest other train records, with
//!   ê that record's real answer embedding (what search has after a measured round).
//!
//! Decoding the hypotheses is the slow part, so they are saved in the run directory and a
//! resumed run reuses them (the examples must not change under a resumed run).

use crate::sequences::{Condition, Example};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use vec2prompt_core::Embedder;
use vec2prompt_core::progress::Progress;
use vec2prompt_dataset::Record;
use vec2prompt_index::{FlatIndex, VectorIndex};
use vec2prompt_latent::LatentModel;
use vec2prompt_latent::bpe::{self, PromptTokenizer};

/// What the examples are built from.
pub struct CorrectorData<'a> {
    /// All records.
    pub records: &'a [Record],
    /// Their answer embeddings (row per record).
    pub outputs: &'a [f32],
    /// Vector width.
    pub dim: usize,
    /// Train-split record indices.
    pub train: &'a [usize],
    /// Validation-split record indices.
    pub val: &'a [usize],
    /// Token ids of every record's prompt.
    pub ids: &'a [Vec<u32>],
    /// Most current-prompt tokens shown.
    pub hypothesis_tokens: usize,
    /// Most tokens of a whole sequence.
    pub max_tokens: usize,
}

/// Most tokens of an inverter hypothesis: the corrector sees its first
/// `hypothesis_tokens` (24 by default), and decoding cost grows with the square of the
/// length (no cache), so longer hypotheses (mostly repetition loops) are cut here.
const HYPOTHESIS_MAX_TOKENS: usize = 40;

/// Remembered neighbours per target whose real answers compete with the target's own in
/// the memory's real-feedback examples.
const MEMORY_NEIGHBOURS: usize = 3;

/// Saved inverter hypotheses: `texts[k]` was decoded for record `targets[k]`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Hypotheses {
    targets: Vec<usize>,
    texts: Vec<String>,
}

/// The examples, plus the extra vector rows (ê of the inverter hypotheses) their
/// conditions point at: rows `first_extra_row..` of the caller's table.
pub struct Built {
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples.
    pub val: Vec<Example>,
    /// Rows to append to the vector table, `dim` floats each.
    pub extra_rows: Vec<f32>,
}

impl CorrectorData<'_> {
    fn example(&self, target: usize, hypothesis: &[u32], current_row: u32) -> Example {
        self.example_to(target, target, hypothesis, current_row)
    }

    /// An example for target record `target` (its E(output) is e*) whose current prompt
    /// is `hypothesis` with ê in row `current_row`, asking for record `output`'s prompt.
    fn example_to(
        &self,
        target: usize,
        output: usize,
        hypothesis: &[u32],
        current_row: u32,
    ) -> Example {
        let mut prefix = vec![bpe::BOS];
        prefix.extend(hypothesis.iter().take(self.hypothesis_tokens));
        prefix.push(bpe::SEP);
        let room = self.max_tokens.saturating_sub(prefix.len());
        let keep = self.ids[output].len().min(room.saturating_sub(1));
        let mut tgt: Vec<u32> = self.ids[output][..keep].to_vec();
        tgt.push(bpe::EOS);
        Example {
            condition: Condition::Feedback {
                target: target as u32,
                current: current_row,
            },
            prefix,
            target: tgt,
        }
    }

    /// Near-miss examples: one of the 4 nearest other train records per target, rotated by
    /// `seed`.
    fn near_misses(
        &self,
        index: &FlatIndex,
        targets: &[usize],
        seed: usize,
    ) -> Result<Vec<Example>> {
        let d = self.dim;
        let queries: Vec<Vec<f32>> = targets
            .iter()
            .map(|&i| self.outputs[i * d..(i + 1) * d].to_vec())
            .collect();
        let hits = index.search_batch(&queries, 5)?;
        Ok(targets
            .iter()
            .zip(hits)
            .enumerate()
            .filter_map(|(k, (&t, hs))| {
                let others: Vec<usize> = hs
                    .iter()
                    .map(|h| self.train[h.id as usize])
                    .filter(|&j| j != t && self.records[j].prompt != self.records[t].prompt)
                    .collect();
                let &j = others.get((k + seed) % others.len().max(1))?;
                Some(self.example(t, &self.ids[j], j as u32))
            })
            .collect())
    }

    /// Builds every example. `hypotheses` train targets (spread evenly over the split) and
    /// as many validation targets get an inverter hypothesis from `model`, whose surrogate
    /// gives their ê; `first_extra_row` is where the caller's table ends.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        &self,
        model: Option<&LatentModel>,
        tokenizer: &PromptTokenizer,
        embedder: &dyn Embedder,
        hypotheses: usize,
        first_extra_row: usize,
        run_dir: &Path,
        quiet: bool,
    ) -> Result<Built> {
        let d = self.dim;
        let rows: Vec<f32> = self
            .train
            .iter()
            .flat_map(|&i| self.outputs[i * d..(i + 1) * d].iter().copied())
            .collect();
        let index = FlatIndex::from_rows(d, (0..self.train.len() as u32).collect(), &rows)?;
        if !quiet {
            eprintln!(
                "finding near-miss prompts for {} train targets…",
                self.train.len()
            );
        }
        let mut train = self.near_misses(&index, self.train, 0)?;
        let mut val = self.near_misses(&index, self.val, 1)?;
        let mut extra_rows = Vec::new();
        if hypotheses > 0 {
            let Some(model) = model.filter(|m| m.inverter.is_some()) else {
                bail!(
                    "corrector training with inverter hypotheses needs the trained inverter and surrogate in the output directory: train them first, or set corrector.inverter_hypotheses: 0"
                );
            };
            let step = self.train.len().checked_div(hypotheses).unwrap_or(1).max(1);
            let train_targets: Vec<usize> = self
                .train
                .iter()
                .step_by(step)
                .take(hypotheses)
                .copied()
                .collect();
            let val_targets: Vec<usize> = self.val.iter().take(hypotheses).copied().collect();
            let mut targets = train_targets.clone();
            targets.extend(&val_targets);
            let saved = self.hypotheses(model, &targets, run_dir, quiet)?;
            let predicted = self.predicted_answers(model, embedder, &saved.texts)?;
            for (k, (&t, text)) in saved.targets.iter().zip(&saved.texts).enumerate() {
                if text.is_empty() {
                    continue;
                }
                let row = (first_extra_row + k) as u32;
                let ex = self.example(t, &tokenizer.encode(text)?, row);
                if k < train_targets.len() {
                    train.push(ex);
                } else {
                    val.push(ex);
                }
            }
            extra_rows = predicted;
        }
        Ok(Built {
            train,
            val,
            extra_rows,
        })
    }

    /// Real-feedback examples from the environment memory: record `positions[k]` was
    /// answered by the LLM into embedding row `k` of `vectors`. For each remembered target
    /// record t (e* = its E(output)), the current prompts are t's own and those of the
    /// remembered records whose *real* answers lie nearest e*, each with its real ê; the
    /// prompt to write is the one whose real answer scored best for e* (often not t's
    /// own), and a current prompt that is already the best teaches nothing and is left
    /// out. One remembered target in `holdout_every` goes to validation. The memory's
    /// vectors become rows `first_extra_row..` of the caller's table.
    pub fn from_memory(
        &self,
        positions: &[usize],
        vectors: &[f32],
        holdout_every: usize,
        first_extra_row: usize,
    ) -> Result<Built> {
        let d = self.dim;
        if vectors.len() != positions.len() * d || holdout_every == 0 {
            bail!("the environment memory's embeddings do not match its answers");
        }
        let answered: Vec<usize> = (0..positions.len())
            .filter(|&k| vectors[k * d..(k + 1) * d].iter().any(|&x| x != 0.0))
            .collect();
        if answered.len() < 2 {
            bail!("the environment memory has too few answers to train the corrector on");
        }
        let rows: Vec<f32> = answered
            .iter()
            .flat_map(|&k| vectors[k * d..(k + 1) * d].iter().copied())
            .collect();
        let index = FlatIndex::from_rows(d, (0..answered.len() as u32).collect(), &rows)?;
        let queries: Vec<Vec<f32>> = answered
            .iter()
            .map(|&k| self.outputs[positions[k] * d..(positions[k] + 1) * d].to_vec())
            .collect();
        let hits = index.search_batch(&queries, MEMORY_NEIGHBOURS + 1)?;
        let score = |q: &[f32], k: usize| vec2prompt_core::cosine(q, &vectors[k * d..(k + 1) * d]);
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for ((&k, q), hs) in answered.iter().zip(&queries).zip(hits) {
            let t = positions[k];
            let mut current: Vec<usize> = vec![k];
            current.extend(
                hs.iter()
                    .map(|h| answered[h.id as usize])
                    .filter(|&j| j != k)
                    .take(MEMORY_NEIGHBOURS),
            );
            let best = current
                .iter()
                .copied()
                .max_by(|&a, &b| score(q, a).total_cmp(&score(q, b)))
                .unwrap_or(k);
            let best_prompt = &self.records[positions[best]].prompt;
            let examples = current
                .iter()
                .filter(|&&c| c != best && self.records[positions[c]].prompt != *best_prompt)
                .map(|&c| {
                    let row = (first_extra_row + c) as u32;
                    self.example_to(t, positions[best], &self.ids[positions[c]], row)
                });
            if k % holdout_every == holdout_every - 1 {
                val.extend(examples);
            } else {
                train.extend(examples);
            }
        }
        if train.is_empty() || val.is_empty() {
            bail!(
                "the environment memory gave {} train and {} validation corrector examples: build more with `vec2prompt remember --limit N`",
                train.len(),
                val.len()
            );
        }
        Ok(Built {
            train,
            val,
            extra_rows: vectors.to_vec(),
        })
    }

    /// The inverter's greedy prompts for `targets`, from `run_dir/hypotheses.json` when
    /// saved for the same targets, else decoded (with progress) and saved.
    fn hypotheses(
        &self,
        model: &LatentModel,
        targets: &[usize],
        run_dir: &Path,
        quiet: bool,
    ) -> Result<Hypotheses> {
        let path = run_dir.join("hypotheses.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let saved: Hypotheses = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            if saved.targets == targets && saved.texts.len() == targets.len() {
                // Always said: the examples of a resumed run come from this file.
                eprintln!(
                    "reusing {} inverter hypotheses from {}",
                    targets.len(),
                    path.display()
                );
                return Ok(saved);
            }
            bail!(
                "{} was made for other targets (another --limit or inverter_hypotheses): delete {} to start the corrector run over",
                path.display(),
                run_dir.display()
            );
        }
        let d = self.dim;
        let mut texts = Vec::with_capacity(targets.len());
        let mut progress = (!quiet).then(|| Progress::new("inverter hypotheses", targets.len()));
        for chunk in targets.chunks(128) {
            let conds: Vec<Vec<f32>> = chunk
                .iter()
                .map(|&i| self.outputs[i * d..(i + 1) * d].to_vec())
                .collect();
            texts.extend(model.invert_greedy_batch(&conds, HYPOTHESIS_MAX_TOKENS)?);
            if let Some(p) = progress.as_mut() {
                p.set(texts.len());
            }
        }
        if let Some(p) = &progress {
            p.finish();
        }
        let saved = Hypotheses {
            targets: targets.to_vec(),
            texts,
        };
        std::fs::create_dir_all(run_dir)?;
        vec2prompt_core::write_atomic(&path, serde_json::to_string(&saved)?.as_bytes())?;
        Ok(saved)
    }

    /// ê of each hypothesis: the surrogate's prediction from its embedding (zeros for an
    /// empty hypothesis, which gets no example).
    fn predicted_answers(
        &self,
        model: &LatentModel,
        embedder: &dyn Embedder,
        texts: &[String],
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for chunk in texts.chunks(256) {
            let nonempty: Vec<String> = chunk.iter().filter(|t| !t.is_empty()).cloned().collect();
            let mut predicted = model.predict(&embedder.embed(&nonempty)?)?.into_iter();
            for t in chunk {
                if t.is_empty() {
                    out.extend(std::iter::repeat_n(0.0, self.dim));
                    continue;
                }
                match predicted.next() {
                    Some(v) if v.len() == self.dim => out.extend(v),
                    _ => bail!("the surrogate returned no prediction for {t:?}"),
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vec2prompt_dataset::{RecordKind, Split};

    fn record(i: usize) -> Record {
        Record {
            id: i.to_string(),
            index: i,
            prompt: format!("prompt {i}"),
            output: String::new(),
            tokens: 2,
            kind: RecordKind::Instruction,
            split: Split::Train,
        }
    }

    /// Four remembered records on a 2-d circle: record r's output and real answer are
    /// set so that for target 0 the best real answer is record 1's, not its own.
    #[test]
    fn memory_feedback_asks_for_the_prompt_whose_real_answer_scored_best() {
        let records: Vec<Record> = (0..4).map(record).collect();
        let unit = |a: f32| [a.cos(), a.sin()];
        // E(output): all four targets point along angle 0, 1.5, 3.0, 4.5 rad.
        let outputs: Vec<f32> = [0.0, 1.5, 3.0, 4.5].iter().flat_map(|&a| unit(a)).collect();
        // Real answers: record 0's lands at 0.6 rad, record 1's at 0.1 rad (nearer
        // target 0 than record 0's own), the others far away.
        let vectors: Vec<f32> = [0.6, 0.1, 3.0, 4.5].iter().flat_map(|&a| unit(a)).collect();
        let ids: Vec<Vec<u32>> = (0..4).map(|i| vec![10 + i as u32]).collect();
        let train: Vec<usize> = (0..4).collect();
        let data = CorrectorData {
            records: &records,
            outputs: &outputs,
            dim: 2,
            train: &train,
            val: &[],
            ids: &ids,
            hypothesis_tokens: 8,
            max_tokens: 16,
        };
        // Every second remembered target goes to validation here.
        let built = data.from_memory(&[0, 1, 2, 3], &vectors, 2, 100).unwrap();
        assert_eq!(built.extra_rows, vectors);
        // Target 0 (train): its own prompt is the current one, record 1's is asked for.
        let own = built
            .train
            .iter()
            .find(|e| {
                e.condition
                    == Condition::Feedback {
                        target: 0,
                        current: 100,
                    }
            })
            .expect("target 0 with its own prompt as the current one");
        assert_eq!(own.prefix, vec![bpe::BOS, 10, bpe::SEP]);
        assert_eq!(own.target, vec![11, bpe::EOS]);
        // A current prompt that already is the best teaches nothing: no example has
        // record 1's prompt both as the current one and as the answer for target 0.
        assert!(!built.train.iter().any(|e| e.condition
            == Condition::Feedback {
                target: 0,
                current: 101,
            }));
        // Targets 1 and 3 (odd memory positions) are validation examples only.
        let target_of = |e: &Example| match e.condition {
            Condition::Feedback { target, .. } => target,
            Condition::Vector(_) => u32::MAX,
        };
        assert!(built.val.iter().all(|e| [1, 3].contains(&target_of(e))));
        assert!(built.train.iter().all(|e| [0, 2].contains(&target_of(e))));
        assert!(!built.val.is_empty());
    }
}
