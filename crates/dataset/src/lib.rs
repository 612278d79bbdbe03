//! Data ingest of vec2prompt: instruction/response datasets (Stanford Alpaca JSON, JSONL,
//! CSV) read into [`Record`]s that carry the evaluation split.
//!
//! Every row of a source file ends up either as a [`Record`] or as a [`Skip`] with its
//! position and the reason, so nothing is dropped silently
//! (`rows == accepted + skipped.len()`). The split depends only on a row's position in the
//! file (test: `i % 100 == 7`, validation: `i % 100 == 13`, train: the rest), and skipped
//! rows still count, so fixing or removing a bad row never moves another record between
//! train and test.
//!
//! - [`mod@ingest`]: reads a file row by row: `Record {id, index, prompt, output, tokens, type,
//!   split}` or `Skip {index, line, kind, reason}`, never nothing; duplicate ids and strict
//!   mode. It drives the format readers (`alpaca_json`, `jsonl`, `csv_rows`) through a
//!   `Collector` that they call back, and every format's row goes through the one row
//!   validation (`row`), so the same data gives the same records in every format. These
//!   files import each other by design; `scripts/check-arch` allows import circles among
//!   them and nowhere else.
//! - [`format`]: the formats and how one is chosen for a path; `source`: reading a file
//!   whole with the checks every format shares (exists, readable, UTF-8, not empty).
//! - [`record`], [`split`], [`report`]: the record, its split, the ingest report.
//! - [`records_file`]: `records.jsonl`, written with `vec2prompt_core::write_atomic_with`.
//!
//! ```no_run
//! use std::path::Path;
//! use vec2prompt_dataset::{IngestOptions, ingest, write_records};
//!
//! let (records, report) = ingest(Path::new("alpaca_data.json"), &IngestOptions::default())?;
//! eprintln!("{}", report.summary());
//! write_records(Path::new("records.jsonl"), &records)?;
//! # Ok::<(), vec2prompt_core::Error>(())
//! ```

mod alpaca_json;
mod csv_rows;
pub mod format;
pub mod ingest;
mod jsonl;
pub mod record;
pub mod records_file;
pub mod report;
mod row;
mod source;
pub mod split;

pub use format::Format;
pub use ingest::{DEFAULT_MAX_FIELD_BYTES, IngestOptions, ingest};
pub use record::{Record, RecordKind, compose_prompt, word_count};
pub use records_file::{read_records, write_records};
pub use report::{IngestReport, Skip, SkipKind};
pub use split::{Split, SplitCounts};
