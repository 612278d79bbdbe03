//! The old vague rule and the prompt split every raw family uses.
//!
//! A prompt of a record with an input is `instruction + "\n\n" + input`; only the
//! instruction is rewritten, the input is kept as it is (see [`vague_prompt`]).
//!
//! [`terse`] keeps the instruction's leading verb and the head noun of its first clause
//! ("Create a function that sorts a list in Python." → "create function"). The topic is
//! usually lost, so it survives only as the benchmark's labelled stress test ("topic
//! lost", see `crate::families`); real users' raw prompts are the families there.

use vec2prompt_core::text::lower_words;

/// Words that carry no content of their own (determiners, pronouns, quantifiers,
/// auxiliaries, prepositions).
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "some",
    "any",
    "each",
    "every",
    "all",
    "me",
    "my",
    "us",
    "our",
    "you",
    "your",
    "it",
    "its",
    "i",
    "we",
    "they",
    "them",
    "their",
    "of",
    "for",
    "to",
    "in",
    "on",
    "at",
    "by",
    "with",
    "from",
    "about",
    "into",
    "as",
    "and",
    "or",
    "but",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "do",
    "does",
    "did",
    "can",
    "could",
    "would",
    "should",
    "will",
    "please",
    "following",
    "given",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "few",
    "several",
    "many",
    "more",
    "most",
    "new",
    "short",
    "brief",
    "different",
    "other",
    "which",
    "what",
    "how",
    "who",
    "why",
    "when",
    "where",
    "there",
    "here",
    "so",
    "if",
    "not",
    "no",
    "up",
    "out",
];

/// Words at which the benchmark rule ends the first clause.
const CLAUSE_BREAKS: &[&str] = &[
    "that",
    "which",
    "who",
    "using",
    "with",
    "without",
    "in",
    "for",
    "to",
    "from",
    "by",
    "about",
    "on",
    "into",
    "based",
    "given",
    "so",
    "and",
    "or",
    "if",
    "when",
    "of",
    "as",
    "describing",
    "explaining",
    "showing",
    "where",
    "while",
    "between",
    "at",
];

fn is_stopword(w: &str) -> bool {
    STOPWORDS.contains(&w) || w.chars().all(|c| c.is_ascii_digit())
}

/// The instruction and the input of a composed prompt (`instruction\n\ninput`).
pub fn split_prompt(prompt: &str) -> (&str, Option<&str>) {
    match prompt.split_once("\n\n") {
        Some((instruction, input)) if !input.trim().is_empty() => (instruction, Some(input)),
        _ => (prompt, None),
    }
}

/// The benchmark's vague rule: the leading verb and the head noun (last content word) of
/// the first clause, lower-cased. When the clause holds no content word, the first
/// content word of the whole instruction stands in; a one-word instruction stays itself.
pub fn terse(instruction: &str) -> String {
    let first_clause = instruction
        .split([',', '.', ':', ';', '?', '!', '(', '"', '\n'])
        .find(|s| !s.trim().is_empty())
        .unwrap_or("");
    let ws = lower_words(first_clause);
    let Some(verb) = ws.first() else {
        return lower_words(instruction).join(" ");
    };
    let clause: Vec<&String> = ws[1..]
        .iter()
        .take_while(|w| !CLAUSE_BREAKS.contains(&w.as_str()))
        .collect();
    let head = clause
        .iter()
        .rev()
        .find(|w| !is_stopword(w))
        .map(|w| w.to_string())
        .or_else(|| {
            lower_words(instruction)
                .into_iter()
                .skip(1)
                .find(|w| !is_stopword(w))
        });
    match head {
        Some(h) => format!("{verb} {h}"),
        None => verb.clone(),
    }
}

/// `prompt` with its instruction replaced by `vague(instruction)`; an input is kept.
pub fn vague_prompt(prompt: &str, vague: impl Fn(&str) -> String) -> String {
    let (instruction, input) = split_prompt(prompt);
    let v = vague(instruction);
    match input {
        Some(input) => format!("{v}\n\n{input}"),
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_rule_keeps_verb_and_head_noun() {
        assert_eq!(
            terse("Create a function that sorts a list of integers in Python."),
            "create function"
        );
        assert_eq!(terse("Give three tips for staying healthy."), "give tips");
        assert_eq!(
            terse("Describe the structure of an atom."),
            "describe structure"
        );
        assert_eq!(terse("Summarize"), "summarize");
        assert_eq!(terse(""), "");
    }

    #[test]
    fn an_input_is_kept_and_only_the_instruction_goes_vague() {
        let p = "Translate the following sentence into French.\n\nThe cat sleeps.";
        assert_eq!(
            vague_prompt(p, terse),
            "translate sentence\n\nThe cat sleeps."
        );
        assert_eq!(split_prompt("Just one line"), ("Just one line", None));
    }

    #[test]
    fn the_rules_are_deterministic() {
        let p = "Explain why the sky is blue, in two sentences.";
        assert_eq!(terse(p), terse(p));
    }
}
