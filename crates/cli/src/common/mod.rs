//! Helpers every command shares, so that commands use this module and never each other:
//! the command line and time stamps recorded in reports, the machine's load and the base
//! model of the learned rewriters here; a dataset's records, embeddings, splits and index
//! in [`data`]; finding, loading and running the prompt optimizer in [`optimizer`];
//! measuring chosen prompts in [`measure`].

mod data;
mod measure;
mod optimizer;

pub use data::*;
pub use measure::measure;
pub use optimizer::*;

use anyhow::Result;
use std::path::PathBuf;

/// The command line as typed (arguments with spaces quoted), recorded in reports.
pub fn command_line() -> String {
    // Paths under the home directory are written `~/…`, so a report does not carry the
    // absolute home path of the machine it was made on.
    let home = std::env::var("HOME").ok().filter(|h| h.len() > 1);
    std::env::args()
        .map(|a| match &home {
            Some(h) => a.replace(&format!("{h}/"), "~/"),
            None => a,
        })
        .map(|a| if a.contains(' ') { format!("{a:?}") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Current UTC time as RFC 3339 (seconds), without a date-time dependency.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The system's load averages as the kernel reports them ("1.10 0.98 0.90"), or
/// "unknown" where there is no `/proc/loadavg`: reports say how busy the machine was
/// instead of assuming it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The optimizer's frozen base: the local GGUF of `backends.llm` (its adapters are
/// trained on those very weights, so a remote LLM cannot serve as the base).
pub fn base_model(config: &crate::config::Config) -> Result<PathBuf> {
    Ok(config
        .local_llm("the prompt optimizer's base model")?
        .0
        .to_path_buf())
}

/// The local LLM that scores how fluent a prompt reads (its perplexity as plain text), or
/// `None`, said on stderr, when the LLM is a remote service (no token probabilities here).
pub fn fluency_scorer(config: &crate::config::Config) -> Result<Option<vec2prompt_llm::LocalLlm>> {
    match config.local_llm("measuring prompt fluency") {
        Ok((path, c)) => Ok(Some(vec2prompt_llm::LocalLlm::load(path, c.clone())?)),
        Err(e) => {
            eprintln!("prompt fluency not measured: {e:#}");
            Ok(None)
        }
    }
}
