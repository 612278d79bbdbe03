//! Answers cached per (prompt, LLM configuration): an append-only JSONL file per
//! configuration. A torn last line (crash while writing) is ignored on load. Each answer
//! records the held-out split of the evaluation that asked for it (which prompts get
//! answered depends on that split's targets), so anything that ever learns from cached
//! answers can leave out those asked for test targets.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Result};

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The prompt that was answered.
    pub prompt: String,
    /// The answer text.
    pub answer: String,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Wall seconds spent generating it (its share of its batch).
    pub seconds: f64,
    /// The held-out split (`validation`, `test`) of the evaluation that first asked for
    /// it; none for answers cached outside a split's evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
}

/// The answer cache of one LLM configuration.
pub struct AnswerCache {
    path: PathBuf,
    map: HashMap<String, CachedAnswer>,
    file: File,
    split: Option<String>,
}

impl AnswerCache {
    /// Opens the cache for `config` (a string that identifies the LLM and its generation
    /// settings) under `dir`.
    pub fn open(dir: &Path, config: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(format!(
            "answers-{}.jsonl",
            vec2prompt_store::config_digest(config)
        ));
        let mut map = HashMap::new();
        if path.exists() {
            let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| Error::io(&path, e))?;
                // A line cut short by a crash does not parse; its prompt is answered again.
                if let Ok(a) = serde_json::from_str::<CachedAnswer>(&line) {
                    map.insert(a.prompt.clone(), a);
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // Start on a fresh line in case the last one was torn.
        if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > 0 {
            file.write_all(b"\n").map_err(|e| Error::io(&path, e))?;
        }
        let meta = path.with_extension("config.txt");
        if !meta.exists() {
            vec2prompt_core::write_atomic(&meta, config.as_bytes())?;
        }
        Ok(Self {
            path,
            map,
            file,
            split: None,
        })
    }

    /// Tags every answer inserted from now on with `split`, the held-out split whose
    /// targets the evaluation searches for.
    pub fn tagged(mut self, split: &str) -> Self {
        self.split = Some(split.to_string());
        self
    }

    /// The split the answer to `prompt` was first asked for, if cached and tagged.
    pub fn split_of(&self, prompt: &str) -> Option<&str> {
        self.map.get(prompt)?.split.as_deref()
    }

    /// The cached answer to `prompt`, if any.
    pub fn get(&self, prompt: &str) -> Option<&CachedAnswer> {
        self.map.get(prompt)
    }

    /// Number of cached answers.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds answers in memory only: they are served, never written (their record is
    /// elsewhere, e.g. the environment memory).
    pub fn preload(&mut self, answers: impl IntoIterator<Item = CachedAnswer>) {
        for a in answers {
            self.map.insert(a.prompt.clone(), a);
        }
    }

    /// Adds answers and flushes them to disk.
    pub fn insert(&mut self, mut answers: Vec<CachedAnswer>) -> Result<()> {
        for a in &mut answers {
            if a.split.is_none() {
                a.split.clone_from(&self.split);
            }
        }
        let mut buf = Vec::new();
        for a in &answers {
            serde_json::to_writer(&mut buf, a).map_err(|e| Error::backend("answer cache", e))?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .map_err(|e| Error::io(&self.path, e))?;
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        for a in answers {
            self.map.insert(a.prompt.clone(), a);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(p: &str) -> CachedAnswer {
        CachedAnswer {
            prompt: p.into(),
            answer: format!("re: {p}"),
            completion_tokens: 3,
            seconds: 0.5,
            split: None,
        }
    }

    #[test]
    fn answers_keep_the_split_they_were_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = AnswerCache::open(dir.path(), "llm").unwrap();
        c.insert(vec![answer("untagged")]).unwrap();
        drop(c);
        let mut c = AnswerCache::open(dir.path(), "llm").unwrap().tagged("test");
        c.insert(vec![answer("for a test target")]).unwrap();
        drop(c);
        // A later validation run reuses the test-time answer without retagging it.
        let mut c = AnswerCache::open(dir.path(), "llm")
            .unwrap()
            .tagged("validation");
        assert_eq!(c.split_of("for a test target"), Some("test"));
        assert_eq!(c.split_of("untagged"), None);
        c.insert(vec![answer("for a validation target")]).unwrap();
        drop(c);
        let c = AnswerCache::open(dir.path(), "llm").unwrap();
        assert_eq!(c.split_of("for a test target"), Some("test"));
        assert_eq!(c.split_of("for a validation target"), Some("validation"));
        assert_eq!(c.get("untagged").unwrap().split, None);
    }

    #[test]
    fn persists_per_configuration_and_survives_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = AnswerCache::open(dir.path(), "llm-a").unwrap();
        c.insert(vec![answer("p1"), answer("p2")]).unwrap();
        drop(c);
        // A torn write at the end.
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(b"{\"prompt\":\"p3\",\"ans").unwrap();
        drop(f);
        let mut c = AnswerCache::open(dir.path(), "llm-a").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("p1").unwrap().answer, "re: p1");
        assert!(c.get("p3").is_none());
        c.insert(vec![answer("p3")]).unwrap();
        drop(c);
        let c = AnswerCache::open(dir.path(), "llm-a").unwrap();
        assert_eq!(c.len(), 3);
        // Another configuration has its own cache.
        let other = AnswerCache::open(dir.path(), "llm-b").unwrap();
        assert!(other.is_empty());
    }
}
