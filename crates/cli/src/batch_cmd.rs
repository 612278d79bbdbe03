//! `vec2prompt batch`: one prompt per row of a file of target vectors or texts (JSONL,
//! `.npy`, Parquet), written as JSONL. The job resumes where it stopped, a bad row gets an
//! error line and never stops the job, `--shard i/N` splits one file over N workers, and
//! `--workers` runs several searches at once against remote backends (their shared rate
//! limiter and retries apply).

use crate::batch::input::{self, Fields, Format, Payload, Row};
use crate::batch::output::Output;
use crate::batch::{Shard, check_dimension, plan};
use crate::config::Config;
use crate::session::{GenerateOptions, Generated, Session, Variant, error_type};
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;
use vec2prompt_core::progress::Progress;

/// Arguments of `batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Input file: .jsonl ({"id", "embedding"} or {"id", "text"} per line), .npy (a
    /// float32 matrix, one target per row) or .parquet (an id column and an embedding
    /// list column or a text column).
    pub input: PathBuf,
    /// Output JSONL [default: the input's name with `.prompts.jsonl`]. An existing file is
    /// resumed: the rows it holds are skipped.
    #[clap(long, short)]
    pub out: Option<PathBuf>,
    /// The input's format [default: from its extension].
    #[clap(long, value_enum)]
    pub format: Option<Format>,
    /// Most LLM calls per target; 0 is fast mode (predicted similarity, no LLM call).
    #[clap(long, default_value_t = 0)]
    pub budget: usize,
    /// Candidate prompts written beside the chosen one.
    #[clap(long, default_value_t = 0)]
    pub variants: usize,
    /// Also write the LLM's answer to each measured prompt.
    #[clap(long)]
    pub answers: bool,
    /// This worker's shard `i/N` (0 ≤ i < N): the rows whose position modulo N is i,
    /// written to `<out>.shard-i-of-N.jsonl`.
    #[clap(long, value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Targets searched together (their LLM calls share forward passes).
    #[clap(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch_size: u64,
    /// Searches run at once. Useful with remote backends, whose shared limiter and
    /// retries hold their rate limits; a local LLM batches within one search instead.
    #[clap(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: u64,
    /// Stop after this many rows of the shard (with those already written).
    #[clap(long)]
    pub limit: Option<usize>,
    /// Id field (JSONL) or column (Parquet).
    #[clap(long, default_value = "id")]
    pub id_field: String,
    /// Embedding field (JSONL) or list column (Parquet).
    #[clap(long, default_value = "embedding")]
    pub embedding_field: String,
    /// Text field (JSONL) or column (Parquet).
    #[clap(long, default_value = "text")]
    pub text_field: String,
    /// For .npy: a file of ids, one per line, in row order [default: the row numbers].
    #[clap(long)]
    pub ids: Option<PathBuf>,
    /// Ingested dataset whose train prompts join the candidates [default:
    /// $VEC2PROMPT_HOME/datasets/alpaca when it exists].
    #[clap(long, env = "VEC2PROMPT_DATASET")]
    pub dataset: Option<PathBuf>,
    /// Seed of the generator's sampling.
    #[clap(long, default_value_t = 0)]
    pub seed: u64,
    /// The cosine a request built around a word list ("Describe a, b and c.") must beat
    /// every other candidate by to be answered or chosen, in [0, 2]: 0 ranks every source
    /// alike, 2 keeps the templates as a fallback.
    #[clap(long, env = "VEC2PROMPT_CONTENT_MARGIN", default_value_t = vec2prompt_search::DEFAULT_CONTENT_MARGIN, value_parser = crate::session::parse_content_margin)]
    pub content_margin: f32,
}

/// The default output of `input`: `users.npy` → `users.prompts.jsonl`.
fn default_out(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or_else(|| "batch".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}.prompts.jsonl"))
}

/// One output line: the id and row, then either the result or the error.
#[derive(Serialize)]
struct Line {
    id: Option<String>,
    row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<String>,
    /// Measured when `measured`, else the surrogate's prediction.
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    measured: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    llm_calls: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variants: Option<Vec<Variant>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'static str>,
}

impl Line {
    fn empty(r: &Row) -> Self {
        Self {
            id: r.id.clone(),
            row: r.row,
            prompt: None,
            similarity: None,
            measured: None,
            llm_calls: None,
            method: None,
            variants: None,
            answer: None,
            error: None,
            error_type: None,
        }
    }
}

fn error_line(r: &Row, error: &str, kind: &'static str) -> Line {
    Line {
        error: Some(error.to_string()),
        error_type: Some(kind),
        ..Line::empty(r)
    }
}

fn result_line(r: &Row, g: Generated, answers: bool, variants: bool) -> Line {
    Line {
        prompt: Some(g.prompt),
        similarity: Some(g.similarity),
        measured: Some(g.measured),
        llm_calls: Some(g.llm_calls),
        method: Some(g.method),
        variants: variants.then_some(g.variants),
        answer: g.answer.filter(|_| answers),
        ..Line::empty(r)
    }
}

/// The lines of one chunk of rows. A bad row or target becomes an error line; a failing
/// backend is an error of the job (its rows stay unwritten, so a re-run retries them).
fn process(
    session: &Session,
    rows: Vec<Row>,
    options: &GenerateOptions,
    answers: bool,
) -> Result<Vec<Line>> {
    let mut lines = Vec::with_capacity(rows.len());
    // The rows to search and their vectors, side by side; texts are embedded first.
    let mut targets: Vec<Row> = Vec::new();
    let mut vectors: Vec<Vec<f32>> = Vec::new();
    let mut texts: Vec<(Row, String)> = Vec::new();
    for mut r in rows {
        match std::mem::replace(&mut r.payload, Payload::Bad(String::new())) {
            Payload::Bad(why) => lines.push(error_line(&r, &why, "invalid_input")),
            Payload::Text(t) if t.trim().is_empty() => {
                lines.push(error_line(&r, "the text is empty", "invalid_input"));
            }
            Payload::Text(t) => texts.push((r, t)),
            Payload::Vector(v) => {
                targets.push(r);
                vectors.push(v);
            }
        }
    }
    if !texts.is_empty() {
        let (rows, strings): (Vec<Row>, Vec<String>) = texts.into_iter().unzip();
        vectors.extend(session.embed(&strings).context("the embedder failed")?);
        targets.extend(rows);
    }
    for (r, result) in targets.iter().zip(session.generate(&vectors, options)) {
        match result {
            Ok(g) => lines.push(result_line(r, g, answers, options.variants > 0)),
            Err(e) if error_type(&e) == "invalid_input" => {
                lines.push(error_line(r, &format!("{e:#}"), "invalid_input"));
            }
            Err(e) => return Err(e.context(format!("row {} failed", r.row))),
        }
    }
    Ok(lines)
}

/// Runs `batch`.
pub fn run(args: &BatchArgs, config: &Config) -> Result<()> {
    let started = Instant::now();
    let format = match args.format {
        Some(f) => f,
        None => Format::of(&args.input)?,
    };
    let shard = args.shard.unwrap_or(Shard::ALL);
    let out = shard.output_path(&args.out.clone().unwrap_or_else(|| default_out(&args.input)));
    let fields = Fields {
        id: args.id_field.clone(),
        embedding: args.embedding_field.clone(),
        text: args.text_field.clone(),
    };
    let rows = input::read(&args.input, format, &fields, args.ids.as_deref())?;
    let mut output = Output::open(&out)?;
    if output.dropped_bytes > 0 {
        eprintln!(
            "{}: dropped a cut-short last line ({} bytes); its row is done again",
            out.display(),
            output.dropped_bytes
        );
    }
    let mut plan = plan(rows, shard, &output)?;
    let session = Session::open(config.clone(), args.dataset.as_deref())?;
    check_dimension(&plan.todo, session.dimension())?;
    if let Some(limit) = args.limit {
        plan.todo.truncate(limit.saturating_sub(plan.done));
    }
    eprintln!(
        "batch: {} rows in shard {}/{}, {} already in {}, {} to do (budget {}, loaded in {:.1} s)",
        plan.in_shard,
        shard.index,
        shard.count,
        plan.done,
        out.display(),
        plan.todo.len(),
        args.budget,
        started.elapsed().as_secs_f64()
    );
    let options = GenerateOptions {
        budget: args.budget,
        variants: args.variants,
        seed: args.seed,
        max_seconds: None,
        content_margin: args.content_margin,
    };
    let chunks: Vec<Vec<Row>> = plan
        .todo
        .chunks(args.batch_size as usize)
        .map(<[Row]>::to_vec)
        .collect();
    let total_todo = plan.todo.len();
    let queue = Mutex::new(chunks.into_iter());
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Result<Vec<Line>>>();
    let mut progress = Progress::new("batch", plan.in_shard);
    progress.set(plan.done);
    let work_started = Instant::now();
    let (mut written, mut errors) = (0usize, 0usize);
    let mut failure: Option<anyhow::Error> = None;
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..args.workers {
            let tx = tx.clone();
            let (queue, stop, session, options) = (&queue, &stop, &session, &options);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some(chunk) = next else { break };
                    if tx
                        .send(process(session, chunk, options, args.answers))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for result in rx {
            match result {
                Ok(lines) => {
                    for l in lines {
                        errors += usize::from(l.error.is_some());
                        output.append(l.row, l.id.as_deref(), &l)?;
                        written += 1;
                    }
                    progress.set(plan.done + written);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
        }
        Ok(())
    })?;
    progress.finish();
    let secs = work_started.elapsed().as_secs_f64();
    eprintln!(
        "batch: wrote {written} lines ({errors} errors) to {} in {secs:.1} s ({:.1} ms per row; {} of {} rows of the shard done)",
        out.display(),
        1e3 * secs / written.max(1) as f64,
        plan.done + written,
        plan.in_shard
    );
    let remote = config.limiter.stats();
    if remote.requests > 0 {
        // Remote backends: what the job cost them (every HTTP attempt counts).
        eprintln!(
            "batch: remote requests {} ({} retried, {} waited {:.1} s in all), tokens {}",
            remote.requests,
            remote.retries,
            remote.waits,
            remote.wait_time.as_secs_f64(),
            remote.tokens
        );
    }
    if let Some(e) = failure {
        return Err(e.context(format!(
            "the job stopped with {} of {} rows left; run the same command again to resume",
            total_todo - written,
            total_todo
        )));
    }
    Ok(())
}
