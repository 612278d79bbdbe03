//! A batch job's output: JSONL, one line per input row, appended and synced line by
//! line. Reopening it reads which rows are done, so a job killed at any instant resumes
//! without losing a finished row or writing one twice; a line cut short by the kill is
//! dropped and its row done again.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The output file, open for appending.
pub struct Output {
    path: PathBuf,
    file: File,
    /// The rows already written, with their ids.
    done: HashMap<usize, Option<String>>,
    /// Bytes of a cut-short last line dropped on opening.
    pub dropped_bytes: usize,
}

impl Output {
    /// Opens (or creates) `path`; an existing file's complete lines name the rows done.
    pub fn open(path: &Path) -> Result<Self> {
        let mut done = HashMap::new();
        let mut dropped_bytes = 0;
        if path.exists() {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            dropped_bytes = bytes.len() - complete;
            for (n, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(line).with_context(|| {
                    format!(
                        "{} line {} is not JSON: it is not a batch output (choose another --out)",
                        path.display(),
                        n + 1
                    )
                })?;
                let Some(row) = v.get("row").and_then(serde_json::Value::as_u64) else {
                    bail!(
                        "{} line {} has no \"row\": it is not a batch output (choose another --out)",
                        path.display(),
                        n + 1
                    );
                };
                let id = v.get("id").and_then(|i| i.as_str()).map(str::to_string);
                if done.insert(row as usize, id).is_some() {
                    bail!(
                        "{} holds row {row} twice (line {}): it was not written by one job",
                        path.display(),
                        n + 1
                    );
                }
            }
            if dropped_bytes > 0 {
                // The last line was being written when the job stopped: its row is redone.
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(complete as u64)?;
                f.sync_all()?;
            }
        } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            done,
            dropped_bytes,
        })
    }

    /// The id written for `row`, if the row is done (`Some(None)`: done, with no id).
    pub fn done(&self, row: usize) -> Option<&Option<String>> {
        self.done.get(&row)
    }

    /// Rows already written.
    pub fn done_count(&self) -> usize {
        self.done.len()
    }

    /// Appends one line (`value` must carry `row`) in one write, then syncs it to disk.
    pub fn append<T: serde::Serialize>(
        &mut self,
        row: usize,
        id: Option<&str>,
        value: &T,
    ) -> Result<()> {
        if self.done.contains_key(&row) {
            bail!("row {row} is already in {}", self.path.display());
        }
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        self.done.insert(row, id.map(str::to_string));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resumes_from_complete_lines_and_drops_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        let mut out = Output::open(&path).unwrap();
        out.append(0, Some("a"), &json!({"row": 0, "id": "a", "prompt": "p"}))
            .unwrap();
        out.append(2, Some("c"), &json!({"row": 2, "id": "c", "error": "bad"}))
            .unwrap();
        assert!(out.append(2, Some("c"), &json!({"row": 2})).is_err());
        drop(out);
        // A kill in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"row\": 1, \"id\": \"b\", \"pro").unwrap();
        drop(f);
        let out = Output::open(&path).unwrap();
        assert_eq!(out.dropped_bytes, 26);
        assert_eq!(out.done_count(), 2);
        assert_eq!(out.done(0), Some(&Some("a".to_string())));
        assert!(out.done(1).is_none(), "the cut line's row is redone");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("\"row\":2}\n"), "{text}");
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, "{\"id\": 1}\n").unwrap();
        let e = Output::open(&path).err().unwrap();
        assert!(e.to_string().contains("not a batch output"), "{e}");
    }
}
