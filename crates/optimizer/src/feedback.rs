//! The feedback log: what users (or the system's own measured rewards) said about
//! optimized prompts, appended durably for the contrastive phase of training.
//!
//! One JSON object per line. Every append is written and `fdatasync`ed before it returns,
//! so an acknowledged record survives `kill -9`; a record torn by a crash mid-write is cut
//! off when the log is opened again, and never read as data. The log has a size limit.

use crate::model::Style;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vec2prompt_core::{Error, Result};
use vec2prompt_store::append::{SyncedAppend, complete_lines, whole_lines};

/// Longest prompt accepted in a feedback record, in characters.
pub const MAX_PROMPT_CHARS: usize = 8000;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// One piece of feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRecord {
    /// The prompt the user started from.
    pub raw_prompt: String,
    /// The optimized prompt judged.
    pub optimized_prompt: String,
    /// 1 (bad) to 5 (good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// Whether the user chose this prompt (over the others offered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<bool>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The style the prompt was optimized in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    /// Who judged: `user` for the HTTP API, `simulated` for the real-reward simulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Seconds since the Unix epoch when it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<u64>,
}

/// Whether a text has a visible character (the API's one rule for texts).
fn visible(s: &str) -> bool {
    vec2prompt_core::text::has_visible(s)
}

impl FeedbackRecord {
    /// Checks the record; the error names the field.
    pub fn validate(&self) -> Result<()> {
        for (name, text) in [
            ("raw_prompt", &self.raw_prompt),
            ("optimized_prompt", &self.optimized_prompt),
        ] {
            if !visible(text) {
                return Err(Error::invalid(name, "must contain visible text"));
            }
            let n = text.chars().count();
            if n > MAX_PROMPT_CHARS {
                return Err(Error::invalid(
                    name,
                    format!("is {n} characters long; the limit is {MAX_PROMPT_CHARS}"),
                ));
            }
        }
        if let Some(r) = self.rating
            && !(1..=5).contains(&r)
        {
            return Err(Error::invalid(
                "rating",
                format!("is {r}; give 1 (bad) to 5 (good)"),
            ));
        }
        if self.rating.is_none() && self.chosen.is_none() {
            return Err(Error::invalid(
                "feedback",
                "give a rating (1 to 5), chosen (true or false), or both",
            ));
        }
        if let Some(c) = &self.comment {
            let n = c.chars().count();
            if n > MAX_COMMENT_CHARS {
                return Err(Error::invalid(
                    "comment",
                    format!("is {n} characters long; the limit is {MAX_COMMENT_CHARS}"),
                ));
            }
        }
        Ok(())
    }

    /// Success (`true`), failure (`false`) or neutral (`None`): `chosen` when given, else
    /// a rating of 4–5 is a success and 1–2 a failure.
    pub fn verdict(&self) -> Option<bool> {
        match (self.chosen, self.rating) {
            (Some(c), _) => Some(c),
            (None, Some(r)) if r >= 4 => Some(true),
            (None, Some(r)) if r <= 2 => Some(false),
            _ => None,
        }
    }
}

/// The append-only log.
pub struct FeedbackLog {
    path: PathBuf,
    max_bytes: u64,
    /// The writer, the log's size in bytes and its record count.
    inner: Mutex<(SyncedAppend, u64, usize)>,
}

impl FeedbackLog {
    /// Opens (creating) the log at `path`, cutting a torn last record, refusing appends
    /// that would grow it past `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let records = whole_lines(path, None)?.len();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes,
            inner: Mutex::new((SyncedAppend::open(path)?, size, records)),
        })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Validates and appends `record` (durable when it returns); returns its line number
    /// (1-based) and the bytes written.
    pub fn append(&self, record: &FeedbackRecord) -> Result<(usize, usize)> {
        record.validate()?;
        let mut line =
            serde_json::to_vec(record).map_err(|e| Error::invalid("feedback", e.to_string()))?;
        line.push(b'\n');
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| Error::backend("feedback log", "a writer panicked"))?;
        if guard.1 + line.len() as u64 > self.max_bytes {
            return Err(Error::backend(
                "feedback log",
                format!(
                    "{} is full ({} of {} bytes); move it away to start a new one",
                    self.path.display(),
                    guard.1,
                    self.max_bytes
                ),
            ));
        }
        guard.0.append(&line)?;
        guard.1 += line.len() as u64;
        guard.2 += 1;
        Ok((guard.2, line.len()))
    }
}

/// Every complete record of a feedback log (a torn last line is ignored).
pub fn read_feedback(path: &Path) -> Result<Vec<FeedbackRecord>> {
    let (lines, _) = complete_lines(path, None)?;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                Error::invalid(
                    "feedback log",
                    format!("{} line {}: {e}", path.display(), i + 1),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rating: Option<u8>, chosen: Option<bool>) -> FeedbackRecord {
        FeedbackRecord {
            raw_prompt: "create function".into(),
            optimized_prompt: "Write a Python function that reverses a string.".into(),
            rating,
            chosen,
            comment: None,
            style: None,
            source: None,
            received_at: None,
        }
    }

    #[test]
    fn bad_records_are_refused_with_the_field_named() {
        let e = rec(None, None).validate().unwrap_err().to_string();
        assert!(e.contains("rating"), "{e}");
        let e = rec(Some(9), None).validate().unwrap_err().to_string();
        assert!(e.contains("rating"), "{e}");
        let mut r = rec(Some(4), None);
        r.raw_prompt = "\u{200B} \n".into();
        assert!(r.validate().unwrap_err().to_string().contains("raw_prompt"));
        let mut r = rec(Some(4), None);
        r.comment = Some("x".repeat(MAX_COMMENT_CHARS + 1));
        assert!(r.validate().unwrap_err().to_string().contains("comment"));
        assert!(rec(Some(3), Some(true)).validate().is_ok());
    }

    #[test]
    fn verdicts_follow_chosen_then_rating() {
        assert_eq!(rec(Some(1), Some(true)).verdict(), Some(true));
        assert_eq!(rec(Some(5), None).verdict(), Some(true));
        assert_eq!(rec(Some(2), None).verdict(), Some(false));
        assert_eq!(rec(Some(3), None).verdict(), None);
    }

    #[test]
    fn appends_are_read_back_a_torn_tail_is_cut_and_the_limit_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.jsonl");
        let log = FeedbackLog::open(&path, 1000).unwrap();
        assert_eq!(log.append(&rec(Some(5), None)).unwrap().0, 1);
        assert_eq!(log.append(&rec(None, Some(false))).unwrap().0, 2);
        drop(log);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"raw_prompt\":\"to").unwrap();
        assert_eq!(read_feedback(&path).unwrap().len(), 2);
        let log = FeedbackLog::open(&path, 1000).unwrap();
        assert_eq!(log.append(&rec(Some(1), None)).unwrap().0, 3);
        let back = read_feedback(&path).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[1].chosen, Some(false));
        let e = (0..20)
            .map(|_| log.append(&rec(Some(5), None)))
            .find_map(|r| r.err());
        assert!(e.unwrap().to_string().contains("full"));
    }
}
