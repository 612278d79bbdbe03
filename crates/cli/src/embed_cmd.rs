//! `vec2prompt embed`: lines of text → JSONL embeddings.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use vec2prompt_core::text;

/// Arguments of `embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Read lines from this file [default: stdin].
    #[clap(long)]
    pub input: Option<PathBuf>,
    /// Write JSONL here [default: stdout].
    #[clap(long)]
    pub output: Option<PathBuf>,
    /// Skip blank lines (reported on stderr) instead of failing on them.
    #[clap(long)]
    pub skip_empty: bool,
}

/// Runs `embed`: one JSON object per line, `{"line": n, "text": …, "embedding": […]}`.
pub fn run(args: &EmbedArgs, config: &Config) -> Result<()> {
    let mut bytes = Vec::new();
    match &args.input {
        Some(p) => {
            bytes =
                std::fs::read(p).with_context(|| format!("cannot read --input {}", p.display()))?
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")?;
        }
    }
    let input = text::utf8(
        args.input
            .as_ref()
            .map_or("stdin".into(), |p| p.display().to_string())
            .as_str(),
        bytes,
    )?;
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut skipped = 0;
    for (i, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            if args.skip_empty {
                skipped += 1;
                continue;
            }
            bail!(
                "line {} is empty; remove blank lines or pass --skip-empty",
                i + 1
            );
        }
        lines.push((i + 1, line.to_string()));
    }
    if lines.is_empty() {
        bail!("no text to embed: the input has no non-empty lines");
    }
    let embedder = config.load_embedder()?;
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create --output {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    // Chunks keep memory flat on large inputs and let output stream out.
    for chunk in lines.chunks(256) {
        let texts: Vec<String> = chunk.iter().map(|(_, t)| t.clone()).collect();
        let vectors = embedder.embed(&texts)?;
        for ((line, text), v) in chunk.iter().zip(vectors) {
            let obj = serde_json::json!({"line": line, "text": text, "embedding": v});
            writeln!(out, "{obj}")?;
        }
    }
    out.flush()?;
    if skipped > 0 {
        eprintln!("skipped {skipped} blank line(s)");
    }
    eprintln!(
        "embedded {} line(s) with {} ({} dimensions)",
        lines.len(),
        embedder.info().name,
        embedder.info().dimension
    );
    Ok(())
}
