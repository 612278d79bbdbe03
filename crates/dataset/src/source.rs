//! Reading a source file whole and the checks that apply to every format: it exists, is
//! readable, is UTF-8 and is not empty.

use std::path::Path;
use vec2prompt_core::{Error, Result};

/// The name a file-level error gives the dataset file.
pub(crate) fn file_argument(path: &Path) -> String {
    format!("dataset file {}", path.display())
}

/// The text of `path`, without a leading UTF-8 byte-order mark (spreadsheets write one).
///
/// Errors name the file: it cannot be read, it is not UTF-8 (with the byte offset and line
/// of the first bad byte), or it holds nothing but whitespace.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = utf8(path, what, bytes)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Checks that a file's text has some content, naming the file and its expected `format`.
pub(crate) fn require_content(path: &Path, text: &str, expected: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(
            file_argument(path),
            format!("the file is empty; expected {expected}"),
        ));
    }
    Ok(())
}

/// Decodes `bytes`, naming the byte offset and line of the first invalid byte.
fn utf8(path: &Path, what: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::invalid(
            format!("{what} {}", path.display()),
            format!(
                "not valid UTF-8 (first bad byte at offset {offset}, line {line}); convert \
                 the file to UTF-8"
            ),
        )
    })
}
