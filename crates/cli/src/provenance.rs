//! Collects a report's [`Provenance`]: the source tree's commit (and whether it was dirty),
//! the sha256 of every model file a run used, and the command line.

use std::path::{Path, PathBuf};
use vec2prompt_core::provenance::Provenance;

/// The model files under `path`: the file itself, or a directory's weight and
/// configuration files (`.gguf`, `.safetensors`, `.json`), sorted.
fn model_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .is_some_and(|x| x == "gguf" || x == "safetensors" || x == "json")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn git(args: &[&str]) -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The provenance of a run that used the models at `models` (name, file or directory).
pub fn collect(models: &[(&str, Option<&Path>)]) -> Provenance {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let mut hashes = Vec::new();
    for (name, path) in models {
        let Some(path) = path else { continue };
        for f in model_files(path) {
            if let Ok(sha) = vec2prompt_models::fetch::sha256_file(&f) {
                let file = f
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                hashes.push((format!("{name}/{file}"), sha));
            }
        }
    }
    Provenance {
        commit,
        dirty,
        models: hashes,
        command: crate::common::command_line(),
    }
}
