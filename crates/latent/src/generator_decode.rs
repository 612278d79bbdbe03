//! Decoding the generator: greedy, beam search and seeded top-p sampling on the cached
//! forward, with the controls that keep prompts usable:
//!
//! - special tokens are masked (all but the end-of-turn id, which ends the prompt), and the
//!   end-of-turn id is masked at the first step (a prompt is never empty);
//! - a repetition penalty (CTRL-style: positive logits divided, negative multiplied) on
//!   every token already written;
//! - no repeated n-gram: a token that would complete an n-gram already in the text is
//!   banned (n = 3 by default), which makes "a person who is a person who is" impossible.
//!
//! [`is_loop`] is the loop detector used to report loop rates.

use crate::generator_model::{GenCache, GeneratorModel, Layout};
use candle_core::{Result, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A network the decoder runs: the generator's own (f32, adapters beside the frozen
/// weights, the one training differentiates) or the same function with the adapters
/// merged into an int8 model ([`crate::merged::MergedGenerator`]).
pub trait DecodeNet {
    /// The keys and values of a decoding batch.
    type Cache;

    /// Runs the context of each row of `conditions` (`B × c`) laid out by `layout` and
    /// returns the next-token logits (`B × vocab`) and a cache with room for `new_tokens`
    /// more positions.
    fn start(
        &self,
        layout: &Layout,
        conditions: &Tensor,
        new_tokens: usize,
    ) -> Result<(Tensor, Self::Cache)>;

    /// Feeds one token per row after the cached positions; returns the next logits.
    fn step(&self, ids: &[u32], cache: &mut Self::Cache) -> Result<Tensor>;

    /// Keeps (or repeats) the batch rows `rows`, in that order.
    fn select_rows(&self, cache: &mut Self::Cache, rows: &[u32]) -> Result<()>;

    /// Positions the model's context has left after those cached.
    fn context_left(&self, cache: &Self::Cache) -> usize;
}

impl DecodeNet for GeneratorModel {
    type Cache = GenCache;

    fn start(&self, layout: &Layout, conditions: &Tensor, _: usize) -> Result<(Tensor, GenCache)> {
        GeneratorModel::start(self, layout, conditions)
    }

    fn step(&self, ids: &[u32], cache: &mut GenCache) -> Result<Tensor> {
        GeneratorModel::step(self, ids, cache)
    }

    fn select_rows(&self, cache: &mut GenCache, rows: &[u32]) -> Result<()> {
        cache.select_rows(rows)
    }

    fn context_left(&self, cache: &GenCache) -> usize {
        self.base.context_length.saturating_sub(cache.len())
    }
}

/// How tokens are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The most likely token each step (one prompt per target).
    Greedy,
    /// Beam search; the `n` best finished beams by length-normalized log-probability.
    Beam {
        /// Beams kept per target.
        width: usize,
    },
    /// Seeded sampling with temperature and nucleus (top-p) truncation.
    Sample {
        /// Softmax temperature.
        temperature: f32,
        /// Nucleus mass kept.
        top_p: f32,
        /// Seed; sample `j` of target `i` has its own stream.
        seed: u64,
    },
}

/// Decoding settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodeOptions {
    /// Token choice.
    pub strategy: Strategy,
    /// Most tokens per prompt.
    pub max_tokens: usize,
    /// Ban tokens completing an n-gram already written (0: off).
    pub no_repeat_ngram: usize,
    /// Penalty on already written tokens (1: off).
    pub repetition_penalty: f32,
    /// A frame of fixed tokens the model writes between (greedy and sampled decoding);
    /// `None`: free text.
    #[serde(skip)]
    pub scaffold: Option<std::sync::Arc<Scaffold>>,
    /// With sampling: each target's first row is chosen greedy and the others sampled,
    /// all in one batch (one context pass, one forward per step); once the greedy row
    /// ends, the target's other rows write at most this many tokens more than it did.
    /// `None`: every row sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy_first: Option<usize>,
}

/// A frame of fixed tokens around the model's text: before each free span the decoder
/// writes that span's head (e.g. `"\n\nTask:"`) itself, then the model writes until it
/// ends the line, ends its turn, or has written `span_max` tokens; the line break or the
/// end of turn is not kept, the next head follows. A span is never empty (its first token
/// may be neither). The repetition controls see only the span's own tokens: a repeated
/// head ("\n-" before each list item) is never banned, and a line may restate a phrase of
/// another line cleanly rather than be pushed into misspelling it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaffold {
    /// The forced tokens before each free span, in order; none is empty.
    pub heads: Vec<Vec<u32>>,
    /// Whether a token id ends a line (its text holds a line break).
    pub line_end: Vec<bool>,
    /// Most tokens the model writes in one span.
    pub span_max: usize,
    /// Ids never written in a span, e.g. those joining text and a line break (".\n"):
    /// the line would end with its last characters lost.
    pub banned: Vec<u32>,
}

impl Scaffold {
    /// A scaffold of `heads` (none empty), the line-ending ids of the vocabulary
    /// (`line_end[id]`) and at most `span_max` (≥ 1) model tokens per span.
    pub fn new(heads: Vec<Vec<u32>>, line_end: Vec<bool>, span_max: usize) -> Result<Self> {
        if heads.is_empty() || heads.iter().any(|h| h.is_empty()) {
            candle_core::bail!("every span of a scaffold needs a head");
        }
        if span_max == 0 {
            candle_core::bail!("a scaffold's spans need room for at least one token");
        }
        Ok(Self {
            heads,
            line_end,
            span_max,
            banned: Vec::new(),
        })
    }

    /// The same scaffold, never writing `ids` in a span.
    pub fn banning(mut self, ids: Vec<u32>) -> Self {
        self.banned = ids;
        self
    }

    fn ends_line(&self, id: u32) -> bool {
        self.line_end.get(id as usize).copied().unwrap_or(false)
    }
}

/// Where one row stands in its scaffold.
#[derive(Debug, Clone, Default)]
struct Frame {
    span: usize,
    head: usize,
    free: usize,
    /// The model's own tokens in this span.
    written: Vec<u32>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Greedy,
            max_tokens: 48,
            no_repeat_ngram: 3,
            repetition_penalty: 1.2,
            scaffold: None,
            greedy_first: None,
        }
    }
}

impl DecodeOptions {
    /// The same strategy without repetition controls (to measure what they prevent).
    pub fn uncontrolled(&self) -> Self {
        Self {
            no_repeat_ngram: 0,
            repetition_penalty: 1.0,
            ..self.clone()
        }
    }
}

/// One decoded prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Token ids, without the end-of-turn id.
    pub ids: Vec<u32>,
    /// Whether the model ended the turn (false: cut at `max_tokens`, or, for a sibling of
    /// a greedy first row, at its cap).
    pub finished: bool,
    /// Sum of the chosen tokens' log-probabilities (after the controls).
    pub logprob: f64,
}

/// Masks and penalties applied to one row of logits before a token is chosen.
struct Controls<'a> {
    banned: &'a [u32],
    end: u32,
    options: &'a DecodeOptions,
    /// Asked before every forward pass; true ends the decode.
    stop: &'a dyn Fn() -> bool,
}

impl Controls<'_> {
    /// An error when the decode is to stop before its next forward pass.
    fn check(&self) -> Result<()> {
        if (self.stop)() {
            candle_core::bail!("decoding stopped: nobody waits for these prompts any more");
        }
        Ok(())
    }

    fn apply(&self, logits: &mut [f32], history: &[u32]) {
        for &b in self.banned {
            if let Some(l) = logits.get_mut(b as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if history.is_empty() {
            logits[self.end as usize] = f32::NEG_INFINITY;
        }
        let p = self.options.repetition_penalty;
        if p != 1.0 {
            let mut seen: Vec<u32> = history.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                let l = &mut logits[t as usize];
                *l = if *l > 0.0 { *l / p } else { *l * p };
            }
        }
        let n = self.options.no_repeat_ngram;
        if n > 0 && history.len() + 1 >= n {
            let tail = &history[history.len() + 1 - n..];
            for w in history.windows(n) {
                if &w[..n - 1] == tail {
                    logits[w[n - 1] as usize] = f32::NEG_INFINITY;
                }
            }
        }
    }
}

/// Log-softmax of one row in place (−inf stays −inf).
fn log_softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&l| (l - max).exp()).sum();
    let lse = max + sum.ln();
    for l in row.iter_mut() {
        *l -= lse;
    }
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Draws from log-probs `row` with temperature and top-p.
fn sample(row: &[f32], temperature: f32, top_p: f32, rng: &mut StdRng) -> u32 {
    let t = temperature.max(1e-4);
    let mut cand: Vec<(u32, f32)> = row
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l / t))
        .collect();
    if cand.is_empty() {
        return 0;
    }
    cand.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
    let max = cand[0].1;
    let probs: Vec<f32> = cand.iter().map(|c| (c.1 - max).exp()).collect();
    let total: f32 = probs.iter().sum();
    let mut kept = 0;
    let mut mass = 0.0;
    while kept < probs.len() && (kept == 0 || mass < top_p * total) {
        mass += probs[kept];
        kept += 1;
    }
    let mut r = rng.random_range(0.0..mass.max(f32::MIN_POSITIVE));
    for (c, &p) in cand.iter().zip(&probs[..kept]) {
        if r < p {
            return c.0;
        }
        r -= p;
    }
    cand[kept - 1].0
}

/// Decodes `n` prompts for each row of `conditions` (`T × c`); greedy gives one per
/// target whatever `n`. `banned` are the ids never emitted (special tokens).
pub fn decode<N: DecodeNet>(
    model: &N,
    layout: &Layout,
    conditions: &Tensor,
    n: usize,
    options: &DecodeOptions,
    banned: &[u32],
) -> Result<Vec<Vec<Decoded>>> {
    decode_until(model, layout, conditions, n, options, banned, &|| false)
}

/// Asked before each forward pass of a decode (the context's, then one per step): true
/// stops the decode there with an error, e.g. when nobody waits for its prompts any more.
pub type StopCheck = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// [`decode`] that asks `stop` before every forward pass and ends with an error as soon
/// as it says so.
pub fn decode_until<N: DecodeNet>(
    model: &N,
    layout: &Layout,
    conditions: &Tensor,
    n: usize,
    options: &DecodeOptions,
    banned: &[u32],
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Vec<Decoded>>> {
    let controls = Controls {
        banned,
        end: layout.end,
        options,
        stop,
    };
    match &options.strategy {
        Strategy::Greedy => rows(model, layout, conditions, 1, &controls, None),
        Strategy::Sample {
            temperature,
            top_p,
            seed,
        } => rows(
            model,
            layout,
            conditions,
            n,
            &controls,
            Some((*temperature, *top_p, *seed)),
        ),
        Strategy::Beam { .. } if options.scaffold.is_some() => {
            candle_core::bail!("a scaffold is decoded greedy or sampled, not with beams")
        }
        Strategy::Beam { width } => beams(model, layout, conditions, n, (*width).max(1), &controls),
    }
}

/// The next token of a row that follows `scaffold`, from its controlled log-probs
/// `row` (`None`: the scaffold is done). Returns the token and the log-prob it adds.
fn scaffold_step(
    scaffold: &Scaffold,
    frame: &mut Frame,
    mut row: Vec<f32>,
    controls: &Controls,
    choose: &mut dyn FnMut(&[f32]) -> u32,
) -> Option<(u32, f64)> {
    loop {
        let head = scaffold.heads.get(frame.span)?;
        if let Some(&t) = head.get(frame.head) {
            frame.head += 1;
            return Some((t, 0.0));
        }
        if frame.free >= scaffold.span_max {
            *frame = Frame {
                span: frame.span + 1,
                ..Frame::default()
            };
            continue;
        }
        if row.is_empty() {
            return None;
        }
        controls.apply(&mut row, &frame.written);
        for &b in &scaffold.banned {
            if let Some(l) = row.get_mut(b as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if frame.free == 0 {
            row[controls.end as usize] = f32::NEG_INFINITY;
            for (l, &e) in row.iter_mut().zip(&scaffold.line_end) {
                if e {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        log_softmax(&mut row);
        let tok = choose(&row);
        if tok == controls.end || scaffold.ends_line(tok) {
            *frame = Frame {
                span: frame.span + 1,
                ..Frame::default()
            };
            // `row` is spent: the next span starts with its head, which needs no logits.
            row = Vec::new();
            continue;
        }
        frame.free += 1;
        frame.written.push(tok);
        return Some((tok, row[tok as usize] as f64));
    }
}

/// Most tokens a decode may write: `max_tokens`, or fewer when the model's context would
/// overflow (the first token comes from the prefix's logits; each further one takes a
/// position), so a long layout ends its prompts early instead of failing.
fn room<N: DecodeNet>(model: &N, cache: &N::Cache, max_tokens: usize) -> usize {
    max_tokens.min(model.context_left(cache) + 1)
}

/// Greedy or sampled decoding: `n` independent rows per target.
fn rows<N: DecodeNet>(
    model: &N,
    layout: &Layout,
    conditions: &Tensor,
    n: usize,
    controls: &Controls,
    sampling: Option<(f32, f32, u64)>,
) -> Result<Vec<Vec<Decoded>>> {
    let targets = conditions.dim(0)?;
    if n == 0 || targets == 0 {
        return Ok(vec![Vec::new(); targets]);
    }
    let owner: Vec<u32> = (0..targets as u32)
        .flat_map(|t| std::iter::repeat_n(t, n))
        .collect();
    let mut rngs: Vec<StdRng> = (0..owner.len())
        .map(|r| {
            let seed = sampling.map_or(0, |s| s.2);
            StdRng::seed_from_u64(seed ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        })
        .collect();
    // Each target's context runs once; its rows start from copies of it.
    controls.check()?;
    let (logits, mut cache) = model.start(layout, conditions, controls.options.max_tokens)?;
    let mut logits = logits.index_select(&Tensor::new(owner.as_slice(), logits.device())?, 0)?;
    model.select_rows(&mut cache, &owner)?;
    let max_tokens = room(model, &cache, controls.options.max_tokens);
    let mut out: Vec<Decoded> = (0..owner.len())
        .map(|_| Decoded {
            ids: Vec::new(),
            finished: false,
            logprob: 0.0,
        })
        .collect();
    let mut live: Vec<usize> = (0..owner.len()).collect();
    let mut frames = vec![Frame::default(); owner.len()];
    // With a greedy first row per target: the most tokens each row may write.
    let greedy_first = sampling.and(controls.options.greedy_first);
    let mut caps = vec![max_tokens; owner.len()];
    for step in 0..max_tokens {
        let lv = logits.to_vec2::<f32>()?;
        let mut next = Vec::with_capacity(live.len());
        let mut keep = Vec::with_capacity(live.len());
        for (i, (&r, mut row)) in live.iter().zip(lv).enumerate() {
            let greedy = greedy_first.is_some() && r % n == 0;
            let mut choose = |row: &[f32]| match sampling {
                Some((t, p, _)) if !greedy => sample(row, t, p, &mut rngs[r]),
                _ => argmax(row),
            };
            let tok = match &controls.options.scaffold {
                Some(scaffold) => {
                    match scaffold_step(scaffold, &mut frames[r], row, controls, &mut choose) {
                        Some((tok, logprob)) => {
                            out[r].logprob += logprob;
                            tok
                        }
                        None => controls.end,
                    }
                }
                None => {
                    controls.apply(&mut row, &out[r].ids);
                    log_softmax(&mut row);
                    let tok = choose(&row);
                    out[r].logprob += row[tok as usize] as f64;
                    tok
                }
            };
            if tok == controls.end {
                out[r].finished = true;
                if let (true, Some(extra)) = (greedy, greedy_first) {
                    let cap = out[r].ids.len() + extra;
                    for c in &mut caps[r + 1..r + n] {
                        *c = (*c).min(cap);
                    }
                }
            } else if out[r].ids.len() >= caps[r] {
                // Cut: its greedy sibling ended long ago.
            } else {
                out[r].ids.push(tok);
                keep.push(i as u32);
                next.push(tok);
            }
        }
        if next.is_empty() || step + 1 == max_tokens {
            break;
        }
        if keep.len() < live.len() {
            model.select_rows(&mut cache, &keep)?;
            live = keep.iter().map(|&i| live[i as usize]).collect();
        }
        controls.check()?;
        logits = model.step(&next, &mut cache)?;
    }
    let mut grouped = vec![Vec::with_capacity(n); targets];
    for (r, d) in out.into_iter().enumerate() {
        grouped[owner[r] as usize].push(d);
    }
    Ok(grouped)
}

struct Beam {
    ids: Vec<u32>,
    score: f64,
}

fn normalized(d: &Decoded) -> f64 {
    d.logprob / (d.ids.len() + usize::from(d.finished)).max(1) as f64
}

/// Beam search for every target at once (all live beams share one forward per step).
fn beams<N: DecodeNet>(
    model: &N,
    layout: &Layout,
    conditions: &Tensor,
    n: usize,
    width: usize,
    controls: &Controls,
) -> Result<Vec<Vec<Decoded>>> {
    let targets = conditions.dim(0)?;
    controls.check()?;
    let (mut logits, mut cache) = model.start(layout, conditions, controls.options.max_tokens)?;
    let max_tokens = room(model, &cache, controls.options.max_tokens);
    let mut alive: Vec<Vec<Beam>> = (0..targets)
        .map(|_| {
            vec![Beam {
                ids: Vec::new(),
                score: 0.0,
            }]
        })
        .collect();
    let mut done: Vec<Vec<Decoded>> = vec![Vec::new(); targets];
    // Row `r` of the logits belongs to `rows[r] = (target, beam)`.
    let mut rows: Vec<(usize, usize)> = (0..targets).map(|t| (t, 0)).collect();
    for step in 0..max_tokens {
        let lv = logits.to_vec2::<f32>()?;
        let mut cands: Vec<Vec<(usize, u32, f64)>> = vec![Vec::new(); targets];
        for (&(t, b), mut row) in rows.iter().zip(lv) {
            let beam = &alive[t][b];
            controls.apply(&mut row, &beam.ids);
            log_softmax(&mut row);
            let mut top: Vec<(u32, f32)> = row
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(i, &l)| (i as u32, l))
                .collect();
            let k = (2 * width).min(top.len());
            if k == 0 {
                continue;
            }
            top.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            for &(tok, l) in &top[..k] {
                cands[t].push((b, tok, beam.score + l as f64));
            }
        }
        let mut next_alive: Vec<Vec<Beam>> = (0..targets).map(|_| Vec::new()).collect();
        let mut parents = Vec::new();
        let mut tokens = Vec::new();
        let mut next_rows = Vec::new();
        let last = step + 1 == max_tokens;
        for t in 0..targets {
            let mut c = std::mem::take(&mut cands[t]);
            c.sort_by(|a, b| b.2.total_cmp(&a.2));
            for (b, tok, score) in c {
                if done[t].len() >= width || next_alive[t].len() >= width {
                    break;
                }
                let parent = &alive[t][b];
                if tok == controls.end {
                    done[t].push(Decoded {
                        ids: parent.ids.clone(),
                        finished: true,
                        logprob: score,
                    });
                    continue;
                }
                let mut ids = parent.ids.clone();
                ids.push(tok);
                if last {
                    done[t].push(Decoded {
                        ids,
                        finished: false,
                        logprob: score,
                    });
                    continue;
                }
                let row = rows.iter().position(|&r| r == (t, b)).unwrap_or(0);
                parents.push(row as u32);
                tokens.push(tok);
                next_rows.push((t, next_alive[t].len()));
                next_alive[t].push(Beam { ids, score });
            }
            if done[t].len() >= width {
                // This target is finished: drop its beams from the batch.
                let keep: Vec<usize> = next_rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.0 != t)
                    .map(|(i, _)| i)
                    .collect();
                parents = keep.iter().map(|&i| parents[i]).collect();
                tokens = keep.iter().map(|&i| tokens[i]).collect();
                next_rows = keep.iter().map(|&i| next_rows[i]).collect();
                next_alive[t].clear();
            }
        }
        alive = next_alive;
        rows = next_rows;
        if tokens.is_empty() {
            break;
        }
        model.select_rows(&mut cache, &parents)?;
        controls.check()?;
        logits = model.step(&tokens, &mut cache)?;
    }
    Ok(done
        .into_iter()
        .map(|mut d| {
            d.sort_by(|a, b| normalized(b).total_cmp(&normalized(a)));
            d.truncate(n);
            d
        })
        .collect())
}

/// Whether a prompt loops: some run of four words occurs twice (after lower-casing and
/// stripping punctuation), as in "a person who is a person who is".
pub fn is_loop(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut seen = std::collections::HashSet::new();
    words.windows(4).any(|w| !seen.insert(w.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_detector_flags_repeats_only() {
        assert!(is_loop("Describe a person who is a person who is kind."));
        assert!(!is_loop("Describe a person who is kind and generous."));
        assert!(!is_loop(""));
    }

    #[test]
    fn controls_mask_specials_penalize_and_block_ngrams() {
        let options = DecodeOptions::default();
        let c = Controls {
            banned: &[0],
            end: 1,
            options: &options,
            stop: &|| false,
        };
        let mut l = vec![5.0f32, 5.0, 2.0, -2.0, 1.0, 1.0];
        c.apply(&mut l, &[]);
        assert_eq!(l[0], f32::NEG_INFINITY, "special masked");
        assert_eq!(l[1], f32::NEG_INFINITY, "no empty prompt");
        let mut l = vec![5.0f32, 5.0, 2.0, -2.0, 1.0, 1.0];
        // History 2 3 4 2 3: the next 4 would repeat the 3-gram "2 3 4".
        c.apply(&mut l, &[2, 3, 4, 2, 3]);
        assert_eq!(l[4], f32::NEG_INFINITY);
        assert!(l[1].is_finite(), "the end of turn stays allowed");
        assert!((l[2] - 2.0 / 1.2).abs() < 1e-6 && (l[3] + 2.4).abs() < 1e-6);
        assert_eq!(l[5], 1.0);
    }

    /// A net whose logits are the same every step: `pref` for every row.
    struct Fixed {
        pref: Vec<f32>,
    }

    impl DecodeNet for Fixed {
        type Cache = usize;

        fn start(&self, _: &Layout, c: &Tensor, _: usize) -> Result<(Tensor, usize)> {
            let rows = c.dim(0)?;
            Ok((self.logits(rows)?, rows))
        }

        fn step(&self, ids: &[u32], cache: &mut usize) -> Result<Tensor> {
            *cache = ids.len();
            self.logits(ids.len())
        }

        fn select_rows(&self, cache: &mut usize, rows: &[u32]) -> Result<()> {
            *cache = rows.len();
            Ok(())
        }

        fn context_left(&self, _: &usize) -> usize {
            1000
        }
    }

    impl Fixed {
        fn logits(&self, rows: usize) -> Result<Tensor> {
            let flat: Vec<f32> = (0..rows).flat_map(|_| self.pref.clone()).collect();
            Tensor::from_vec(flat, (rows, self.pref.len()), &candle_core::Device::Cpu)
        }
    }

    fn scaffolded(pref: Vec<f32>, span_max: usize, plain: bool) -> Vec<Decoded> {
        // Ids: 0 special, 1 end of turn, 2 a line break, 3 to 5 words.
        let line_end = vec![false, false, true, false, false, false];
        let mut options = DecodeOptions {
            max_tokens: 32,
            scaffold: Some(std::sync::Arc::new(
                Scaffold::new(vec![vec![4], vec![5]], line_end, span_max).unwrap(),
            )),
            ..DecodeOptions::default()
        };
        if plain {
            options = options.uncontrolled();
        }
        let layout = Layout {
            prefix: vec![],
            suffix: vec![],
            end: 1,
        };
        let c = Tensor::zeros((1, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        decode(&Fixed { pref }, &layout, &c, 1, &options, &[0])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_greedy_first_row_is_the_greedy_decode_and_caps_its_siblings() {
        // Ids: 0 special, 1 end of turn (most likely once something is written), 2 to 5
        // words.
        let net = Fixed {
            pref: vec![0.0, 3.0, 0.5, 2.0, 1.9, 1.8],
        };
        let layout = Layout {
            prefix: vec![],
            suffix: vec![],
            end: 1,
        };
        let cond = |rows: usize| {
            Tensor::zeros(
                (rows, 2),
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )
            .unwrap()
        };
        let greedy = DecodeOptions {
            max_tokens: 30,
            ..DecodeOptions::default()
        }
        .uncontrolled();
        let alone = decode(&net, &layout, &cond(1), 1, &greedy, &[0]).unwrap()[0][0].clone();
        assert_eq!(alone.ids, vec![3], "a word, then the end of turn");
        let sampled = DecodeOptions {
            strategy: Strategy::Sample {
                temperature: 8.0,
                top_p: 1.0,
                seed: 3,
            },
            ..greedy.clone()
        };
        let mixed = DecodeOptions {
            greedy_first: Some(2),
            ..sampled.clone()
        };
        let out = decode(&net, &layout, &cond(2), 6, &mixed, &[0]).unwrap();
        assert_eq!(out.len(), 2);
        for target in &out {
            assert_eq!(target.len(), 6);
            assert_eq!(target[0], alone, "the first row is the greedy decode");
            assert!(
                target[1..]
                    .iter()
                    .all(|d| d.ids.len() <= alone.ids.len() + 2),
                "{target:?}"
            );
        }
        // The same sampled rows without the cap run longer.
        let free = decode(&net, &layout, &cond(2), 6, &sampled, &[0]).unwrap();
        assert!(
            free.iter()
                .flatten()
                .any(|d| d.ids.len() > alone.ids.len() + 2),
            "{free:?}"
        );
    }

    #[test]
    fn a_scaffold_writes_every_head_and_never_an_empty_span() {
        // The model wants to end the line at once; the first token of a span may not, so it
        // writes a word, then ends the line: the next head follows, and after the last span
        // the prompt is done.
        let d = scaffolded(vec![9.0, 8.0, 10.0, 5.0, 0.0, 0.0], 8, false);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].ids, vec![4, 3, 5, 3]);
        assert!(d[0].finished);
        // A model that never ends a line is cut at `span_max` tokens per span.
        let d = scaffolded(vec![0.0, -1.0, -1.0, 5.0, 0.0, 0.0], 2, true);
        assert_eq!(d[0].ids, vec![4, 3, 3, 5, 3, 3]);
        // Its end of turn closes a span like a line break does.
        let d = scaffolded(vec![0.0, 10.0, -1.0, 5.0, 0.0, 0.0], 8, true);
        assert_eq!(d[0].ids, vec![4, 3, 5, 3]);
    }

    #[test]
    fn a_scaffold_needs_heads_and_room_and_no_beams() {
        assert!(Scaffold::new(vec![], vec![], 4).is_err());
        assert!(Scaffold::new(vec![vec![1], vec![]], vec![], 4).is_err());
        assert!(Scaffold::new(vec![vec![1]], vec![], 0).is_err());
        let options = DecodeOptions {
            strategy: Strategy::Beam { width: 2 },
            scaffold: Some(std::sync::Arc::new(
                Scaffold::new(vec![vec![4]], vec![false; 6], 4).unwrap(),
            )),
            ..DecodeOptions::default()
        };
        let layout = Layout {
            prefix: vec![],
            suffix: vec![],
            end: 1,
        };
        let c = Tensor::zeros((1, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let net = Fixed { pref: vec![0.0; 6] };
        assert!(decode(&net, &layout, &c, 1, &options, &[0]).is_err());
    }
}
