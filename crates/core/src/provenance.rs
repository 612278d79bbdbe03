//! What made a report: the code's commit, the models' hashes and the command, so anyone
//! can regenerate it.

use serde::{Deserialize, Serialize};

/// The origin of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The git commit of the source tree the binary was run from ("unknown" outside a
    /// repository).
    pub commit: String,
    /// Whether that tree had uncommitted changes.
    pub dirty: bool,
    /// Each model file used, as (name, sha256).
    pub models: Vec<(String, String)>,
    /// The exact command.
    pub command: String,
}

impl Provenance {
    /// Markdown lines for a report's header.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "- commit: `{}`{}\n- command: `{}`\n",
            self.commit,
            if self.dirty {
                " (with uncommitted changes)"
            } else {
                ""
            },
            self.command
        );
        for (name, sha) in &self.models {
            s.push_str(&format!("- model `{name}`: sha256 `{sha}`\n"));
        }
        s
    }
}
