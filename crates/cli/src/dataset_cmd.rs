//! `vec2prompt ingest` and `vec2prompt search`: the dataset pipeline.

use crate::common::{IndexKind, SplitArg, build_index, load_dataset, records_path};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;
use vec2prompt_core::progress::Progress;
use vec2prompt_core::write_atomic;
use vec2prompt_core::{Embedder, TargetVector};
use vec2prompt_dataset::{Format, IngestOptions, Record, write_records};
use vec2prompt_store::EmbeddingStore;

/// The two embedded text columns of a dataset.
pub const COLUMNS: [&str; 2] = ["outputs", "prompts"];

/// Arguments of `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Source file: Alpaca JSON, JSONL or CSV (prompt/output or instruction/input/output).
    #[clap(long, env = "VEC2PROMPT_DATA")]
    pub input: PathBuf,
    /// Dataset directory to write (records.jsonl, ingest_report.json, embeddings/).
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// Source format [default: from the file extension].
    #[clap(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Fail on the first malformed row instead of skipping it.
    #[clap(long)]
    pub strict: bool,
    /// Keep only the first N rows of the source (their split is unchanged).
    #[clap(long)]
    pub limit: Option<usize>,
    /// Only write the records; do not embed.
    #[clap(long)]
    pub no_embed: bool,
    /// Texts embedded and written per batch (each batch is flushed to disk).
    #[clap(long, default_value_t = 200)]
    pub batch: usize,
}

/// Source formats on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// A JSON array of {instruction, input, output} (Stanford Alpaca).
    Alpaca,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

/// Texts of one column, in record order.
pub fn column_texts(records: &[Record], column: &str) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            if column == "outputs" {
                r.output.clone()
            } else {
                r.prompt.clone()
            }
        })
        .collect()
}

/// Runs `ingest`.
pub fn ingest(args: &IngestArgs, config: &Config) -> Result<()> {
    let format = args.format.map(|f| match f {
        FormatArg::Alpaca => Format::AlpacaJson,
        FormatArg::Jsonl => Format::Jsonl,
        FormatArg::Csv => Format::Csv,
    });
    let options = IngestOptions {
        format,
        strict: args.strict,
        ..IngestOptions::default()
    };
    let t = Instant::now();
    let (mut records, report) = vec2prompt_dataset::ingest(&args.input, &options)?;
    if let Some(n) = args.limit {
        records.retain(|r| r.index < n);
    }
    eprintln!("{}", report.summary());
    if records.is_empty() {
        bail!("no usable records in {}", args.input.display());
    }
    std::fs::create_dir_all(&args.dataset)
        .with_context(|| format!("cannot create --dataset {}", args.dataset.display()))?;
    write_records(&records_path(&args.dataset), &records)?;
    write_atomic(
        &args.dataset.join("ingest_report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    eprintln!(
        "wrote {} records to {} in {:.1} s",
        records.len(),
        records_path(&args.dataset).display(),
        t.elapsed().as_secs_f64()
    );
    if args.no_embed {
        return Ok(());
    }
    let embedder = config.load_embedder()?;
    let mut store = EmbeddingStore::open(&args.dataset, embedder.info())?;
    for column in COLUMNS {
        let texts = column_texts(&records, column);
        let mut progress = Progress::new(&format!("embed {column}"), texts.len());
        let t = Instant::now();
        let r = store.fill(column, &texts, &embedder, args.batch, &mut |done, _| {
            progress.set(done)
        })?;
        progress.finish();
        let secs = t.elapsed().as_secs_f64();
        if r.embedded == 0 {
            eprintln!("{column}: {} already stored, 0 embedded", r.already);
        } else {
            eprintln!(
                "{column}: {} already stored, {} embedded in {secs:.1} s ({:.1} texts/s)",
                r.already,
                r.embedded,
                r.embedded as f64 / secs.max(1e-9)
            );
        }
    }
    Ok(())
}

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Dataset directory made by `ingest`.
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: PathBuf,
    /// Query text (embedded with the dataset's embedder).
    #[clap(long, conflicts_with = "vector_file")]
    pub text: Option<String>,
    /// Query vector as JSON.
    #[clap(long)]
    pub vector_file: Option<PathBuf>,
    /// Number of results.
    #[clap(short = 'k', long, default_value_t = 5)]
    pub k: usize,
    /// Records to search.
    #[clap(long, value_enum, default_value = "train")]
    pub split: SplitArg,
    /// Which vectors to search: outputs or prompts.
    #[clap(long, default_value = "outputs")]
    pub column: String,
    /// Index kind.
    #[clap(long, value_enum, default_value = "flat")]
    pub index: IndexKind,
    /// Print JSON lines instead of text.
    #[clap(long)]
    pub json: bool,
}

fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ");
    match one_line.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// Runs `search`.
pub fn search(args: &SearchArgs, config: &Config) -> Result<()> {
    if !COLUMNS.contains(&args.column.as_str()) {
        bail!("--column must be outputs or prompts, not {:?}", args.column);
    }
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    let embedder = config.load_embedder()?;
    let dim = embedder.info().dimension;
    let query = match (&args.text, &args.vector_file) {
        (Some(t), None) => {
            vec2prompt_core::text::require_non_empty("--text", t)?;
            embedder.embed_one(t)?
        }
        (None, Some(f)) => TargetVector::from_file("--vector-file", f, dim)?.values,
        _ => bail!("give the query with --text TEXT or --vector-file VECTOR.json"),
    };
    let (records, vectors) = load_dataset(&args.dataset, &args.column, &embedder)?;
    let index = build_index(&records, &vectors, dim, args.split, args.index)?;
    let t = Instant::now();
    let hits = index.search(&query, args.k)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    for (rank, h) in hits.iter().enumerate() {
        let r = &records[h.id as usize];
        if args.json {
            let line = serde_json::json!({"rank": rank + 1, "score": h.score, "id": r.id, "index": r.index,
                "split": r.split, "prompt": r.prompt, "output": r.output});
            println!("{line}");
        } else {
            println!(
                "{:>2}. {:.4}  [{} #{}]  {}",
                rank + 1,
                h.score,
                r.id,
                r.index,
                clip(&r.prompt, 90)
            );
            println!("          → {}", clip(&r.output, 90));
        }
    }
    if !args.json {
        eprintln!("searched {} vectors in {ms:.1} ms", index.len());
    }
    Ok(())
}
