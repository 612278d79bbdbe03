//! The records file: ingested records as JSONL, one [`Record`] per line, written
//! atomically so a reader never sees half a file.

use crate::record::Record;
use crate::source::read_text;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use vec2prompt_core::{Error, Result};

/// Writes `records` to `path` as JSONL, atomically ([`vec2prompt_core::write_atomic_with`]):
/// `path` is always either the old complete file or the new complete one, even if the
/// process dies midway.
pub fn write_records(path: &Path, records: &[Record]) -> Result<()> {
    vec2prompt_core::write_atomic_with(path, |tmp| write_lines(tmp, records))
}

/// Reads a records file written by [`write_records`]. Blank lines are ignored; any other
/// line that is not a record is an error naming the file and the line.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let text = read_text(path, "records file")?;
    let mut records = Vec::new();
    for (number, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str::<Record>(line).map_err(|e| {
            Error::invalid(
                format!("records file {}", path.display()),
                format!("line {}: not a record ({e})", number + 1),
            )
        })?;
        records.push(record);
    }
    Ok(records)
}

/// Writes one JSON line per record into the (empty) file at `temp_path`.
fn write_lines(temp_path: &Path, records: &[Record]) -> Result<()> {
    let io_error = |e: std::io::Error| Error::io(temp_path, e);
    let file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(temp_path)
        .map_err(io_error)?;
    let mut writer = BufWriter::new(file);
    for record in records {
        serde_json::to_writer(&mut writer, record)
            .map_err(|e| io_error(std::io::Error::other(e)))?;
        writer.write_all(b"\n").map_err(io_error)?;
    }
    writer.flush().map_err(io_error)
}
