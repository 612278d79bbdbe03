//! Raw prompts as real users write them, made deterministically from an instruction.
//!
//! A user's raw request keeps its intent: it is terse, misspelled, written in chat-speak
//! or in search-query order, not a request whose topic was deleted. Each family below
//! keeps at least 90% of the instruction's content words ([`kept_share`] checks it), so
//! the answer the benchmark compares with is still reachable from what the raw prompt
//! says. [`RawFamily::FormatStripped`] removes counts, lengths and forms on purpose and
//! is reported on its own; [`RawFamily::TopicLost`] is the old leading-verb-and-head-noun
//! rule, kept only as a labelled stress test.
//!
//! Every transformation is a pure function of the instruction (its pseudo-random choices
//! are seeded by a hash of the text), so a benchmark regenerates exactly.

use crate::vague::terse;
use vec2prompt_core::dictionary;
use vec2prompt_core::text::lower_words;

/// Words that carry no content of their own: articles, pronouns, prepositions,
/// auxiliaries and conjunctions. Numbers and quantities are content (they ask for a
/// count).
const FUNCTION_WORDS: &[&str] = &[
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
    "he",
    "she",
    "his",
    "her",
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
    "shall",
    "may",
    "might",
    "must",
    "please",
    "following",
    "given",
    "there",
    "here",
    "so",
    "if",
    "than",
    "then",
    "which",
    "whose",
    "whom",
    "also",
    "just",
    "very",
    "own",
    "such",
    "both",
    "either",
    "neither",
];

/// The words a format-stripped request loses: counts, lengths and forms.
const FORMAT_WORDS: &[&str] = &[
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
    "twenty",
    "hundred",
    "few",
    "several",
    "couple",
    "short",
    "brief",
    "briefly",
    "long",
    "concise",
    "concisely",
    "list",
    "bullet",
    "bullets",
    "points",
    "paragraph",
    "paragraphs",
    "sentence",
    "sentences",
    "words",
    "word",
    "table",
    "numbered",
    "single",
];

/// Chat-speak spellings of function words (the lowercase word → its chat form).
const CHAT_FORMS: &[(&str, &str)] = &[
    ("please", "pls"),
    ("you", "u"),
    ("your", "ur"),
    ("are", "r"),
    ("with", "w/"),
    ("without", "w/o"),
    ("because", "bc"),
    ("for", "4"),
    ("to", "2"),
    ("and", "&"),
    ("about", "abt"),
    ("be", "b"),
];

/// A way real users write a raw request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RawFamily {
    /// Function words, case and punctuation dropped.
    Telegraphic,
    /// About one word in ten of four letters or more misspelled (a keyboard neighbour,
    /// two letters swapped, or a letter dropped).
    Typos,
    /// Lower case, no punctuation, chat spellings ("pls", "u", "w/").
    ChatSpeak,
    /// Search-query order: the rest of the request first, its leading word (the verb)
    /// last, without articles or punctuation.
    QueryOrder,
    /// Counts, lengths and forms removed ("three", "in one sentence", "as a list"); loses
    /// a little on purpose.
    FormatStripped,
    /// The old stress test: the leading verb and the head noun of the first clause
    /// ("create function"); the topic is usually lost.
    TopicLost,
    /// The request exactly as a real user wrote it (real-user sets such as BPO's, whose
    /// prompts are raw already); not in [`RawFamily::ALL`].
    AsWritten,
}

impl RawFamily {
    /// The families that keep the intent (the benchmark's goals come from these).
    pub const INTENT_KEEPING: [RawFamily; 4] = [
        RawFamily::Telegraphic,
        RawFamily::Typos,
        RawFamily::ChatSpeak,
        RawFamily::QueryOrder,
    ];

    /// Every family, the controls last.
    pub const ALL: [RawFamily; 6] = [
        RawFamily::Telegraphic,
        RawFamily::Typos,
        RawFamily::ChatSpeak,
        RawFamily::QueryOrder,
        RawFamily::FormatStripped,
        RawFamily::TopicLost,
    ];

    /// The family's name in reports and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            RawFamily::Telegraphic => "telegraphic",
            RawFamily::Typos => "typos",
            RawFamily::ChatSpeak => "chat-speak",
            RawFamily::QueryOrder => "query-order",
            RawFamily::FormatStripped => "format-stripped",
            RawFamily::TopicLost => "topic-lost",
            RawFamily::AsWritten => "as-written",
        }
    }

    /// The family named `name` (as [`Self::name`] writes it).
    pub fn parse(name: &str) -> Option<RawFamily> {
        Self::ALL
            .into_iter()
            .chain([RawFamily::AsWritten])
            .find(|f| f.name() == name)
    }

    /// `instruction` written the family's way.
    pub fn apply(&self, instruction: &str) -> String {
        let out = match self {
            RawFamily::Telegraphic => telegraphic(instruction),
            RawFamily::Typos => typos(instruction),
            RawFamily::ChatSpeak => chat_speak(instruction),
            RawFamily::QueryOrder => query_order(instruction),
            RawFamily::FormatStripped => format_stripped(instruction),
            RawFamily::TopicLost => terse(instruction),
            RawFamily::AsWritten => instruction.to_string(),
        };
        if out.trim().is_empty() {
            lower_words(instruction).join(" ")
        } else {
            out
        }
    }
}

/// The family held out from training and development: drawn by `seed` among the
/// intent-keeping families that passed the benchmark's gate (`passed`), before any
/// training. `None` when none passed.
pub fn held_out(seed: u64, passed: &[RawFamily]) -> Option<RawFamily> {
    let mut candidates: Vec<RawFamily> = passed
        .iter()
        .copied()
        .filter(|f| RawFamily::INTENT_KEEPING.contains(f))
        .collect();
    candidates.sort();
    candidates.dedup();
    if candidates.is_empty() {
        return None;
    }
    Some(candidates[(splitmix(seed) % candidates.len() as u64) as usize])
}

fn is_function_word(w: &str) -> bool {
    FUNCTION_WORDS.contains(&w)
}

/// The content words of `text`: lower-case, not function words, in order (numbers
/// included).
pub fn content_words(text: &str) -> Vec<String> {
    lower_words(text)
        .into_iter()
        .flat_map(|w| {
            // "w/" and "w/o" are chat spellings; a slash otherwise joins two words.
            w.split('/')
                .map(str::to_string)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|w| !is_function_word(w))
        .collect()
}

/// A crude stem: common inflection suffixes removed, keeping at least three letters.
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in ["ingly", "ing", "edly", "ed", "ies", "es", "ly", "s"] {
        if let Some(s) = w.strip_suffix(suffix)
            && s.chars().count() >= 3
        {
            return if suffix == "ies" {
                format!("{s}y")
            } else {
                s.to_string()
            };
        }
    }
    w
}

/// Edit distance with adjacent transpositions (optimal string alignment).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Whether `word` is present among `words`: the same stem, or, for a word of four letters
/// or more, a spelling within edit distance 2 (one for a word of four letters) — a
/// misspelling and its correction count as the same word.
pub fn word_present(word: &str, words: &[String]) -> bool {
    let s = stem(word);
    let n = word.chars().count();
    words.iter().any(|w| {
        if stem(w) == s || w == word {
            return true;
        }
        let limit = match n {
            0..=3 => 0,
            4 => 1,
            _ => 2,
        };
        limit > 0 && w.chars().count() >= 3 && edit_distance(w, word) <= limit
    })
}

/// Share of `reference`'s content words present in `text` ([`word_present`]); 1 when the
/// reference has none.
pub fn kept_share(reference: &str, text: &str) -> f64 {
    let wanted = content_words(reference);
    if wanted.is_empty() {
        return 1.0;
    }
    let have = content_words(text);
    let kept = wanted.iter().filter(|w| word_present(w, &have)).count();
    kept as f64 / wanted.len() as f64
}

/// A 64-bit mix of `x` (splitmix64's finalizer): the families' pseudo-random choices.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a of `text`: the seed of a text's choices.
fn text_seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn telegraphic(instruction: &str) -> String {
    lower_words(instruction)
        .into_iter()
        .filter(|w| !is_function_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The keys of a QWERTY keyboard next to `c` (letters only).
fn neighbours(c: char) -> &'static str {
    match c {
        'q' => "wa",
        'w' => "qes",
        'e' => "wrd",
        'r' => "etf",
        't' => "ryg",
        'y' => "tuh",
        'u' => "yij",
        'i' => "uok",
        'o' => "ipl",
        'p' => "ol",
        'a' => "qsz",
        's' => "adw",
        'd' => "sfe",
        'f' => "dgr",
        'g' => "fht",
        'h' => "gjy",
        'j' => "hku",
        'k' => "jli",
        'l' => "ko",
        'z' => "xa",
        'x' => "zcs",
        'c' => "xvd",
        'v' => "cbf",
        'b' => "vng",
        'n' => "bmh",
        'm' => "nj",
        _ => "",
    }
}

/// One word misspelled by `r`: a neighbouring key, two letters swapped, or one dropped
/// (never the first letter, so the word stays recognisable).
fn misspell(word: &str, r: u64) -> String {
    let chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    let at = 1 + (r >> 8) as usize % (n - 1);
    let mut out = chars.clone();
    match r % 3 {
        0 => {
            let near: Vec<char> = neighbours(chars[at].to_ascii_lowercase()).chars().collect();
            if near.is_empty() {
                out.remove(at);
            } else {
                out[at] = near[(r >> 20) as usize % near.len()];
            }
        }
        1 if at + 1 < n => out.swap(at, at + 1),
        1 => out.swap(at - 1, at),
        _ => {
            out.remove(at);
        }
    }
    out.into_iter().collect()
}

fn typos(instruction: &str) -> String {
    let seed = text_seed(instruction);
    let tokens: Vec<&str> = instruction.split(' ').collect();
    let eligible: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            let letters = t.chars().filter(|c| c.is_ascii_alphabetic()).count();
            letters >= 4 && t.chars().all(|c| c.is_ascii_alphabetic())
        })
        .map(|(i, _)| i)
        .collect();
    if eligible.is_empty() {
        return instruction.to_string();
    }
    // About one word in ten, at least one.
    let count = (tokens.len() as f64 * 0.1).round().max(1.0) as usize;
    let mut chosen: Vec<usize> = Vec::new();
    let mut r = seed;
    while chosen.len() < count.min(eligible.len()) {
        r = splitmix(r);
        let i = eligible[(r % eligible.len() as u64) as usize];
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if chosen.contains(&i) {
                misspell(t, splitmix(seed ^ i as u64))
            } else {
                t.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn chat_speak(instruction: &str) -> String {
    let words: Vec<String> = lower_words(instruction)
        .into_iter()
        .map(|w| {
            CHAT_FORMS
                .iter()
                .find(|(full, _)| *full == w)
                .map_or(w, |(_, chat)| chat.to_string())
        })
        .collect();
    let mut out = words.join(" ");
    // Half of the requests open with "pls", as chat requests often do.
    if text_seed(instruction).is_multiple_of(2) && !out.starts_with("pls") {
        out = format!("pls {out}");
    }
    out
}

fn query_order(instruction: &str) -> String {
    let words: Vec<String> = lower_words(instruction)
        .into_iter()
        .filter(|w| !matches!(w.as_str(), "a" | "an" | "the"))
        .collect();
    match words.split_first() {
        Some((first, rest)) if !rest.is_empty() => format!("{} {first}", rest.join(" ")),
        _ => words.join(" "),
    }
}

fn format_stripped(instruction: &str) -> String {
    let mut kept: Vec<String> = Vec::new();
    for word in instruction.split_whitespace() {
        let bare = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let number = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit() || c == '-');
        let format = FORMAT_WORDS.contains(&bare.as_str())
            || number
            || bare.ends_with("-word")
            || bare.ends_with("-sentence");
        if !format {
            kept.push(word.to_string());
            continue;
        }
        // A dangling "in a", "as a", "of" before the removed word goes too.
        while kept.last().is_some_and(|last| {
            matches!(
                last.to_lowercase().as_str(),
                "a" | "an" | "in" | "as" | "of" | "the" | "using"
            )
        }) {
            kept.pop();
        }
        // The removed word's end mark stays, on the word before it.
        if let Some(mark) = word.chars().last().filter(|c| ".?!,:;".contains(*c))
            && let Some(last) = kept.last_mut()
        {
            last.push(mark);
        }
    }
    kept.join(" ")
}

/// The rule clean-up baseline: chat spellings written out, misspelled words corrected to
/// the nearest dictionary word (edit distance ≤ 2), the first letter capitalised and an
/// end mark added. It knows nothing of the request's intent.
pub fn rule_cleanup(raw: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for token in raw.split_whitespace() {
        let lower = token.to_lowercase();
        if let Some((full, _)) = CHAT_FORMS.iter().find(|(_, chat)| *chat == lower) {
            out.push(full.to_string());
            continue;
        }
        let core = token.trim_matches(|c: char| !c.is_alphanumeric());
        if core.chars().count() >= 4
            && core.chars().all(|c| c.is_ascii_alphabetic())
            && !dictionary::is_word(core)
            && let Some(fixed) = nearest_word(&core.to_lowercase())
        {
            out.push(token.replace(core, &fixed));
            continue;
        }
        out.push(token.to_string());
    }
    let mut text = out.join(" ");
    if let Some(first) = text.chars().next() {
        let upper: String = first.to_uppercase().collect();
        text.replace_range(..first.len_utf8(), &upper);
    }
    if !text.is_empty() && !text.ends_with(['.', '?', '!', ':']) {
        let question = [
            "what", "how", "why", "who", "when", "where", "which", "is", "are", "can", "do", "does",
        ]
        .iter()
        .any(|q| text.to_lowercase().starts_with(&format!("{q} ")));
        text.push(if question { '?' } else { '.' });
    }
    text
}

/// The dictionary word nearest `word` within edit distance 2 (the first in dictionary
/// order among the nearest).
fn nearest_word(word: &str) -> Option<String> {
    let n = word.chars().count();
    let mut best: Option<(usize, &str)> = None;
    for w in dictionary::entries() {
        let m = w.chars().count();
        if m.abs_diff(n) > 2 || w.contains('\'') {
            continue;
        }
        let d = edit_distance(word, w);
        if d <= 2 && best.is_none_or(|(bd, bw)| d < bd || (d == bd && w < bw)) {
            best = Some((d, w));
        }
    }
    best.map(|(_, w)| w.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[&str] = &[
        "Give three tips for staying healthy.",
        "Create a function that sorts a list of integers in Python.",
        "Explain why the sky is blue, in two sentences.",
        "Write a short, warm email closing that thanks the reader for their help.",
        "What is the capital of France?",
        "Rewrite the following sentence using active voice.",
        "Generate a list of five creative names for a bakery.",
        "Describe the structure of an atom.",
    ];

    #[test]
    fn intent_keeping_families_keep_nine_content_words_in_ten() {
        for family in RawFamily::INTENT_KEEPING {
            for s in SAMPLE {
                let raw = family.apply(s);
                assert_ne!(&raw, s, "{}", family.name());
                let kept = kept_share(s, &raw);
                assert!(
                    kept >= 0.9,
                    "{} kept {kept} of {s:?}: {raw:?}",
                    family.name()
                );
            }
        }
    }

    #[test]
    fn each_family_writes_its_own_way() {
        let s = "Give three tips for staying healthy.";
        assert_eq!(
            RawFamily::Telegraphic.apply(s),
            "give three tips staying healthy"
        );
        assert_eq!(
            RawFamily::QueryOrder.apply(s),
            "three tips for staying healthy give"
        );
        let chat = RawFamily::ChatSpeak.apply(s);
        assert!(chat.contains("tips 4 staying healthy"), "{chat}");
        assert_eq!(
            RawFamily::FormatStripped.apply(s),
            "Give tips for staying healthy."
        );
        assert_eq!(
            RawFamily::FormatStripped.apply("Explain gravity in one sentence."),
            "Explain gravity."
        );
        assert_eq!(RawFamily::TopicLost.apply(s), "give tips");
        let typo = RawFamily::Typos.apply(SAMPLE[3]);
        assert_ne!(typo, SAMPLE[3]);
        assert_eq!(typo.split(' ').count(), SAMPLE[3].split(' ').count());
        let differing = typo
            .split(' ')
            .zip(SAMPLE[3].split(' '))
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 1, "{typo}");
    }

    #[test]
    fn the_families_are_deterministic_and_never_empty() {
        for family in RawFamily::ALL {
            for s in SAMPLE.iter().chain(&["Summarize", "3"]) {
                assert_eq!(family.apply(s), family.apply(s));
                assert!(!family.apply(s).trim().is_empty(), "{} {s}", family.name());
            }
            assert_eq!(RawFamily::parse(family.name()), Some(family));
        }
    }

    #[test]
    fn the_held_out_family_is_drawn_among_those_that_passed() {
        let all = RawFamily::INTENT_KEEPING;
        let pick = held_out(0, &all).unwrap();
        assert!(all.contains(&pick));
        assert_eq!(held_out(0, &all), Some(pick));
        assert_eq!(held_out(7, &[RawFamily::Typos]), Some(RawFamily::Typos));
        assert_eq!(held_out(0, &[RawFamily::FormatStripped]), None);
        assert_eq!(held_out(0, &[]), None);
    }

    #[test]
    fn misspellings_count_as_kept_and_lost_words_do_not() {
        assert!(word_present("healthy", &["helathy".to_string()]));
        assert!(word_present("tips", &["tip".to_string()]));
        assert!(!word_present("atom", &["structure".to_string()]));
        assert_eq!(
            kept_share("Describe the structure of an atom.", "describe structure"),
            2.0 / 3.0
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn the_rule_cleanup_undoes_spelling_and_chat_forms() {
        assert_eq!(
            rule_cleanup("pls give 3 tips 4 staying helathy"),
            "Please give 3 tips for staying healthy."
        );
        assert_eq!(
            rule_cleanup("what is capital of france"),
            "What is capital of france?"
        );
    }
}
