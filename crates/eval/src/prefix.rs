//! Would a shorter answer rank candidates as the full one does?
//!
//! A search measures each candidate by the similarity of its real answer to the target.
//! If the first `N` tokens of the answers ordered the candidates as the full answers do,
//! the search could answer more candidates in the same time with `N` new tokens each and
//! measure only its pick in full. Greedy decoding writes the same first `N` tokens whatever
//! the token limit, so the prefix of a cached full answer is the answer a limit of `N`
//! would give (up to how the answer's text re-tokenizes): the study needs no new LLM call.

use crate::stats;
use serde::{Deserialize, Serialize};
use vec2prompt_core::{Embedder, Result, cosine};

/// The first `n` tokens of an answer, as text (the LLM's tokenizer).
pub type PrefixFn<'a> = dyn Fn(&str, usize) -> Result<String> + Sync + 'a;

/// How the answers cut to `tokens` rank one target's candidates, against their full
/// answers, averaged over targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixRanking {
    /// Tokens kept of each answer.
    pub tokens: usize,
    /// Targets counted (those whose full scores are not all equal).
    pub targets: usize,
    /// Candidates per target.
    pub candidates: usize,
    /// Share of the answers longer than `tokens` (the others are unchanged by the cut).
    pub cut: f64,
    /// Mean Spearman correlation of the cut answers' scores with the full answers'.
    pub spearman: f64,
    /// Share of targets whose best candidate by the cut answers is the best by the full.
    pub same_best: f64,
    /// Mean full score lost by picking the best cut answer instead of the best full one.
    pub regret: f64,
}

/// One target's candidates: each full answer with its full score.
pub struct Candidates<'a> {
    /// The target vector.
    pub target: &'a [f32],
    /// `(answer, score of the full answer)` per candidate.
    pub answers: Vec<(String, f64)>,
}

/// The study for each length in `tokens`.
pub fn prefix_rankings(
    groups: &[Candidates<'_>],
    tokens: &[usize],
    prefix: &PrefixFn<'_>,
    embedder: &dyn Embedder,
) -> Result<Vec<PrefixRanking>> {
    let mut out = Vec::new();
    let candidates = groups.iter().map(|g| g.answers.len()).max().unwrap_or(0);
    for &n in tokens {
        let (mut spearman, mut same, mut regret, mut counted) = (0.0, 0usize, 0.0, 0usize);
        let (mut cut, mut answers) = (0usize, 0usize);
        for g in groups {
            let texts: Vec<String> = g
                .answers
                .iter()
                .map(|(a, _)| prefix(a, n))
                .collect::<Result<_>>()?;
            cut += g
                .answers
                .iter()
                .zip(&texts)
                .filter(|((a, _), t)| a.trim() != t.trim())
                .count();
            answers += texts.len();
            let vectors = embedder.embed(&texts)?;
            let short: Vec<f64> = vectors
                .iter()
                .zip(&texts)
                // An empty answer scores 0, as in the leaderboard.
                .map(|(v, t)| {
                    if t.trim().is_empty() {
                        0.0
                    } else {
                        cosine(g.target, v) as f64
                    }
                })
                .collect();
            let full: Vec<f64> = g.answers.iter().map(|(_, s)| *s).collect();
            let Some(rho) = stats::spearman(&short, &full) else {
                continue;
            };
            spearman += rho;
            let best = |v: &[f64]| {
                (0..v.len())
                    .max_by(|&a, &b| v[a].total_cmp(&v[b]))
                    .unwrap_or(0)
            };
            let (by_short, by_full) = (best(&short), best(&full));
            same += usize::from(by_short == by_full);
            regret += full[by_full] - full[by_short];
            counted += 1;
        }
        let per = counted.max(1) as f64;
        out.push(PrefixRanking {
            tokens: n,
            targets: counted,
            candidates,
            cut: cut as f64 / answers.max(1) as f64,
            spearman: spearman / per,
            same_best: same as f64 / per,
            regret: regret / per,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vec2prompt_core::EmbedderInfo;

    /// Embeds a text as (count of "a", count of "b"): answers that say "a" early point
    /// towards the target (1, 0).
    struct Letters(EmbedderInfo);

    impl Embedder for Letters {
        fn info(&self) -> &EmbedderInfo {
            &self.0
        }
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|t| {
                    let count = |c: char| t.chars().filter(|&x| x == c).count() as f32;
                    vec![count('a') + 0.01, count('b') + 0.01]
                })
                .collect())
        }
    }

    fn words(text: &str, n: usize) -> Result<String> {
        Ok(text
            .split_whitespace()
            .take(n)
            .collect::<Vec<_>>()
            .join(" "))
    }

    #[test]
    fn a_cut_that_keeps_the_order_scores_one_and_one_that_reverses_it_scores_minus_one() {
        let embedder = Letters(EmbedderInfo {
            name: "letters".into(),
            dimension: 2,
            pooling: vec2prompt_core::Pooling::Mean,
            normalized: false,
            max_tokens: 64,
        });
        let target = [1.0f32, 0.0];
        let full = |answer: &str| {
            let v = embedder.embed(&[answer.to_string()]).unwrap();
            cosine(&target, &v[0]) as f64
        };
        // Each answer's first two words already decide its full score's order.
        let same = ["a a b", "a b b", "b b b"];
        // The first word says the opposite of the whole answer.
        let reversed = ["b a a a a", "a b b b b"];
        let group = |texts: &[&str]| Candidates {
            target: &target,
            answers: texts.iter().map(|t| (t.to_string(), full(t))).collect(),
        };
        let r = prefix_rankings(&[group(&same)], &[2, 10], &words, &embedder).unwrap();
        assert_eq!(r[0].tokens, 2);
        assert!((r[0].spearman - 1.0).abs() < 1e-9 && r[0].same_best == 1.0);
        assert_eq!(r[0].regret, 0.0);
        assert!((r[0].cut - 1.0).abs() < 1e-9);
        // Ten words keep every answer whole: nothing is cut.
        assert_eq!(r[1].cut, 0.0);
        assert!((r[1].spearman - 1.0).abs() < 1e-9);
        let r = prefix_rankings(&[group(&reversed)], &[1], &words, &embedder).unwrap();
        assert!((r[0].spearman + 1.0).abs() < 1e-9 && r[0].same_best == 0.0);
        assert!(r[0].regret > 0.1, "{r:?}");
    }
}
