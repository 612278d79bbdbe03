//! Opening a GGUF file with errors that name the file and say what is wrong.

use candle_core::quantized::gguf_file::{Content, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use vec2prompt_core::{Error, Result};

const HINT: &str = "give a GGUF file of the llama family (e.g. run `vec2prompt models fetch` \
    for the default SmolLM2-135M-Instruct)";

/// A parsed GGUF file: its metadata and tensor directory, and an open reader for the data.
pub struct GgufFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Metadata and tensor infos.
    pub content: Content,
    /// The open file, for reading tensors.
    pub reader: File,
}

impl GgufFile {
    /// Opens `path` and checks that every tensor lies inside the file (a truncated
    /// download is reported here, not as a crash later).
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::model(path, "is a directory, not a .gguf file", HINT));
        }
        let mut reader = File::open(path).map_err(|e| Error::model(path, e.to_string(), HINT))?;
        let len = reader.metadata().map_err(|e| Error::io(path, e))?.len();
        let content = Content::read(&mut reader)
            .map_err(|e| Error::model(path, format!("not a valid GGUF file: {e}"), HINT))?;
        for (name, info) in &content.tensor_infos {
            let elems = info.shape.elem_count();
            let bytes = elems / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
            let end = content.tensor_data_offset + info.offset + bytes as u64;
            if end > len {
                return Err(Error::model(
                    path,
                    format!(
                        "truncated: tensor {name} ends at byte {end} but the file has {len} bytes"
                    ),
                    "the download was cut short; fetch the model again",
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            content,
            reader,
        })
    }

    /// A required metadata value.
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| Error::model(&self.path, format!("metadata key {key} is missing"), HINT))
    }

    /// A required unsigned integer metadata value.
    pub fn get_usize(&self, key: &str) -> Result<usize> {
        let v = self.get(key)?;
        v.to_u32()
            .map(|x| x as usize)
            .or_else(|_| v.to_u64().map(|x| x as usize))
            .or_else(|_| v.to_i32().map(|x| x as usize))
            .map_err(|e| self.bad(key, e))
    }

    /// A required float metadata value.
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        let v = self.get(key)?;
        v.to_f32()
            .or_else(|_| v.to_f64().map(|x| x as f32))
            .map_err(|e| self.bad(key, e))
    }

    /// A required string metadata value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get(key)?
            .to_string()
            .map(|s| s.as_str())
            .map_err(|e| self.bad(key, e))
    }

    /// An error about metadata key `key`.
    pub fn bad(&self, key: &str, e: impl std::fmt::Display) -> Error {
        Error::model(&self.path, format!("metadata {key}: {e}"), HINT)
    }

    /// Reads a tensor, naming it in the error.
    pub fn tensor(
        &mut self,
        name: &str,
        device: &candle_core::Device,
    ) -> Result<candle_core::quantized::QTensor> {
        self.content
            .tensor(&mut self.reader, name, device)
            .map_err(|e| {
                Error::model(
                    &self.path,
                    format!("tensor {name} cannot be read ({e})"),
                    HINT,
                )
            })
    }

    /// Whether the file has a tensor called `name`.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }
}
