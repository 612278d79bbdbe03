//! JSONL: one row object per line.

use crate::ingest::Collector;
use crate::report::SkipKind;
use crate::row::{Rejection, json_type};
use crate::source::require_content;
use serde_json::Value;
use std::path::Path;
use vec2prompt_core::Result;

/// Feeds every non-blank line of `text` to `rows`. Blank lines (e.g. a trailing newline)
/// hold no data and are not rows; a line that is not a JSON object is a malformed row.
pub(crate) fn read(path: &Path, text: &str, rows: &mut Collector<'_>) -> Result<()> {
    require_content(
        path,
        text,
        "one JSON object per line with `instruction`/`input`/`output` or `prompt`/`output`",
    )?;
    for (number, line) in text.split('\n').enumerate() {
        let line_number = Some(number + 1);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => rows.row(line_number, &fields)?,
            Ok(other) => rows.malformed(
                line_number,
                Rejection::new(
                    SkipKind::NotObject,
                    format!("the line holds {}, expected an object", json_type(&other)),
                ),
            )?,
            Err(e) => rows.malformed(
                line_number,
                Rejection::new(
                    SkipKind::InvalidJson,
                    format!("invalid JSON: {}", without_line(&e)),
                ),
            )?,
        }
    }
    Ok(())
}

/// serde_json's message with "line 1" dropped: each line is parsed alone, so its line
/// number would always be 1 and contradict the row's real line.
fn without_line(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(text) => format!("{text} at column {}", error.column()),
        None => message,
    }
}
