//! Feedback simulated by the real reward, for the optimizer's contrastive phase: for train
//! records whose raw prompts the training families write, the raw prompt and the
//! optimizer's own variants (never the record's instruction) are answered by the real LLM
//! and scored by cos(E(answer), E(the record's output)). The best variant is logged as a
//! success only when it beats the raw prompt's answer by the improvement margin, the worst
//! as a failure only when it falls below it by the margin; at most one of each per raw
//! prompt, and a share of the verdicts is flipped at random (seeded), as real users'
//! feedback is noisy (`source: simulated`). A rerun regenerates the same candidates and
//! writes no judgement twice.

use super::data::degrade;
use super::train::OptimizerTrainConfig;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::PathBuf;
use vec2prompt_core::embedder::embed_answers;
use vec2prompt_core::progress::Progress;
use vec2prompt_core::{Embedder, Result, answer_score};
use vec2prompt_dataset::Record;
use vec2prompt_latent::generator_decode::{DecodeOptions, Strategy};
use vec2prompt_optimizer::feedback::read_feedback;
use vec2prompt_optimizer::service::IMPROVEMENT_MARGIN;
use vec2prompt_optimizer::vague::split_prompt;
use vec2prompt_optimizer::{FeedbackLog, FeedbackRecord, PromptOptimizer, Style};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Train records to judge (a seeded order of their own, so mostly not the
    /// distillation ones).
    pub records: usize,
    /// Optimized variants per record.
    pub variants: usize,
    /// Seed of the order, the sampled variants and the flips.
    pub seed: u64,
    /// Share of verdicts flipped.
    pub flip: f64,
    /// The feedback log appended to.
    pub out: PathBuf,
}

/// The real LLM's answers to prompts, in order (a cache may stand in front of it).
pub type AnswerFn<'a> = dyn FnMut(&[String]) -> Result<Vec<String>> + 'a;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Judges the optimizer's variants for `opts.records` of the `train` records (train split
/// only) and appends the verdicts to `opts.out`. Returns (records appended, judgements
/// already in the log).
pub fn simulate(
    opts: &SimulateOptions,
    mut train: Vec<Record>,
    o: &PromptOptimizer,
    embedder: &dyn Embedder,
    answer: &mut AnswerFn,
) -> Result<(usize, usize)> {
    // The raw prompts are written by the default training families.
    let families = OptimizerTrainConfig::default().raw_families()?;
    train.shuffle(&mut rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0x5eed));
    let train: Vec<Record> = train.into_iter().take(opts.records).collect();
    let log = FeedbackLog::open(&opts.out, 256 << 20)?;
    // A rerun (after a crash, or with more records) regenerates the same candidates
    // (seeded) and finds their answers in the cache; judgements already in the log are
    // not written twice.
    let mut seen: std::collections::HashSet<(String, String, Option<bool>)> = if opts.out.exists() {
        read_feedback(&opts.out)?
            .into_iter()
            .map(|f| {
                let verdict = f.verdict();
                (f.raw_prompt, f.optimized_prompt, verdict)
            })
            .collect()
    } else {
        Default::default()
    };
    let mut b = Progress::new("simulating feedback", train.len());
    let (mut stored, mut kept) = (0usize, 0usize);
    for (i, r) in train.iter().enumerate() {
        let raw = degrade(r, families[i % families.len()]);
        let (instr, _) = split_prompt(&raw);
        let (_, input) = split_prompt(&r.prompt);
        let e = embedder.embed(&[instr.to_string()])?;
        let sample = DecodeOptions {
            strategy: Strategy::Sample {
                temperature: 0.8,
                top_p: 0.95,
                seed: opts.seed ^ i as u64,
            },
            ..DecodeOptions::default()
        };
        let mut cands = o.optimize(&raw, &e[0], Style::Precise, 1, &DecodeOptions::default())?;
        for s in o.optimize(
            &raw,
            &e[0],
            Style::Precise,
            opts.variants.saturating_sub(1),
            &sample,
        )? {
            if !cands.contains(&s) {
                cands.push(s);
            }
        }
        let full: Vec<String> = std::iter::once(raw.clone())
            .chain(cands.iter().map(|c| match input {
                Some(inp) => format!("{c}\n\n{inp}"),
                None => c.clone(),
            }))
            .collect();
        let answers = answer(&full)?;
        let vs = embed_answers(embedder, &answers)?;
        let target = embedder.embed(std::slice::from_ref(&r.output))?;
        let scored: Vec<f32> = vs.iter().map(|v| answer_score(&target[0], v)).collect();
        let (raw_reward, rewards) = (scored[0], &scored[1..]);
        let order = {
            let mut o: Vec<usize> = (0..cands.len()).collect();
            o.sort_by(|&a, &b| rewards[b].total_cmp(&rewards[a]));
            o
        };
        let margin = IMPROVEMENT_MARGIN;
        let mut verdicts = Vec::new();
        if let Some(&best) = order.first()
            && rewards[best] > raw_reward + margin
        {
            verdicts.push((best, true));
        }
        if let Some(&worst) = order.last()
            && rewards[worst] < raw_reward - margin
            && verdicts.first().is_none_or(|(b, _)| *b != worst)
        {
            verdicts.push((worst, false));
        }
        for (idx, measured_good) in verdicts {
            // Seeded noise: a real user's verdict is sometimes wrong.
            let coin = (opts.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ idx as u64)
                .wrapping_mul(0xBF58_476D_1CE4_E5B9)
                >> 11;
            let flipped = (coin as f64 / (1u64 << 53) as f64) < opts.flip;
            let good = measured_good != flipped;
            if !seen.insert((raw.clone(), cands[idx].clone(), Some(good))) {
                kept += 1;
                continue;
            }
            log.append(&FeedbackRecord {
                raw_prompt: raw.clone(),
                optimized_prompt: cands[idx].clone(),
                rating: Some(if good { 5 } else { 1 }),
                chosen: Some(good),
                comment: Some(format!(
                    "real reward {:.4} against the raw prompt's {raw_reward:.4}{}",
                    rewards[idx],
                    if flipped {
                        " (verdict flipped: simulated noise)"
                    } else {
                        ""
                    }
                )),
                style: Some(Style::Precise),
                source: Some("simulated".into()),
                received_at: Some(now_secs()),
            })?;
            stored += 1;
        }
        b.set(i + 1);
    }
    b.finish();
    Ok((stored, kept))
}
