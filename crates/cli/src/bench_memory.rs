//! `bench --part memory`: where the resident memory of a server with every model loaded
//! goes, one component at a time, in the order `serve` loads them.
//!
//! After each step the allocator hands back what loading freed (as `serve` does), then
//! the process's resident set (`VmRSS`) is read; a row's value is what that step added.

use crate::config::Config;
use anyhow::{Context, Result};

/// The process's resident set in MB (`VmRSS` of `/proc/self/status`); `None` where the
/// system has no such file.
pub fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// One step's resident memory: what it added, and the total after it, in MB.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What was loaded.
    pub name: &'static str,
    /// MB the step added to the resident set.
    pub added_mb: f64,
    /// The resident set after the step, in MB.
    pub total_mb: f64,
}

/// Loads the server's components one at a time and measures each (the models stay
/// loaded until the end, as in a server, so sharing between them shows).
pub fn measure(config: &Config) -> Result<Vec<Step>> {
    let mut before = resident_mb().context("this system has no /proc/self/status to read")?;
    let mut steps = Vec::new();
    let mut record = |name: &'static str| {
        crate::freed::return_freed_memory();
        let now = resident_mb().unwrap_or(before);
        steps.push(Step {
            name,
            added_mb: now - before,
            total_mb: now,
        });
        eprintln!(
            "{name:<12} +{:>7.1} MB  (resident {now:.1} MB)",
            now - before
        );
        before = now;
    };
    record("start");
    let llm = config.load_llm()?;
    record("llm");
    let embedder = config.load_embedder()?;
    record("embedder");
    let latent = config.load_latent(false)?;
    record("latent");
    let generator = config.load_generator(false)?;
    record("generator");
    let lexicon = config.load_lexicon(embedder.as_ref(), false)?;
    record("lexicon");
    let optimizer = match crate::common::installed_optimizer_dir(&config.home) {
        Some(dir) => Some(crate::common::load_optimizer_model(config, &dir)?),
        None => None,
    };
    record("optimizer");
    // Everything stays alive until every step was measured.
    drop((llm, embedder, latent, generator, lexicon, optimizer));
    Ok(steps)
}
