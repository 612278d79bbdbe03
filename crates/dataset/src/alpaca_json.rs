//! Alpaca JSON: one array of row objects.

use crate::ingest::Collector;
use crate::report::SkipKind;
use crate::row::{Rejection, json_type};
use crate::source::{file_argument, require_content};
use serde_json::Value;
use std::path::Path;
use vec2prompt_core::{Error, Result};

/// What an Alpaca JSON file should hold, for error messages.
const EXPECTED: &str = "a JSON array of objects with `instruction`, `input`, `output` (or \
                        `prompt`, `output`)";

/// Feeds every element of the array in `text` to `rows`. Elements have no line of their
/// own, so skips carry only the index.
pub(crate) fn read(path: &Path, text: &str, rows: &mut Collector<'_>) -> Result<()> {
    require_content(path, text, EXPECTED)?;
    // A leading `{` is either one object or JSONL under a .json name; parsing would only
    // report "trailing characters", so say what the file looks like instead.
    if text.trim_start().starts_with('{') {
        return Err(Error::invalid(
            file_argument(path),
            format!(
                "expected {EXPECTED}, but the file starts with an object; if it holds one \
                 object per line it is JSONL: name it .jsonl or choose the jsonl format"
            ),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            file_argument(path),
            format!("not valid JSON ({e}); expected {EXPECTED}"),
        )
    })?;
    let Value::Array(elements) = value else {
        return Err(Error::invalid(
            file_argument(path),
            format!("expected {EXPECTED}, found {}", json_type(&value)),
        ));
    };
    for element in &elements {
        match element {
            Value::Object(fields) => rows.row(None, fields)?,
            other => rows.malformed(
                None,
                Rejection::new(
                    SkipKind::NotObject,
                    format!(
                        "the array element is {}, expected an object",
                        json_type(other)
                    ),
                ),
            )?,
        }
    }
    Ok(())
}
