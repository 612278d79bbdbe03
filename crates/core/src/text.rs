//! Validation of user-supplied text before it reaches a model.

use crate::{Error, Result};

/// Checks that `text` (named `argument` in errors) has visible content.
pub fn require_non_empty(argument: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(
            argument,
            "the text is empty; give some words to work with",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_blank_text_is_rejected() {
        assert!(require_non_empty("text", "").is_err());
        assert!(require_non_empty("text", " \n\t").is_err());
        assert!(require_non_empty("text", "hi").is_ok());
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
