//! CSV with a header row naming the columns.

use crate::ingest::Collector;
use crate::report::{SkipKind, shorten};
use crate::row::{FieldValue, Fields, Rejection};
use crate::source::{file_argument, require_content};
use csv::StringRecord;
use std::path::Path;
use vec2prompt_core::{Error, Result};

/// Column names this reader uses; any other column is ignored.
const KNOWN: [&str; 5] = ["id", "instruction", "input", "prompt", "output"];

/// Feeds every data row of the CSV `text` to `rows`, with the line it starts on. Empty lines
/// hold no fields and are not rows (the csv reader passes over them).
pub(crate) fn read(path: &Path, text: &str, rows: &mut Collector<'_>) -> Result<()> {
    require_content(
        path,
        text,
        "CSV with a header row naming `instruction`, `input`, `output` (or `prompt`, `output`)",
    )?;
    // Flexible, so a row with the wrong field count is a skipped row, not a reader error.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| Error::invalid(file_argument(path), format!("unreadable CSV header: {e}")))?
        .clone();
    let columns = Columns::from_header(path, &header)?;

    let mut record = StringRecord::new();
    let mut last_byte = None;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map(|p| p.line() as usize);
                if record.len() != header.len() {
                    let reason = format!(
                        "the row has {} fields, the header has {}",
                        record.len(),
                        header.len()
                    );
                    rows.malformed(line, Rejection::new(SkipKind::FieldCount, reason))?;
                } else {
                    rows.row(
                        line,
                        &CsvRow {
                            columns: &columns,
                            record: &record,
                        },
                    )?;
                }
            }
            Err(e) => {
                // The text is in memory and UTF-8, so errors are rare; still account for
                // the row, and stop if the reader no longer advances.
                let byte = reader.position().byte();
                if last_byte == Some(byte) {
                    return Err(Error::invalid(
                        file_argument(path),
                        format!("the CSV reader is stuck at byte {byte}: {e}"),
                    ));
                }
                last_byte = Some(byte);
                let line = e.position().map(|p| p.line() as usize);
                rows.malformed(line, Rejection::new(SkipKind::Unreadable, e.to_string()))?;
            }
        }
    }
    Ok(())
}

/// Where the known columns are in each row.
struct Columns {
    /// (column name, position) of each known column present in the header.
    known: Vec<(&'static str, usize)>,
}

impl Columns {
    /// Checks that the header names the needed columns, once each. Names are compared
    /// after trimming, because `prompt, output` is a common way to write a header.
    fn from_header(path: &Path, header: &StringRecord) -> Result<Columns> {
        let names: Vec<&str> = header.iter().map(str::trim).collect();
        let mut known = Vec::new();
        for name in KNOWN {
            let positions: Vec<usize> = (0..names.len()).filter(|&i| names[i] == name).collect();
            match positions.as_slice() {
                [] => {}
                [position] => known.push((name, *position)),
                _ => {
                    return Err(Error::invalid(
                        file_argument(path),
                        format!("the CSV header names column `{name}` more than once"),
                    ));
                }
            }
        }
        let has = |name: &str| known.iter().any(|&(n, _)| n == name);
        if !has("output") || !(has("instruction") || has("prompt")) {
            return Err(Error::invalid(
                file_argument(path),
                format!(
                    "no recognizable CSV header: found columns [{}]; needed `output` and \
                     either `instruction` (with optional `input`) or `prompt`, optional `id`",
                    names
                        .iter()
                        .map(|n| format!("{:?}", shorten(n, 40)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(Columns { known })
    }
}

/// One CSV row with the right field count.
struct CsvRow<'a> {
    /// Column positions.
    columns: &'a Columns,
    /// The row's fields.
    record: &'a StringRecord,
}

impl Fields for CsvRow<'_> {
    fn get(&self, name: &str) -> FieldValue<'_> {
        let position = self
            .columns
            .known
            .iter()
            .find(|&&(n, _)| n == name)
            .map(|&(_, p)| p);
        match position.and_then(|p| self.record.get(p)) {
            Some(text) => FieldValue::Text(text),
            None => FieldValue::Absent,
        }
    }
}
