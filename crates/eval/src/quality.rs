//! Prompt quality: clear, natural requests are half of the job, so every report row
//! measures how its chosen prompts read, beside the human prompts for the same targets.
//!
//! - **fluency**: per-token perplexity under the LLM read as plain text (no chat
//!   template), as the median over targets of the ratio to the human prompt's;
//! - **non-words**: share of prompts holding a token that is not a dictionary word
//!   (numbers, acronyms and single letters aside; word fragments such as "hadn" count);
//! - **word lists**: share whose content is a bare list of three or more words
//!   ("Explain regards, best, cheers and gratitude.");
//! - **templates**: share that is one of the five content templates ("Write about",
//!   "Write one sentence about", "Describe", "Explain", "Give tips on") around a list of
//!   words, nothing else;
//! - **length**: median ratio of the prompt's words to the human prompt's;
//! - **diversity**: distinct-2 over all chosen prompts, and the mean cosine between the
//!   prompts chosen for each target and for its nearest other target;
//! - **task kept** (reported only; the human prompt is unknown at inference): mean
//!   cos(E(pick), E(human prompt)) and the share whose leading verb is of the human
//!   prompt's class.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use vec2prompt_core::text::lower_words;
use vec2prompt_core::{cosine, dictionary};

/// Per-token perplexity of a text (None when it cannot be scored).
pub type PerplexityFn<'a> = dyn Fn(&str) -> Option<f64> + Sync + 'a;

/// The quality of one method's chosen prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptQuality {
    /// Median per-token perplexity of the prompts (None: no local LLM to score them).
    pub perplexity_median: Option<f64>,
    /// Median over targets of perplexity(pick) / perplexity(human prompt).
    pub fluency_ratio: Option<f64>,
    /// Share of prompts holding a non-word.
    pub non_word_share: f64,
    /// Share of prompts whose content is a bare list of three or more words.
    pub word_list_share: f64,
    /// Share of prompts that are a content template around a word list.
    pub template_share: f64,
    /// Median over targets of words(pick) / words(human prompt).
    pub length_ratio: f64,
    /// Distinct word bigrams over all bigrams of the chosen prompts.
    pub distinct2: f64,
    /// Mean cosine between the prompt chosen for a target and the one chosen for its
    /// nearest other target (1.0: the same prompt for near targets).
    pub near_target_similarity: f64,
    /// Mean cos(E(pick), E(human prompt)).
    pub task_cosine: f64,
    /// Share of picks whose leading verb falls in the human prompt's verb class.
    pub verb_class_match: f64,
}

/// The five fixed request forms of the content candidates.
pub const TEMPLATES: [&str; 5] = [
    "write one sentence about ",
    "write about ",
    "give tips on ",
    "describe ",
    "explain ",
];

/// The items of a list written as "a, b and c" (or "a, b, or c"), if `text` is one: each
/// item one or two alphabetic words.
fn list_items(text: &str) -> Option<Vec<String>> {
    let t = text
        .trim()
        .trim_end_matches(['.', '!', '?', ':', ';'])
        .trim();
    if t.is_empty() || t.contains('\n') {
        return None;
    }
    let mut items: Vec<String> = Vec::new();
    for part in t.split(',') {
        let part = part.trim();
        // The last comma-separated part may hold "b and c".
        let sub: Vec<&str> = part
            .split(" and ")
            .flat_map(|p| p.split(" or "))
            .map(str::trim)
            .map(|p| {
                p.strip_prefix("and ")
                    .or_else(|| p.strip_prefix("or "))
                    .unwrap_or(p)
            })
            .collect();
        for s in sub {
            if s.is_empty() {
                continue;
            }
            let n = s.split_whitespace().count();
            if n == 0 || n > 2 || !s.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-') {
                return None;
            }
            items.push(s.to_lowercase());
        }
    }
    (!items.is_empty()).then_some(items)
}

/// What follows a content template at the start of `prompt`, if it opens with one.
fn after_template(prompt: &str) -> Option<&str> {
    let lower = prompt.trim_start().to_lowercase();
    let start = prompt.len() - prompt.trim_start().len();
    TEMPLATES
        .iter()
        .find(|t| lower.starts_with(*t))
        .map(|t| &prompt[start + t.len()..])
}

/// Whether `prompt` is a content template around a list of words ("Describe confident.",
/// "Explain marathon, support and laughed.").
pub fn is_template(prompt: &str) -> bool {
    after_template(prompt).is_some_and(|rest| list_items(rest).is_some())
}

/// Whether `prompt`'s content is a bare list of three or more words: the whole prompt, or
/// what follows its leading word (a verb) and an optional "about"/"on".
pub fn is_word_list(prompt: &str) -> bool {
    let long = |items: Option<Vec<String>>| items.is_some_and(|i| i.len() >= 3);
    if long(list_items(prompt)) {
        return true;
    }
    if let Some(rest) = after_template(prompt) {
        return long(list_items(rest));
    }
    let trimmed = prompt.trim();
    let Some((_, rest)) = trimmed.split_once(' ') else {
        return false;
    };
    let rest = rest.trim_start();
    let rest = ["about ", "on ", "the "]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest);
    long(list_items(rest))
}

/// The class of a request's leading verb (or question word): prompts asking for the same
/// kind of task share a class.
pub fn verb_class(prompt: &str) -> String {
    let first = lower_words(prompt).into_iter().next().unwrap_or_default();
    let class = match first.as_str() {
        "write" | "compose" | "create" | "generate" | "draft" | "design" | "develop" | "invent"
        | "make" | "construct" | "produce" | "come" | "build" | "brainstorm" => "produce",
        "explain" | "describe" | "discuss" | "outline" | "elaborate" | "illustrate" | "tell"
        | "clarify" | "define" => "explain",
        "list" | "name" | "give" | "provide" | "suggest" | "recommend" | "offer" | "share"
        | "enumerate" => "enumerate",
        "rewrite" | "edit" | "paraphrase" | "rephrase" | "convert" | "translate" | "revise"
        | "correct" | "improve" | "change" | "transform" | "reword" | "shorten" | "expand" => {
            "rewrite"
        }
        "summarize" | "summarise" | "condense" => "summarize",
        "classify" | "categorize" | "identify" | "analyze" | "analyse" | "evaluate" | "compare"
        | "contrast" | "determine" | "detect" | "find" | "assess" | "rate" | "rank" | "sort"
        | "choose" | "select" | "decide" | "predict" | "estimate" => "analyze",
        "calculate" | "compute" | "solve" | "add" | "multiply" | "divide" | "subtract"
        | "count" => "calculate",
        "what" | "how" | "why" | "who" | "when" | "where" | "which" | "is" | "are" | "can"
        | "do" | "does" | "should" | "would" | "could" => "question",
        other => return other.to_string(),
    };
    class.to_string()
}

/// Distinct word bigrams over all bigrams of `prompts` (0 when there are none).
pub fn distinct2(prompts: &[String]) -> f64 {
    let mut all = 0usize;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for p in prompts {
        let w = lower_words(p);
        for pair in w.windows(2) {
            all += 1;
            seen.insert((pair[0].clone(), pair[1].clone()));
        }
    }
    if all == 0 {
        0.0
    } else {
        seen.len() as f64 / all as f64
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// What [`measure`] needs per target, beside the picks.
pub struct QualityInputs<'a> {
    /// The human prompt of each target.
    pub human: &'a [String],
    /// E(human prompt) per target.
    pub human_vectors: &'a [Vec<f32>],
    /// Each target's nearest other target (by e*), for the diversity measure.
    pub nearest_target: &'a [usize],
}

/// Measures one method's `picks` (one per target), with `embed_pick(i)` = E(picks[i]) and
/// `perplexity(text)` when a local LLM can score text.
pub fn measure(
    picks: &[String],
    pick_vectors: &[Vec<f32>],
    inputs: &QualityInputs<'_>,
    perplexity: Option<&PerplexityFn<'_>>,
) -> PromptQuality {
    let n = picks.len().max(1) as f64;
    let share = |f: &dyn Fn(&String) -> bool| picks.iter().filter(|p| f(p)).count() as f64 / n;
    let (perplexity_median, fluency_ratio) = match perplexity {
        Some(ppl) => {
            let own: Vec<Option<f64>> = picks.iter().map(|p| ppl(p)).collect();
            let ratios: Vec<f64> = own
                .iter()
                .zip(inputs.human)
                .filter_map(|(o, h)| Some(o.as_ref()? / ppl(h)?))
                .collect();
            (
                Some(median(own.into_iter().flatten().collect())),
                Some(median(ratios)),
            )
        }
        None => (None, None),
    };
    let length_ratio = median(
        picks
            .iter()
            .zip(inputs.human)
            .map(|(p, h)| lower_words(p).len() as f64 / lower_words(h).len().max(1) as f64)
            .collect(),
    );
    let near: Vec<f64> = inputs
        .nearest_target
        .iter()
        .enumerate()
        .filter(|(i, j)| *i != **j)
        .map(|(i, &j)| cosine(&pick_vectors[i], &pick_vectors[j]) as f64)
        .collect();
    let task: Vec<f64> = pick_vectors
        .iter()
        .zip(inputs.human_vectors)
        .map(|(p, h)| cosine(p, h) as f64)
        .collect();
    let verb = picks
        .iter()
        .zip(inputs.human)
        .filter(|(p, h)| verb_class(p) == verb_class(h))
        .count() as f64
        / n;
    PromptQuality {
        perplexity_median,
        fluency_ratio,
        non_word_share: share(&|p| !dictionary::non_words(p).is_empty()),
        word_list_share: share(&|p| is_word_list(p)),
        template_share: share(&|p| is_template(p)),
        length_ratio,
        distinct2: distinct2(picks),
        near_target_similarity: near.iter().sum::<f64>() / near.len().max(1) as f64,
        task_cosine: task.iter().sum::<f64>() / task.len().max(1) as f64,
        verb_class_match: verb,
    }
}

/// Each target's nearest other target by cosine of their vectors (itself when alone).
pub fn nearest_targets(vectors: &[Vec<f32>]) -> Vec<usize> {
    (0..vectors.len())
        .map(|i| {
            (0..vectors.len())
                .filter(|&j| j != i)
                .max_by(|&a, &b| {
                    cosine(&vectors[i], &vectors[a]).total_cmp(&cosine(&vectors[i], &vectors[b]))
                })
                .unwrap_or(i)
        })
        .collect()
}

/// A Markdown table of `rows` (method, quality).
pub fn markdown_table(rows: &[(String, PromptQuality)]) -> String {
    let mut s = String::from(
        "| method | perplexity (median) | fluency ratio | non-words | word lists | templates | length ratio | distinct-2 | near-target similarity | task kept: cos | task kept: verb class |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, q) in rows {
        let opt = |x: Option<f64>, p: usize| {
            x.filter(|v| v.is_finite())
                .map_or("–".to_string(), |v| format!("{v:.p$}"))
        };
        s.push_str(&format!(
            "| {name} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% |\n",
            opt(q.perplexity_median, 1),
            opt(q.fluency_ratio, 2),
            100.0 * q.non_word_share,
            100.0 * q.word_list_share,
            100.0 * q.template_share,
            q.length_ratio,
            q.distinct2,
            q.near_target_similarity,
            q.task_cosine,
            100.0 * q.verb_class_match,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_word_lists_are_recognised() {
        assert!(is_template("Explain marathon, support, laughed and hadn."));
        assert!(is_template("Describe confident."));
        assert!(is_template(
            "Write one sentence about rate, scope and project."
        ));
        assert!(!is_template("Explain why the sky is blue."));
        assert!(!is_template("Give three tips for staying healthy."));
        assert!(is_word_list("Explain regards, best, cheers and gratitude."));
        assert!(is_word_list("Write about sleep, eat and fruits."));
        assert!(is_word_list("apples, pears, plums"));
        assert!(!is_word_list("Describe confident."));
        assert!(!is_word_list(
            "Write a short, warm email closing that thanks the reader."
        ));
        assert!(!is_word_list("Give three tips for staying healthy."));
    }

    #[test]
    fn verb_classes_group_kinds_of_task() {
        assert_eq!(verb_class("Write a poem."), verb_class("Compose a haiku."));
        assert_eq!(verb_class("What is AI?"), "question");
        assert_ne!(
            verb_class("Explain gravity."),
            verb_class("Rewrite this sentence.")
        );
        assert_eq!(verb_class("Frobnicate it"), "frobnicate");
    }

    #[test]
    fn measures_compare_with_the_human_prompts() {
        let human = vec!["Give three tips for staying healthy.".to_string(); 2];
        let picks = vec![
            "Write about sleep, eat and fruits.".to_string(),
            "Give tips for a healthy life.".to_string(),
        ];
        let hv = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let pv = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let inputs = QualityInputs {
            human: &human,
            human_vectors: &hv,
            nearest_target: &[1, 0],
        };
        let ppl = |t: &str| Some(t.len() as f64);
        let q = measure(&picks, &pv, &inputs, Some(&ppl));
        assert_eq!(q.word_list_share, 0.5);
        assert_eq!(q.template_share, 0.5);
        assert_eq!(q.non_word_share, 0.0);
        assert_eq!(q.verb_class_match, 0.5);
        assert!((q.task_cosine - 0.5).abs() < 1e-9);
        assert!(q.near_target_similarity.abs() < 1e-9);
        assert!(q.fluency_ratio.is_some_and(|r| r < 1.0));
        assert!(q.distinct2 > 0.9);
        assert_eq!(
            nearest_targets(&[vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0]]),
            vec![1, 0, 1]
        );
    }
}
