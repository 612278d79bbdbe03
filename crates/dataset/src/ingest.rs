//! Reading a dataset file into records: format choice, row accounting, duplicate ids and
//! strict mode.

use crate::format::Format;
use crate::record::Record;
use crate::report::{IngestReport, Skip, SkipKind};
use crate::row::{self, Fields, Rejection};
use crate::source::{file_argument, read_text};
use crate::split::SplitCounts;
use crate::{alpaca_json, csv_rows, jsonl};
use std::collections::HashMap;
use std::path::Path;
use vec2prompt_core::{Error, Result};

/// Default [`IngestOptions::max_field_bytes`]: 64 KiB, far above any real instruction or
/// answer (Alpaca's longest field is about 4 KiB) yet small enough that a runaway row
/// cannot blow up embedding batches or prompts.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;

/// How to read a dataset file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// The format to read; `None` picks it from the file extension
    /// ([`Format::from_path`]).
    pub format: Option<Format>,
    /// Fail on the first malformed row instead of skipping and reporting it.
    pub strict: bool,
    /// Rows with any used field (`instruction`, `input`, `prompt`, `output`, `id`) longer
    /// than this many bytes are skipped as enormous.
    pub max_field_bytes: usize,
    /// Accept rows whose `output` is empty or blank instead of skipping them. Off by
    /// default: an empty output is no target to invert (its embedding says nothing), and
    /// Stanford Alpaca has 28 such rows, all in the train split.
    pub allow_empty_output: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            strict: false,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            allow_empty_output: false,
        }
    }
}

/// Reads the dataset at `path` into records and a report of what happened to every row.
///
/// File-level problems (missing or unreadable file, invalid UTF-8, an empty file, the wrong
/// layout for the format, no rows at all) are errors naming the file. Malformed rows are
/// skipped and listed in the report, or, with [`IngestOptions::strict`], end the ingest with
/// an error naming the row, its line and the reason.
pub fn ingest(path: &Path, options: &IngestOptions) -> Result<(Vec<Record>, IngestReport)> {
    let format = match options.format {
        Some(format) => format,
        None => Format::from_path(path)?,
    };
    let text = read_text(path, "dataset file")?;
    let mut rows = Collector::new(path, options);
    match format {
        Format::AlpacaJson => alpaca_json::read(path, &text, &mut rows)?,
        Format::Jsonl => jsonl::read(path, &text, &mut rows)?,
        Format::Csv => csv_rows::read(path, &text, &mut rows)?,
    }
    rows.finish(format)
}

/// Collects the rows of one ingest in file order, giving each its index.
pub(crate) struct Collector<'a> {
    /// The source, for error messages.
    path: &'a Path,
    /// The caller's options.
    options: &'a IngestOptions,
    /// Rows seen so far; the next row's index.
    rows: usize,
    /// Accepted records.
    records: Vec<Record>,
    /// Skipped rows.
    skipped: Vec<Skip>,
    /// Id of every accepted record and the index of its row, to reject later repeats.
    ids: HashMap<String, usize>,
}

impl<'a> Collector<'a> {
    /// An empty collection for the file at `path`.
    fn new(path: &'a Path, options: &'a IngestOptions) -> Self {
        Collector {
            path,
            options,
            rows: 0,
            records: Vec::new(),
            skipped: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// Takes the next row, starting at 1-based `line` if the format has lines.
    pub(crate) fn row(&mut self, line: Option<usize>, fields: &dyn Fields) -> Result<()> {
        let index = self.next_index();
        match row::build_record(index, fields, self.options) {
            Err(rejection) => self.skip(index, line, rejection),
            Ok(record) => match self.ids.get(&record.id) {
                Some(&first) => {
                    let reason = format!(
                        "duplicate id {}: row {first} has it already, so this later row is \
                         skipped",
                        row::quote_id(&record.id)
                    );
                    self.skip(index, line, Rejection::new(SkipKind::DuplicateId, reason))
                }
                None => {
                    self.ids.insert(record.id.clone(), index);
                    self.records.push(record);
                    Ok(())
                }
            },
        }
    }

    /// Takes the next row, which the format reader already found malformed.
    pub(crate) fn malformed(&mut self, line: Option<usize>, rejection: Rejection) -> Result<()> {
        let index = self.next_index();
        self.skip(index, line, rejection)
    }

    /// The index of the next row; counts it.
    fn next_index(&mut self) -> usize {
        let index = self.rows;
        self.rows += 1;
        index
    }

    /// Records a skipped row, or fails in strict mode.
    fn skip(&mut self, index: usize, line: Option<usize>, rejection: Rejection) -> Result<()> {
        let skip = Skip {
            index,
            line,
            kind: rejection.kind,
            reason: rejection.reason,
        };
        if self.options.strict {
            return Err(Error::invalid(
                file_argument(self.path),
                format!(
                    "{skip}; strict ingest stops at the first malformed row (without strict, \
                     such rows are skipped and reported)"
                ),
            ));
        }
        self.skipped.push(skip);
        Ok(())
    }

    /// The records and the report; a file without a single row is an error.
    fn finish(self, format: Format) -> Result<(Vec<Record>, IngestReport)> {
        if self.rows == 0 {
            return Err(Error::invalid(
                file_argument(self.path),
                format!("the file holds no rows (read as {format})"),
            ));
        }
        let mut by_split = SplitCounts::default();
        for record in &self.records {
            by_split.add(record.split);
        }
        let report = IngestReport {
            source: self.path.to_path_buf(),
            format,
            rows: self.rows,
            accepted: self.records.len(),
            skipped: self.skipped,
            by_split,
        };
        Ok((self.records, report))
    }
}
