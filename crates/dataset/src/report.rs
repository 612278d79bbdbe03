//! What an ingest did: counts, the split sizes and every skipped row with its reason.

use crate::format::Format;
use crate::split::SplitCounts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// How many example rows [`IngestReport::summary`] shows per skip reason.
const SUMMARY_EXAMPLES: usize = 3;

/// Longest reason (in characters) quoted in a summary line, so one enormous row cannot
/// flood a terminal.
const SUMMARY_REASON_CHARS: usize = 120;

/// Why a row was not turned into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// A JSONL line is not valid JSON.
    InvalidJson,
    /// A row is valid JSON but not an object.
    NotObject,
    /// A required field (`output`, and `instruction` or `prompt`) is absent or null.
    MissingField,
    /// A field has the wrong JSON type (e.g. a number where text is needed).
    WrongType,
    /// The `instruction` or `prompt` is empty or only whitespace.
    EmptyPrompt,
    /// The `output` is empty or only whitespace.
    EmptyOutput,
    /// The `id` is given but empty or only whitespace.
    BlankId,
    /// A field is longer than [`crate::IngestOptions::max_field_bytes`].
    TooLarge,
    /// The `id` repeats the id of an earlier accepted row.
    DuplicateId,
    /// A CSV row has more or fewer fields than the header.
    FieldCount,
    /// The CSV reader could not make a row of the text.
    Unreadable,
}

impl SkipKind {
    /// Short human label, used to group skips in summaries.
    pub fn label(&self) -> &'static str {
        match self {
            SkipKind::InvalidJson => "invalid JSON",
            SkipKind::NotObject => "not an object",
            SkipKind::MissingField => "missing field",
            SkipKind::WrongType => "wrong field type",
            SkipKind::EmptyPrompt => "empty prompt",
            SkipKind::EmptyOutput => "empty output",
            SkipKind::BlankId => "blank id",
            SkipKind::TooLarge => "field too large",
            SkipKind::DuplicateId => "duplicate id",
            SkipKind::FieldCount => "wrong CSV field count",
            SkipKind::Unreadable => "unreadable row",
        }
    }
}

/// A row of the source that did not become a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// 0-based row index in the source file (the index the record would have had).
    pub index: usize,
    /// 1-based line where the row starts, for JSONL and CSV; `None` for an Alpaca JSON
    /// array, where rows are array elements rather than lines.
    pub line: Option<usize>,
    /// The category of the problem.
    pub kind: SkipKind,
    /// What exactly is wrong with the row.
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.index)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The account of one ingest: every row is either accepted or listed in `skipped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// The file that was read.
    pub source: PathBuf,
    /// The format it was read as.
    pub format: Format,
    /// Rows found in the file (accepted plus skipped).
    pub rows: usize,
    /// Rows that became records.
    pub accepted: usize,
    /// Rows that did not, in file order.
    pub skipped: Vec<Skip>,
    /// Accepted records per split.
    pub by_split: SplitCounts,
}

impl IngestReport {
    /// A few human-readable lines: the counts, the records per split and, per skip reason,
    /// how many rows were skipped with the first few examples.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} ({}): {} rows, {} accepted, {} skipped\nsplit: train {}, validation {}, test {}",
            self.source.display(),
            self.format,
            self.rows,
            self.accepted,
            self.skipped.len(),
            self.by_split.train,
            self.by_split.validation,
            self.by_split.test,
        );
        let mut by_kind: BTreeMap<SkipKind, Vec<&Skip>> = BTreeMap::new();
        for skip in &self.skipped {
            by_kind.entry(skip.kind).or_default().push(skip);
        }
        for (kind, skips) in by_kind {
            let examples: Vec<String> = skips
                .iter()
                .take(SUMMARY_EXAMPLES)
                .map(|s| shorten(&s.to_string(), SUMMARY_REASON_CHARS))
                .collect();
            let more = if skips.len() > SUMMARY_EXAMPLES {
                "; ..."
            } else {
                ""
            };
            out.push_str(&format!(
                "\nskipped {} ({}): {}{more}",
                skips.len(),
                kind.label(),
                examples.join("; "),
            ));
        }
        out
    }
}

/// `text` cut to at most `max` characters, marking the cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("äöüß", 2), "äö...");
    }

    #[test]
    fn skip_display_names_row_and_line() {
        let skip = Skip {
            index: 4,
            line: Some(6),
            kind: SkipKind::EmptyOutput,
            reason: "field `output` is empty".into(),
        };
        assert_eq!(skip.to_string(), "row 4 (line 6): field `output` is empty");
        let skip = Skip { line: None, ..skip };
        assert_eq!(skip.to_string(), "row 4: field `output` is empty");
    }
}
