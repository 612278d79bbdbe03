//! Crash-safe append-only files, shared by every resumable writer of the project (the
//! embedding store, the environment memory).
//!
//! The rule is the same everywhere: a batch is appended and flushed to disk
//! (`fdatasync`) before the next one begins, and what is on disk is counted in whole
//! units (fixed-size records, or lines ending in `\n`). A `kill -9` can only leave a
//! torn tail after the last whole unit; [`whole_records`] and [`whole_lines`] cut it off
//! on the next open, so a resumed writer continues exactly after the last complete unit.

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Result};

/// A short, stable name for a configuration string (the first 16 hex digits of its
/// sha256): file and directory names of per-configuration caches.
pub fn config_digest(config: &str) -> String {
    let key = hex::encode(Sha256::digest(config.as_bytes()));
    key[..16].to_string()
}

/// Cuts `path` to `len` bytes (if longer) and syncs it.
pub fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    if f.metadata().map_err(|e| Error::io(path, e))?.len() > len {
        f.set_len(len).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Number of whole `record_bytes`-sized records in `path` (0 if it does not exist),
/// without touching the file: safe while a writer appends.
pub fn complete_records(path: &Path, record_bytes: u64) -> Result<usize> {
    match std::fs::metadata(path) {
        Ok(m) => Ok((m.len() / record_bytes.max(1)) as usize),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Number of whole `record_bytes`-sized records in `path` (0 if it does not exist);
/// a torn tail is cut off. For the file's one writer.
pub fn whole_records(path: &Path, record_bytes: u64) -> Result<usize> {
    let whole = complete_records(path, record_bytes)?;
    if path.exists() {
        truncate(path, whole as u64 * record_bytes)?;
    }
    Ok(whole)
}

/// The complete lines of `path` (each ended by `\n`, returned without it), at most
/// `keep` of them (all when `None`), and the bytes they span; a missing file has none.
/// Read only: safe while a writer appends.
pub fn complete_lines(path: &Path, keep: Option<usize>) -> Result<(Vec<String>, u64)> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut reader = BufReader::new(f);
    let mut lines = Vec::new();
    let mut bytes = 0u64;
    let mut buf = Vec::new();
    while keep.is_none_or(|k| lines.len() < k) {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        buf.pop();
        let line = String::from_utf8(std::mem::take(&mut buf)).map_err(|_| {
            Error::invalid(
                "file",
                format!("{} has a line that is not UTF-8", path.display()),
            )
        })?;
        bytes += n as u64;
        lines.push(line);
    }
    Ok((lines, bytes))
}

/// [`complete_lines`], and whatever follows them (a torn last line, or lines beyond
/// `keep`) is cut off. For the file's one writer.
pub fn whole_lines(path: &Path, keep: Option<usize>) -> Result<Vec<String>> {
    let (lines, bytes) = complete_lines(path, keep)?;
    if path.exists() {
        truncate(path, bytes)?;
    }
    Ok(lines)
}

/// The first `values` little-endian f32 numbers of `path` (the file must hold them).
pub fn read_f32(path: &Path, values: usize) -> Result<Vec<f32>> {
    let mut bytes = Vec::new();
    if values > 0 {
        File::open(path)
            .and_then(|f| f.take(values as u64 * 4).read_to_end(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
    }
    if bytes.len() != values * 4 {
        return Err(Error::invalid(
            "file",
            format!("{} holds fewer vectors than expected", path.display()),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Vectors as little-endian f32 bytes, in order.
pub fn f32_bytes<'a>(vectors: impl IntoIterator<Item = &'a [f32]>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for v in vectors {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    bytes
}

/// An append-only file whose every [`append`](Self::append) is on disk when it returns.
pub struct SyncedAppend {
    path: PathBuf,
    file: File,
}

impl SyncedAppend {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends `bytes` and flushes them to disk (`fdatasync`).
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_records_and_lines_are_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("v.bin");
        assert_eq!(whole_records(&rec, 4).unwrap(), 0);
        let mut a = SyncedAppend::open(&rec).unwrap();
        a.append(&[0; 8]).unwrap();
        a.append(&[1, 2]).unwrap();
        assert_eq!(whole_records(&rec, 4).unwrap(), 2);
        assert_eq!(std::fs::metadata(&rec).unwrap().len(), 8);

        let lines = dir.path().join("l.jsonl");
        assert!(whole_lines(&lines, None).unwrap().is_empty());
        let mut a = SyncedAppend::open(&lines).unwrap();
        a.append(b"one\ntwo\nthr").unwrap();
        assert_eq!(whole_lines(&lines, None).unwrap(), vec!["one", "two"]);
        assert_eq!(std::fs::read(&lines).unwrap(), b"one\ntwo\n");
        // Appending after the cut continues on a fresh line.
        let mut a = SyncedAppend::open(&lines).unwrap();
        a.append(b"three\n").unwrap();
        assert_eq!(whole_lines(&lines, Some(2)).unwrap(), vec!["one", "two"]);
        assert_eq!(std::fs::read(&lines).unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn digests_are_stable_and_distinct() {
        assert_eq!(config_digest("a"), config_digest("a"));
        assert_ne!(config_digest("a"), config_digest("b"));
        assert_eq!(config_digest("a").len(), 16);
    }
}
