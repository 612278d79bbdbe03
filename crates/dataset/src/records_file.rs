//! The records file: ingested records as JSONL, one [`Record`] per line, written
//! atomically so a reader never sees half a file.

use crate::record::Record;
use crate::source::read_text;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use vec2prompt_core::{Error, Result};

/// Distinguishes temp files of concurrent writes from one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many temp-file names to try before giving up (a name is taken only if a crashed
/// writer with the same process id left its temp file behind).
const TEMP_ATTEMPTS: u32 = 100;

/// Writes `records` to `path` as JSONL.
///
/// The lines go to a temp file in the same directory, which is flushed to disk and then
/// renamed over `path`: a rename within one file system is atomic, so `path` is always
/// either the old complete file or the new complete one, even if the process dies midway.
/// On failure the temp file is removed.
pub fn write_records(path: &Path, records: &[Record]) -> Result<()> {
    let (temp_path, file) = create_temp(path)?;
    let written = write_lines(&temp_path, file, records)
        .and_then(|()| std::fs::rename(&temp_path, path).map_err(|e| Error::io(path, e)));
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_file(&temp_path);
    }
    written?;
    sync_directory(path);
    Ok(())
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

/// Creates a new temp file next to `path`.
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let name = path.file_name().ok_or_else(|| {
        Error::invalid(
            "records file",
            format!("{} does not name a file", path.display()),
        )
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut last_error = None;
    for _ in 0..TEMP_ATTEMPTS {
        let temp_path = directory.join(format!(
            ".{}.{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(Error::io(temp_path, e)),
        }
    }
    Err(Error::io(
        directory,
        last_error.unwrap_or_else(|| std::io::Error::other("no free temp file name")),
    ))
}

/// Writes one JSON line per record and flushes it to disk.
fn write_lines(temp_path: &Path, file: File, records: &[Record]) -> Result<()> {
    let io_error = |e: std::io::Error| Error::io(temp_path, e);
    let mut writer = BufWriter::new(file);
    for record in records {
        serde_json::to_writer(&mut writer, record)
            .map_err(|e| io_error(std::io::Error::other(e)))?;
        writer.write_all(b"\n").map_err(io_error)?;
    }
    let file = writer.into_inner().map_err(|e| io_error(e.into_error()))?;
    file.sync_all().map_err(io_error)
}

/// Flushes the directory entry of a rename, so the new file survives a power loss. Best
/// effort: not every platform can open a directory, and the data is already written.
fn sync_directory(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(directory) = File::open(parent)
    {
        let _ = directory.sync_all();
    }
}
