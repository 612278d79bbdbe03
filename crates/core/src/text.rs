//! Validation of user-supplied text before it reaches a model.

use crate::{Error, Result};

/// Unicode's default-ignorable code points (inclusive ranges): zero-width spaces and
/// joiners, the byte-order mark, bidirectional and invisible format marks, fillers,
/// variation selectors, tags. They render as nothing.
pub const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` shows nothing when rendered: whitespace, control characters (NUL
/// included) and [`DEFAULT_IGNORABLE`] code points.
pub fn is_invisible(c: char) -> bool {
    let u = c as u32;
    c.is_whitespace()
        || c.is_control()
        || DEFAULT_IGNORABLE
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&u))
}

/// Whether `text` has at least one visible character.
pub fn has_visible(text: &str) -> bool {
    !text.chars().all(is_invisible)
}

/// Checks that `text` (named `argument` in errors) has visible content: text made only of
/// whitespace, NUL, zero-width or other invisible characters is refused.
pub fn require_non_empty(argument: &str, text: &str) -> Result<()> {
    if !has_visible(text) {
        return Err(Error::invalid(
            argument,
            "the text is empty or has no visible characters (only whitespace, control or zero-width \
             characters); give some words to work with",
        ));
    }
    Ok(())
}

/// Decodes bytes as UTF-8, naming `argument` and the byte offset of the first bad byte.
pub fn utf8(argument: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            argument,
            format!(
                "not valid UTF-8 (first bad byte at offset {}); convert the input to UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Lower-case words of `text`, split on whitespace, punctuation stripped from their ends
/// (inner apostrophes and hyphens stay): the word view every text rule works on.
pub fn lower_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `prompt` contains any run of 8 consecutive words of `reference` (case and
/// punctuation ignored): a prompt that pastes the answer it should elicit.
pub fn copies(prompt: &str, reference: &str) -> bool {
    fn words(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.to_lowercase())
            .collect()
    }
    let r = words(reference);
    if r.len() < 8 {
        return false;
    }
    let grams: std::collections::HashSet<&[String]> = r.windows(8).collect();
    words(prompt).windows(8).any(|w| grams.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_blank_text_is_rejected() {
        assert!(require_non_empty("text", "").is_err());
        assert!(require_non_empty("text", " \n\t").is_err());
        assert!(require_non_empty("text", "hi").is_ok());
        for invisible in [
            "\0\0",
            "\u{200B}\u{200C}\u{200D}",
            "\u{FEFF} \u{2060}",
            "\u{E0041}",
        ] {
            assert!(
                require_non_empty("text", invisible).is_err(),
                "{invisible:?}"
            );
        }
        for visible in ["\0a", "\u{200B}é", "日本", "🙂", "\u{FEFF}x"] {
            assert!(require_non_empty("text", visible).is_ok(), "{visible:?}");
        }
    }

    #[test]
    fn invalid_utf8_names_offset() {
        let err = utf8("--prompt", vec![b'a', b'b', 0xff, b'c'])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--prompt") && err.contains("offset 2"),
            "{err}"
        );
    }
}
