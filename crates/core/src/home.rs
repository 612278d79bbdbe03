//! `$VEC2PROMPT_HOME`: where vec2prompt keeps models and caches.

use std::path::{Path, PathBuf};

/// The vec2prompt home directory (default `~/.cache/vec2prompt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Root directory.
    pub root: PathBuf,
}

impl Home {
    /// Uses `root` as the home directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$VEC2PROMPT_HOME` if set, else `$XDG_CACHE_HOME/vec2prompt`, else
    /// `$HOME/.cache/vec2prompt`, else `./.vec2prompt`.
    pub fn from_env() -> Self {
        if let Some(p) = std::env::var_os("VEC2PROMPT_HOME").filter(|p| !p.is_empty()) {
            return Self::new(p);
        }
        if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
            return Self::new(Path::new(&p).join("vec2prompt"));
        }
        match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            Some(h) => Self::new(Path::new(&h).join(".cache").join("vec2prompt")),
            None => Self::new(".vec2prompt"),
        }
    }

    /// Directory holding one sub-directory per model.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }
}
