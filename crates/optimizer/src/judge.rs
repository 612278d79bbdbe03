//! Judgements of a rewrite that need no reference: did it keep the user's intent, and is
//! the answer it got healthy?

use crate::families::{content_words, word_present};
use serde::Serialize;
use vec2prompt_core::text::lower_words;

/// Words a rewrite may add without changing what is asked: request verbs, forms, counts
/// and qualities of an answer. Any other new content word counts as drift.
pub const FORMAT_WORDS: &[&str] = &[
    "write",
    "explain",
    "describe",
    "list",
    "give",
    "provide",
    "create",
    "generate",
    "summarize",
    "summarise",
    "answer",
    "tell",
    "make",
    "show",
    "name",
    "identify",
    "suggest",
    "offer",
    "include",
    "use",
    "using",
    "keep",
    "detailed",
    "details",
    "detail",
    "clear",
    "clearly",
    "concise",
    "concisely",
    "short",
    "brief",
    "briefly",
    "simple",
    "simply",
    "specific",
    "step",
    "steps",
    "example",
    "examples",
    "sentence",
    "sentences",
    "paragraph",
    "paragraphs",
    "words",
    "word",
    "points",
    "point",
    "bullet",
    "bullets",
    "format",
    "style",
    "tone",
    "response",
    "question",
    "one",
    "two",
    "three",
    "four",
    "five",
    "few",
    "several",
    "main",
    "key",
    "important",
    "each",
    "what",
    "how",
    "why",
    "who",
    "when",
    "where",
    "which",
    "not",
    "no",
    "it",
    "them",
    "please",
    "following",
    "text",
    "below",
];

/// Whether `rewrite` drifts from `raw`'s intent: a content word of the raw prompt is
/// missing (stemmed; a misspelling counts as kept when its correction is there, within
/// edit distance 2), or a content word appears that is in neither the raw prompt nor
/// [`FORMAT_WORDS`]. With no part-of-speech tagger, every added content word counts, not
/// only nouns: stricter than a noun-only rule.
pub fn drifts(raw: &str, rewrite: &str) -> bool {
    let raw_words = content_words(raw);
    let new_words = content_words(rewrite);
    let dropped = raw_words.iter().any(|w| !word_present(w, &new_words));
    let added = new_words.iter().any(|w| {
        !FORMAT_WORDS.contains(&w.as_str())
            && !w.chars().all(|c| c.is_ascii_digit())
            && !word_present(w, &raw_words)
    });
    dropped || added
}

/// What is wrong with an answer, if anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// No visible text.
    pub empty: bool,
    /// Repeats itself: fewer than half of its word 4-grams are distinct.
    pub looping: bool,
    /// Declines the request ("I'm sorry, but I can't …").
    pub refusal: bool,
    /// Opens by repeating the prompt word for word.
    pub echo: bool,
}

impl Health {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        !(self.empty || self.looping || self.refusal || self.echo)
    }
}

/// Judges the `answer` the LLM gave to `prompt`.
pub fn answer_health(prompt: &str, answer: &str) -> Health {
    let words = lower_words(answer);
    let grams: Vec<&[String]> = words.windows(4).collect();
    let distinct: std::collections::HashSet<&[String]> = grams.iter().copied().collect();
    let looping = grams.len() >= 20 && (distinct.len() as f64) < 0.5 * grams.len() as f64;
    let start: String = words.iter().take(12).cloned().collect::<Vec<_>>().join(" ");
    let refusal = [
        "i'm sorry",
        "i am sorry",
        "i cannot",
        "i can't",
        "i can not",
        "as an ai",
        "i'm unable",
        "i am unable",
        "i apologize",
    ]
    .iter()
    .any(|r| start.starts_with(&r.replace('\'', "")) || start.starts_with(r));
    let prompt_words = lower_words(prompt);
    let echo = prompt_words.len() >= 3
        && words.len() >= prompt_words.len()
        && words[..prompt_words.len()] == prompt_words[..];
    Health {
        empty: words.is_empty(),
        looping,
        refusal,
        echo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_counts_dropped_and_added_topics() {
        let raw = "give tips staying helathy";
        assert!(!drifts(raw, "Give three clear tips for staying healthy."));
        assert!(drifts(raw, "Give tips for sleeping well."));
        assert!(drifts(
            raw,
            "Give tips for staying healthy while travelling."
        ));
    }

    #[test]
    fn health_flags_each_fault() {
        assert!(answer_health("hi", "").empty);
        let looped = "the cat sat on the mat ".repeat(10);
        assert!(answer_health("x", &looped).looping);
        assert!(answer_health("x", "I'm sorry, but I can't help with that.").refusal);
        assert!(answer_health("Describe the sea.", "Describe the sea. The sea is wide.").echo);
        let fine = answer_health(
            "Describe the sea.",
            "The sea is wide and deep, and full of life.",
        );
        assert!(fine.ok());
    }
}
