//! Training pairs of the optimizer, from a dataset's train records (never validation or
//! test) and from feedback.
//!
//! - **precise**: the instruction written by one of the training raw families (cycling
//!   through those given; the held-out family is never among them) → the record's own
//!   instruction. A record's input stays after the vague instruction in what the optimizer
//!   reads; the optimizer writes the instruction only (the input is put back after it).
//! - **structured**: the same vague prompts → the rule-seeded structured form of the
//!   record's instruction (`vec2prompt_optimizer::structured::structured_target`).
//! - **feedback**: for each raw prompt with a successful and a failed optimized prompt,
//!   raw → the successful one, with the failed ones as InfoNCE negatives.

use super::train::Example;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use vec2prompt_core::{Embedder, Result};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_optimizer::families::RawFamily;
use vec2prompt_optimizer::feedback::FeedbackRecord;
use vec2prompt_optimizer::model::Style;
use vec2prompt_optimizer::structured::structured_target;
use vec2prompt_optimizer::vague::split_prompt;

/// A pair before embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// What the optimizer reads.
    pub raw: String,
    /// What it should write.
    pub target: String,
    /// The teacher prompt whose embedding the intent is distilled towards.
    pub teacher: String,
    /// The conversation's style.
    pub style: Style,
}

/// The raw prompt of a record written by `family`, with its input kept.
pub fn degrade(record: &Record, family: RawFamily) -> String {
    let (instruction, input) = split_prompt(&record.prompt);
    let v = family.apply(instruction);
    match input {
        Some(input) => format!("{v}\n\n{input}"),
        None => v,
    }
}

/// `precise` precise pairs and `structured` structured ones from the records of `split`
/// (train for training, validation for the validation loss), in a seeded order, their raw
/// prompts written by `families` in turn (none given: nothing).
pub fn pairs(
    records: &[Record],
    split: Split,
    precise: usize,
    structured: usize,
    families: &[RawFamily],
    seed: u64,
) -> Vec<Pair> {
    if families.is_empty() {
        return Vec::new();
    }
    let mut rows: Vec<&Record> = records.iter().filter(|r| r.split == split).collect();
    rows.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut out = Vec::with_capacity(precise + structured);
    for (i, r) in rows.iter().enumerate() {
        let style = if i < structured {
            Style::Structured
        } else if i < structured + precise {
            Style::Precise
        } else {
            break;
        };
        let raw = degrade(r, families[i % families.len()]);
        let (instruction, input) = split_prompt(&r.prompt);
        if raw.trim().is_empty() || raw.trim() == r.prompt.trim() {
            continue;
        }
        let target = match style {
            Style::Precise => instruction.trim().to_string(),
            Style::Structured => structured_target(instruction, input.is_some()),
        };
        out.push(Pair {
            raw,
            target,
            teacher: r.prompt.clone(),
            style,
        });
    }
    out
}

/// Feedback as contrastive pairs: per (raw prompt, style), every successful optimized
/// prompt is a positive, with that raw prompt's failed ones as its negatives. Raw
/// prompts with no success give nothing.
pub fn feedback_pairs(records: &[FeedbackRecord]) -> Vec<(Pair, Vec<String>)> {
    let mut by_raw: BTreeMap<(String, Style), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for f in records {
        let entry = by_raw
            .entry((f.raw_prompt.clone(), f.style.unwrap_or_default()))
            .or_default();
        match f.verdict() {
            Some(true) => entry.0.push(f.optimized_prompt.clone()),
            Some(false) => entry.1.push(f.optimized_prompt.clone()),
            None => {}
        }
    }
    let mut out = Vec::new();
    for ((raw, style), (good, bad)) in by_raw {
        for g in good {
            out.push((
                Pair {
                    raw: raw.clone(),
                    target: g.clone(),
                    teacher: g,
                    style,
                },
                bad.clone(),
            ));
        }
    }
    out
}

/// Embeds the pairs' raw prompts, teachers and negatives into [`Example`]s.
pub fn embed(
    embedder: &dyn Embedder,
    pairs: &[(Pair, Vec<String>)],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Example>> {
    let mut out = Vec::with_capacity(pairs.len());
    for (done, chunk) in pairs.chunks(64).enumerate() {
        let raws: Vec<String> = chunk.iter().map(|(p, _)| p.raw.clone()).collect();
        let teachers: Vec<String> = chunk.iter().map(|(p, _)| p.teacher.clone()).collect();
        let e_raw = embedder.embed(&raws)?;
        let e_t = embedder.embed(&teachers)?;
        for (((p, negs), r), t) in chunk.iter().zip(e_raw).zip(e_t) {
            let negatives = if negs.is_empty() {
                Vec::new()
            } else {
                embedder.embed(negs)?
            };
            out.push(Example {
                raw: p.raw.clone(),
                e_raw: r,
                target: p.target.clone(),
                e_target: t,
                style: p.style,
                negatives,
            });
        }
        progress(((done + 1) * 64).min(pairs.len()), pairs.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vec2prompt_dataset::RecordKind;

    fn record(index: usize, prompt: &str) -> Record {
        Record {
            id: index.to_string(),
            index,
            prompt: prompt.into(),
            output: "out".into(),
            tokens: 3,
            kind: RecordKind::Instruction,
            split: Split::of_index(index),
        }
    }

    #[test]
    fn pairs_come_from_one_split_with_both_styles_and_only_the_given_families() {
        let records: Vec<Record> = (0..300)
            .map(|i| {
                record(
                    i,
                    &format!("Write a detailed poem about the river number {i}, please."),
                )
            })
            .collect();
        let families = [RawFamily::Telegraphic, RawFamily::ChatSpeak];
        let train = pairs(&records, Split::Train, 20, 5, &families, 1);
        assert_eq!(train.len(), 25);
        assert_eq!(
            train
                .iter()
                .filter(|p| p.style == Style::Structured)
                .count(),
            5
        );
        for p in &train {
            let i: usize = p
                .teacher
                .split_whitespace()
                .nth(8)
                .unwrap()
                .trim_end_matches(',')
                .parse()
                .unwrap();
            assert_eq!(Split::of_index(i), Split::Train);
            assert!(
                families.iter().any(|f| p.raw == f.apply(&p.teacher)),
                "{} is not written by a given family",
                p.raw
            );
            assert_ne!(p.raw, RawFamily::Typos.apply(&p.teacher));
        }
        assert!(pairs(&records, Split::Train, 20, 5, &[], 1).is_empty());
        let val = pairs(&records, Split::Validation, 10, 0, &families, 1);
        assert_eq!(val.len(), 3, "indices 13, 113, 213");
    }
}
