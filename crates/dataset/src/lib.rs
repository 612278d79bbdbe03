//! Data ingest of vec2prompt: instruction/response datasets (Stanford Alpaca JSON, JSONL,
//! CSV) read into [`Record`]s that carry the evaluation split.
//!
//! Every row of a source file ends up either as a [`Record`] or as a [`Skip`] with its
//! position and the reason, so nothing is dropped silently
//! (`rows == accepted + skipped.len()`). The split depends only on a row's position in the
//! file, and skipped rows still count, so fixing or removing a bad row never moves another
//! record between train and test.
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
