//! Source file formats and how one is chosen for a path.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use vec2prompt_core::{Error, Result};

/// The layout of a dataset file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON array of objects, as Stanford Alpaca's `alpaca_data.json` (`.json`).
    AlpacaJson,
    /// One JSON object per line (`.jsonl`, `.ndjson`); blank lines are not rows.
    Jsonl,
    /// Comma-separated values with a header row naming the columns (`.csv`).
    Csv,
}

impl Format {
    /// The format implied by the extension of `path` (case-insensitive): `.json` is Alpaca
    /// JSON, `.jsonl`/`.ndjson` JSONL, `.csv` CSV. Any other extension is an error that says
    /// how to choose a format explicitly.
    pub fn from_path(path: &Path) -> Result<Format> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("json") => Ok(Format::AlpacaJson),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            _ => Err(Error::invalid(
                format!("dataset file {}", path.display()),
                "cannot tell its format from the extension; name it .json (Alpaca JSON \
                 array), .jsonl/.ndjson (one object per line) or .csv (with a header), or \
                 choose the format explicitly",
            )),
        }
    }

    /// Snake-case name, as serialized and accepted by [`FromStr`].
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::AlpacaJson => "alpaca_json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Parses `alpaca_json` (also `alpaca`, `json`), `jsonl` (also `ndjson`) or `csv`,
    /// ignoring case, so a command line can override the extension.
    fn from_str(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alpaca_json" | "alpaca" | "json" => Ok(Format::AlpacaJson),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(Error::invalid(
                "format",
                format!("unknown dataset format {other:?}; use alpaca_json, jsonl or csv"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        let of = |p: &str| Format::from_path(Path::new(p)).unwrap();
        assert_eq!(of("a/alpaca_data.json"), Format::AlpacaJson);
        assert_eq!(of("x.JSON"), Format::AlpacaJson);
        assert_eq!(of("x.jsonl"), Format::Jsonl);
        assert_eq!(of("x.ndjson"), Format::Jsonl);
        assert_eq!(of("x.Csv"), Format::Csv);
    }

    #[test]
    fn unknown_extension_is_an_error_naming_the_file() {
        for p in ["data.txt", "data"] {
            let err = Format::from_path(Path::new(p)).unwrap_err().to_string();
            assert!(err.contains(p) && err.contains(".jsonl"), "{err}");
        }
    }

    #[test]
    fn format_names_parse() {
        assert_eq!("alpaca_json".parse::<Format>().unwrap(), Format::AlpacaJson);
        assert_eq!("JSONL".parse::<Format>().unwrap(), Format::Jsonl);
        assert_eq!("csv".parse::<Format>().unwrap(), Format::Csv);
        assert!("xml".parse::<Format>().is_err());
        for f in [Format::AlpacaJson, Format::Jsonl, Format::Csv] {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
    }
}
