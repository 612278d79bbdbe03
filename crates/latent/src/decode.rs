//! Decoding prompts from a conditional decoder: greedy, beam search, and seeded sampling.
//! Sequences are short (≤ the decoder's max tokens), so every step recomputes the whole
//! sequence instead of keeping a cache.

use crate::bpe::EOS;
use crate::decoder::{ConditionalDecoder, condition_tensor, ids_tensor};
use candle_core::{Device, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How to pick tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// The most likely token each step (beam search of width 1).
    Greedy,
    /// Beam search keeping `width` hypotheses.
    Beam {
        /// Hypotheses kept per step.
        width: usize,
    },
    /// `n` independent samples at `temperature` from the top-p nucleus, seeded.
    Sample {
        /// Number of samples.
        n: usize,
        /// Softmax temperature.
        temperature: f32,
        /// Nucleus mass.
        top_p: f32,
        /// Seed.
        seed: u64,
    },
}

/// A decoded continuation: its tokens (without the start and EOS) and mean log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Generated ids.
    pub ids: Vec<u32>,
    /// Mean log-probability per generated token (EOS included).
    pub score: f32,
}

/// Continues `start` under `condition` for at most `max_new` tokens.
pub fn decode(
    decoder: &ConditionalDecoder,
    condition: &[f32],
    start: &[u32],
    strategy: Strategy,
    max_new: usize,
) -> Result<Vec<Decoded>> {
    let room = decoder.config().max_tokens.saturating_sub(start.len());
    let max_new = max_new.min(room);
    match strategy {
        Strategy::Greedy => beam(decoder, condition, start, 1, max_new),
        Strategy::Beam { width } => beam(decoder, condition, start, width.max(1), max_new),
        Strategy::Sample {
            n,
            temperature,
            top_p,
            seed,
        } => sample(
            decoder,
            condition,
            start,
            n.max(1),
            temperature,
            top_p,
            seed,
            max_new,
        ),
    }
}

fn beam(
    decoder: &ConditionalDecoder,
    condition: &[f32],
    start: &[u32],
    width: usize,
    max_new: usize,
) -> Result<Vec<Decoded>> {
    let mut out = beam_batch(decoder, &[condition.to_vec()], start, width, max_new)?;
    Ok(out.pop().unwrap_or_default())
}

/// One condition's beam search in progress.
struct BeamState {
    /// (sequence, summed log-probability)
    beams: Vec<(Vec<u32>, f32)>,
    finished: Vec<Decoded>,
    done: bool,
    /// Length of this condition's start.
    start: usize,
    /// Most tokens this condition may add.
    max_new: usize,
}

/// [`Strategy::Beam`] for many conditions at once: every condition's beams are decoded in
/// one batch per step (a condition leaves when its search ends), with the same result per
/// condition as a one-condition beam search. Returns each condition's hypotheses, best
/// length-normalized score first.
pub fn beam_batch(
    decoder: &ConditionalDecoder,
    conditions: &[Vec<f32>],
    start: &[u32],
    width: usize,
    max_new: usize,
) -> Result<Vec<Vec<Decoded>>> {
    let starts = vec![start.to_vec(); conditions.len()];
    beam_batch_from(decoder, conditions, &starts, width, max_new)
}

/// [`beam_batch`] where condition `i` continues its own start `starts[i]` (e.g. the
/// corrector, whose start holds each target's current prompt). Rows of equal length share
/// a forward pass each step, so conditions whose starts have the same length decode
/// together; each condition's result is what a one-condition beam search gives.
pub fn beam_batch_from(
    decoder: &ConditionalDecoder,
    conditions: &[Vec<f32>],
    starts: &[Vec<u32>],
    width: usize,
    max_new: usize,
) -> Result<Vec<Vec<Decoded>>> {
    if starts.len() != conditions.len() {
        candle_core::bail!(
            "{} starts for {} conditions",
            starts.len(),
            conditions.len()
        );
    }
    let device = Device::Cpu;
    let width = width.max(1);
    let normalized = |sum: f32, len: usize| sum / len.max(1) as f32;
    let mut states: Vec<BeamState> = starts
        .iter()
        .map(|start| BeamState {
            beams: vec![(start.clone(), 0.0)],
            finished: Vec::new(),
            done: false,
            start: start.len(),
            max_new: max_new.min(decoder.config().max_tokens.saturating_sub(start.len())),
        })
        .collect();
    let longest = states.iter().map(|st| st.max_new).max().unwrap_or(0);
    for step in 0..longest {
        // A condition whose room is used up keeps its beams as they are.
        for st in states.iter_mut().filter(|st| step >= st.max_new) {
            st.done = true;
        }
        // Rows of every live condition's beams, in condition order.
        let mut owners: Vec<(usize, usize)> = Vec::new();
        for (c, st) in states.iter().enumerate().filter(|(_, st)| !st.done) {
            owners.extend((0..st.beams.len()).map(|b| (c, b)));
        }
        if owners.is_empty() {
            break;
        }
        // One forward pass per row length.
        let mut lp: Vec<Vec<f32>> = vec![Vec::new(); owners.len()];
        let mut lengths: Vec<usize> = owners
            .iter()
            .map(|&(c, b)| states[c].beams[b].0.len())
            .collect();
        lengths.sort_unstable();
        lengths.dedup();
        for len in lengths {
            let group: Vec<usize> = (0..owners.len())
                .filter(|&i| states[owners[i].0].beams[owners[i].1].0.len() == len)
                .collect();
            let conds: Vec<Vec<f32>> = group
                .iter()
                .map(|&i| conditions[owners[i].0].clone())
                .collect();
            let rows: Vec<Vec<u32>> = group
                .iter()
                .map(|&i| states[owners[i].0].beams[owners[i].1].0.clone())
                .collect();
            let out = decoder
                .next_logprobs(
                    &condition_tensor(&conds, &device)?,
                    &ids_tensor(&rows, &device)?,
                )?
                .to_vec2::<f32>()?;
            for (i, row) in group.into_iter().zip(out) {
                lp[i] = row;
            }
        }
        let mut at = 0;
        for st in states.iter_mut().filter(|st| !st.done) {
            let n = st.beams.len();
            let mut cands: Vec<(usize, u32, f32)> = Vec::new();
            for (b, row) in lp[at..at + n].iter().enumerate() {
                let mut top: Vec<(u32, f32)> = row
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (i as u32, v))
                    .collect();
                let k = width.min(top.len());
                top.select_nth_unstable_by(k.saturating_sub(1), |a, b| b.1.total_cmp(&a.1));
                for &(tok, v) in &top[..k] {
                    cands.push((b, tok, st.beams[b].1 + v));
                }
            }
            at += n;
            cands.sort_by(|a, b| b.2.total_cmp(&a.2));
            let mut next = Vec::new();
            for (b, tok, score) in cands {
                let len = step + 1;
                if tok == EOS {
                    st.finished.push(Decoded {
                        ids: st.beams[b].0[st.start..].to_vec(),
                        score: normalized(score, len),
                    });
                } else if next.len() < width {
                    let mut seq = st.beams[b].0.clone();
                    seq.push(tok);
                    next.push((seq, score));
                }
                if next.len() >= width && st.finished.len() >= width {
                    break;
                }
            }
            if st.finished.len() >= width || next.is_empty() {
                st.done = true;
            } else {
                st.beams = next;
            }
        }
    }
    Ok(states
        .into_iter()
        .map(|st| {
            let mut finished = st.finished;
            if finished.is_empty() {
                // Ran out of room: return the unfinished beams as they are.
                finished = st
                    .beams
                    .into_iter()
                    .map(|(seq, s)| Decoded {
                        score: normalized(s, seq.len() - st.start),
                        ids: seq[st.start..].to_vec(),
                    })
                    .collect();
            }
            finished.sort_by(|a, b| b.score.total_cmp(&a.score));
            finished.dedup_by(|a, b| a.ids == b.ids);
            finished.truncate(width);
            finished
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn sample(
    decoder: &ConditionalDecoder,
    condition: &[f32],
    start: &[u32],
    n: usize,
    temperature: f32,
    top_p: f32,
    seed: u64,
    max_new: usize,
) -> Result<Vec<Decoded>> {
    let mut out = sample_batch(
        decoder,
        &[condition.to_vec()],
        start,
        n,
        temperature,
        top_p,
        &[seed],
        max_new,
    )?;
    Ok(out.pop().unwrap_or_default())
}

/// [`Strategy::Sample`] for many conditions at once: `n` seeded samples per condition
/// (condition `i` uses `seeds[i]`, exactly as a one-condition call with that seed would),
/// all decoded in one batch, so many targets share each forward pass. A finished row
/// leaves the batch. Returns each condition's samples, best mean log-probability first.
#[allow(clippy::too_many_arguments)]
pub fn sample_batch(
    decoder: &ConditionalDecoder,
    conditions: &[Vec<f32>],
    start: &[u32],
    n: usize,
    temperature: f32,
    top_p: f32,
    seeds: &[u64],
    max_new: usize,
) -> Result<Vec<Vec<Decoded>>> {
    if seeds.len() != conditions.len() {
        candle_core::bail!("{} seeds for {} conditions", seeds.len(), conditions.len());
    }
    let device = Device::Cpu;
    let room = decoder.config().max_tokens.saturating_sub(start.len());
    let max_new = max_new.min(room);
    let n = n.max(1);
    let mut rngs: Vec<StdRng> = seeds.iter().map(|&s| StdRng::seed_from_u64(s)).collect();
    // Row r belongs to condition r / n.
    let total = conditions.len() * n;
    let mut rows: Vec<Vec<u32>> = vec![start.to_vec(); total];
    let mut sums = vec![0f32; total];
    let mut active: Vec<usize> = (0..total).collect();
    for _ in 0..max_new {
        if active.is_empty() {
            break;
        }
        let conds: Vec<Vec<f32>> = active.iter().map(|&r| conditions[r / n].clone()).collect();
        let ids: Vec<Vec<u32>> = active.iter().map(|&r| rows[r].clone()).collect();
        let lp = decoder
            .next_logprobs(
                &condition_tensor(&conds, &device)?,
                &ids_tensor(&ids, &device)?,
            )?
            .to_vec2::<f32>()?;
        let mut still = Vec::with_capacity(active.len());
        for (&r, row) in active.iter().zip(&lp) {
            let pick = nucleus_pick(row, temperature, top_p, &mut rngs[r / n]);
            sums[r] += row[pick as usize];
            rows[r].push(pick);
            if pick != EOS {
                still.push(r);
            }
        }
        active = still;
    }
    let mut out: Vec<Vec<Decoded>> = (0..conditions.len()).map(|_| Vec::new()).collect();
    for (r, (seq, s)) in rows.into_iter().zip(sums).enumerate() {
        let produced: Vec<u32> = seq[start.len()..]
            .iter()
            .copied()
            .take_while(|&t| t != EOS)
            .collect();
        let len = produced.len() + 1;
        out[r / n].push(Decoded {
            ids: produced,
            score: s / len as f32,
        });
    }
    for o in &mut out {
        o.sort_by(|a, b| b.score.total_cmp(&a.score));
        o.dedup_by(|a, b| a.ids == b.ids);
    }
    Ok(out)
}

/// One token drawn from the top-p nucleus of `logprobs` at `temperature`.
fn nucleus_pick(logprobs: &[f32], temperature: f32, top_p: f32, rng: &mut StdRng) -> u32 {
    let mut probs: Vec<(u32, f32)> = logprobs
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u32, v / temperature.max(1e-3)))
        .collect();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let max = probs[0].1;
    let mut mass = 0f32;
    let mut nucleus = Vec::new();
    let total: f32 = probs.iter().map(|p| (p.1 - max).exp()).sum();
    for &(tok, v) in &probs {
        let p = (v - max).exp() / total;
        nucleus.push((tok, p));
        mass += p;
        if mass >= top_p {
            break;
        }
    }
    let mut u = rng.random::<f32>() * mass;
    let mut pick = nucleus[0].0;
    for &(tok, p) in &nucleus {
        if u <= p {
            pick = tok;
            break;
        }
        u -= p;
    }
    pick
}
