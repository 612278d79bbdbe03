//! Deterministic vague versions of a prompt: the benchmark's task and the training data.
//!
//! A prompt of a record with an input is `instruction + "\n\n" + input`; only the
//! instruction goes vague, the input is kept as it is (see [`vague_prompt`]).
//!
//! Two families of rules, kept apart on purpose so an optimizer learns to improve prompts
//! rather than to undo one rule:
//!
//! - [`terse`], the **benchmark** rule: the instruction's leading verb and the head noun of
//!   its first clause ("Create a function that sorts a list in Python." → "create
//!   function"). It is never used to build training pairs.
//! - [`Degradation`], the **training** rules: the first three words, the two longest
//!   content words, or the instruction stripped of numbers, quotes, names and everything
//!   after its first comma.

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

/// Lower-case words of `text` with punctuation stripped from their ends.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
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
    let ws = words(first_clause);
    let Some(verb) = ws.first() else {
        return words(instruction).join(" ");
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
            words(instruction)
                .into_iter()
                .skip(1)
                .find(|w| !is_stopword(w))
        });
    match head {
        Some(h) => format!("{verb} {h}"),
        None => verb.clone(),
    }
}

/// The training rules that make a prompt vague (never the benchmark's [`terse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degradation {
    /// The first three words, lower-cased, without trailing stopwords.
    Truncate,
    /// The two longest content words, in their original order.
    Keywords,
    /// Numbers, quoted text, parentheses and capitalized names removed, cut at the first
    /// comma.
    StripSpecifics,
}

impl Degradation {
    /// Every training rule, in the order examples cycle through them.
    pub const ALL: [Degradation; 3] = [
        Degradation::Truncate,
        Degradation::Keywords,
        Degradation::StripSpecifics,
    ];

    /// The rule's name in data files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Degradation::Truncate => "truncate",
            Degradation::Keywords => "keywords",
            Degradation::StripSpecifics => "strip-specifics",
        }
    }

    /// `instruction` made vague by this rule.
    pub fn apply(&self, instruction: &str) -> String {
        match self {
            Degradation::Truncate => {
                let mut ws: Vec<String> = words(instruction).into_iter().take(3).collect();
                while ws.len() > 1 && ws.last().is_some_and(|w| is_stopword(w)) {
                    ws.pop();
                }
                ws.join(" ")
            }
            Degradation::Keywords => {
                let ws = words(instruction);
                let mut content: Vec<(usize, &String)> = ws
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| !is_stopword(w))
                    .collect();
                content.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
                let mut kept: Vec<(usize, &String)> = content.into_iter().take(2).collect();
                kept.sort_by_key(|(i, _)| *i);
                let out: Vec<&str> = kept.iter().map(|(_, w)| w.as_str()).collect();
                if out.is_empty() {
                    ws.join(" ")
                } else {
                    out.join(" ")
                }
            }
            Degradation::StripSpecifics => strip_specifics(instruction),
        }
    }
}

fn strip_specifics(instruction: &str) -> String {
    let head = instruction.split(',').next().unwrap_or(instruction);
    let mut out = String::new();
    let (mut in_quote, mut depth) = (false, 0usize);
    for c in head.chars() {
        match c {
            '"' | '“' | '”' => in_quote = !in_quote,
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if in_quote || depth > 0 => {}
            _ => out.push(c),
        }
    }
    let kept: Vec<&str> = out
        .split_whitespace()
        .enumerate()
        .filter(|(i, w)| {
            let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
            let number = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit());
            let name = *i > 0 && bare.chars().next().is_some_and(|c| c.is_uppercase());
            !bare.is_empty() && !number && !name
        })
        .map(|(_, w)| w)
        .collect();
    let text = kept.join(" ");
    let text = text.trim_end_matches(|c: char| !c.is_alphanumeric());
    if text.is_empty() {
        words(instruction).join(" ")
    } else {
        text.to_string()
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
    fn the_training_rules_differ_from_the_benchmark_rule() {
        let p = "Write a 100-word story about a \"brave\" knight named Arthur, set in winter.";
        let vague = terse(p);
        for d in Degradation::ALL {
            let v = d.apply(p);
            assert!(!v.is_empty());
            assert_ne!(v, vague, "{}", d.name());
            assert_ne!(v, p);
        }
        assert_eq!(Degradation::Truncate.apply(p), "write a 100-word");
        assert_eq!(Degradation::Keywords.apply(p), "100-word knight");
        assert_eq!(
            Degradation::StripSpecifics.apply(p),
            "Write a 100-word story about a knight named"
        );
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
        for d in Degradation::ALL {
            assert_eq!(d.apply(p), d.apply(p));
        }
    }
}
