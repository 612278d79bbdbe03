//! An English dictionary: which tokens of a prompt are real words.
//!
//! The list is SCOWL's size-50 American English word list (Debian's `wamerican`),
//! lower-cased, possessives removed, compiled into the binary (`data/english-words.txt`,
//! licence beside it), so every installation judges words the same way with no system
//! package. It serves two places: the content lexicon keeps whole dictionary words only
//! (no WordPiece fragments such as "hadn"), and the prompt-quality report counts prompts
//! that hold a non-word.

use std::collections::HashSet;
use std::sync::OnceLock;

const WORDS: &str = include_str!("../data/english-words.txt");

fn words() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| WORDS.lines().filter(|w| !w.is_empty()).collect())
}

/// Every entry of the dictionary (lower-case), in no particular order.
pub fn entries() -> impl Iterator<Item = &'static str> {
    words().iter().copied()
}

/// Number of entries in the dictionary.
pub fn len() -> usize {
    words().len()
}

/// Whether `word` (any case) is a dictionary word. Curly apostrophes count as straight
/// ones; a possessive "'s" is accepted on any dictionary word.
pub fn is_word(word: &str) -> bool {
    let w = word.to_lowercase().replace('\u{2019}', "'");
    if w.is_empty() {
        return false;
    }
    let set = words();
    if set.contains(w.as_str()) {
        return true;
    }
    match w.strip_suffix("'s").or_else(|| w.strip_suffix('\'')) {
        Some(stem) => set.contains(stem),
        None => false,
    }
}

/// The word tokens of `text`: runs of letters and inner apostrophes. Digits, punctuation
/// and symbols separate tokens; hyphenated words give their parts.
pub fn word_tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '\u{2019}'))
        .map(|t| t.trim_matches(|c| c == '\'' || c == '\u{2019}'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// The tokens of `text` that are not dictionary words. Numbers never count (they are not
/// word tokens), and neither do tokens written in capitals as a whole (acronyms such as
/// "HTML") or a token of one letter.
pub fn non_words(text: &str) -> Vec<&str> {
    word_tokens(text)
        .into_iter()
        .filter(|t| t.chars().count() > 1)
        .filter(|t| !(t.chars().all(|c| c.is_uppercase() || c == '\'')))
        .filter(|t| !is_word(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_words_pass_and_fragments_do_not() {
        assert!(len() > 50_000);
        for w in [
            "write",
            "Write",
            "gratitude",
            "hadn't",
            "hadn’t",
            "Paris",
            "teacher's",
        ] {
            assert!(is_word(w), "{w}");
        }
        for w in ["hadn", "xqzt", "", "untill"] {
            assert!(!is_word(w), "{w}");
        }
    }

    #[test]
    fn non_words_skip_numbers_acronyms_and_single_letters() {
        assert_eq!(
            non_words("Explain marathon, support, laughed and hadn."),
            vec!["hadn"]
        );
        assert!(non_words("Convert 100 km to miles in HTML, then list 3 facts: a, b.").is_empty());
        assert_eq!(
            word_tokens("well-known 'quoted' words"),
            vec!["well", "known", "quoted", "words"]
        );
    }
}
