//! The default learned models (surrogate, inverter, corrector and their tokenizer, the
//! files of `assets/latent`), found wherever the binary runs.
//!
//! With the `embedded-latent` feature (on by default in the `vec2prompt` binary) their
//! bytes are compiled into the binary, and [`install`] writes them into
//! `$VEC2PROMPT_HOME/models/latent` (`vec2prompt models fetch` does, and so does the first
//! command that needs them): a binary copied anywhere, its source tree gone, still has its
//! model. Without the feature, [`install`] copies them from the source tree the binary was
//! built from, when that tree is still there.

use crate::Home;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Result};

/// The files of the default learned model, in the order they are installed (the
/// surrogate last: its presence is what marks a complete model directory).
pub const FILES: [&str; 7] = [
    "tokenizer.json",
    "inverter.json",
    "inverter.safetensors",
    "corrector.json",
    "corrector.safetensors",
    "surrogate.json",
    "surrogate.safetensors",
];

/// The source tree's copy of the default model (used only where the bytes are not
/// embedded, and as a last resort when nothing is installed).
pub fn source_tree_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/latent")
}

/// Where [`install`] puts the default model: `$VEC2PROMPT_HOME/models/latent`.
pub fn installed_dir(home: &Home) -> PathBuf {
    home.models_dir().join("latent")
}

#[cfg(feature = "embedded-latent")]
macro_rules! asset {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../assets/latent/",
                $name
            ))
            .as_slice(),
        )
    };
}

/// The embedded files, in [`FILES`] order, or `None` when built without the
/// `embedded-latent` feature.
pub fn embedded() -> Option<[(&'static str, &'static [u8]); 7]> {
    #[cfg(feature = "embedded-latent")]
    {
        Some([
            asset!("tokenizer.json"),
            asset!("inverter.json"),
            asset!("inverter.safetensors"),
            asset!("corrector.json"),
            asset!("corrector.safetensors"),
            asset!("surrogate.json"),
            asset!("surrogate.safetensors"),
        ])
    }
    #[cfg(not(feature = "embedded-latent"))]
    {
        None
    }
}

/// One file of the model: its name and its bytes.
type NamedBytes = (&'static str, Cow<'static, [u8]>);

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatentOutcome {
    /// The installed files already equal this binary's default model.
    AlreadyPresent(PathBuf),
    /// The default model was written into the directory (from the embedded bytes or the
    /// source tree, named by `source`).
    Installed {
        /// The model directory.
        path: PathBuf,
        /// `embedded` or the source directory.
        source: String,
    },
    /// Neither embedded bytes nor the source tree's copy is available.
    Unavailable,
}

/// Installs the default learned model into [`installed_dir`], unless the files there
/// already equal it byte for byte (a binary with another default model replaces them).
/// Each file is written atomically, the surrogate last, so an interrupted install is
/// never taken for a model.
pub fn install(home: &Home) -> Result<LatentOutcome> {
    let dir = installed_dir(home);
    let (files, source): (Vec<NamedBytes>, String) = match embedded() {
        Some(files) => (
            files.iter().map(|&(n, b)| (n, Cow::Borrowed(b))).collect(),
            "embedded".to_string(),
        ),
        None => {
            let src = source_tree_dir();
            if !src.join("surrogate.safetensors").exists() {
                return Ok(LatentOutcome::Unavailable);
            }
            let mut files = Vec::new();
            for name in FILES {
                let p = src.join(name);
                let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
                files.push((name, Cow::Owned(bytes)));
            }
            (files, src.display().to_string())
        }
    };
    let same = files
        .iter()
        .all(|(n, b)| std::fs::read(dir.join(n)).is_ok_and(|on_disk| on_disk[..] == b[..]));
    if same {
        return Ok(LatentOutcome::AlreadyPresent(dir));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // The surrogate marks a model directory: remove it first so a half-replaced directory
    // is never loaded as a mix of two models.
    let marker = dir.join("surrogate.safetensors");
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
    }
    for (name, bytes) in &files {
        vec2prompt_core::write_atomic(&dir.join(name), bytes)?;
    }
    Ok(LatentOutcome::Installed { path: dir, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_writes_the_default_model_once_and_repairs_it() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().to_path_buf());
        let first = install(&home).unwrap();
        let dir = installed_dir(&home);
        assert!(
            matches!(&first, LatentOutcome::Installed { path, .. } if *path == dir),
            "{first:?}"
        );
        for name in FILES {
            assert!(dir.join(name).exists(), "{name} missing");
        }
        assert_eq!(
            install(&home).unwrap(),
            LatentOutcome::AlreadyPresent(dir.clone())
        );
        // A damaged file is detected and replaced.
        std::fs::write(dir.join("inverter.json"), b"{}").unwrap();
        assert!(matches!(
            install(&home).unwrap(),
            LatentOutcome::Installed { .. }
        ));
        let expected = std::fs::read(source_tree_dir().join("inverter.json")).unwrap();
        assert_eq!(std::fs::read(dir.join("inverter.json")).unwrap(), expected);
    }

    #[cfg(feature = "embedded-latent")]
    #[test]
    fn embedded_bytes_are_the_source_tree_files() {
        for (name, bytes) in embedded().unwrap() {
            let on_disk = std::fs::read(source_tree_dir().join(name)).unwrap();
            assert!(on_disk == bytes, "{name} differs from assets/latent");
        }
    }
}
