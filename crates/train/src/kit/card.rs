//! Model cards, written one way for every trainer: a title, the exact command, bullet
//! items (data, shape, steps, scores), the licence the training data passes on, and the
//! validation history as a table.

use super::checkpoint::EpochLog;
use std::fmt::{Display, Write as _};

/// The licence line of every card: the weights carry the training data's terms.
pub const LICENCE: &str = "the weights carry the licence of the data they were trained on; the shipped models were trained on Stanford Alpaca (CC BY-NC 4.0: research and non-commercial use). For other uses, ingest your own data (`vec2prompt dataset ingest`) and train on it (`vec2prompt train`)";

/// A model card being written (Markdown).
#[derive(Debug, Default, Clone)]
pub struct Card {
    text: String,
}

impl Card {
    /// A card titled `title` for the run made by `command`.
    pub fn new(title: &str, command: &str) -> Self {
        let mut c = Self::default();
        let _ = writeln!(c.text, "## {title}\n");
        c.item("command", format_args!("`{command}`"));
        c
    }

    /// A bullet `- label: text`.
    pub fn item(&mut self, label: &str, text: impl Display) -> &mut Self {
        let _ = writeln!(self.text, "- {label}: {text}");
        self
    }

    /// A bullet of free text.
    pub fn line(&mut self, text: impl Display) -> &mut Self {
        let _ = writeln!(self.text, "- {text}");
        self
    }

    /// The licence bullet ([`LICENCE`]).
    pub fn licence(&mut self) -> &mut Self {
        self.item("licence", LICENCE)
    }

    /// The validation history: one row per evaluation, by step (`by_epoch` adds the epoch
    /// column), the validation loss column named `val_label`.
    pub fn history(&mut self, history: &[EpochLog], by_epoch: bool, val_label: &str) -> &mut Self {
        self.text.push('\n');
        if by_epoch {
            let _ = writeln!(
                self.text,
                "| epoch | step | train loss | {val_label} | wall s |\n|---:|---:|---:|---:|---:|"
            );
        } else {
            let _ = writeln!(
                self.text,
                "| step | train loss (since last) | {val_label} | wall s |\n|---:|---:|---:|---:|"
            );
        }
        for h in history {
            let epoch = if by_epoch {
                format!("{} | ", h.epoch + 1)
            } else {
                String::new()
            };
            let _ = writeln!(
                self.text,
                "| {epoch}{} | {:.4} | {:.4} | {:.0} |",
                h.step, h.train_loss, h.val_loss, h.wall_seconds
            );
        }
        self
    }

    /// The finished Markdown.
    pub fn finish(&self) -> String {
        self.text.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_holds_its_command_items_licence_and_history_rows() {
        let history = [EpochLog {
            epoch: 0,
            step: 10,
            train_loss: 1.5,
            val_loss: 1.25,
            wall_seconds: 3.0,
        }];
        let text = Card::new("surrogate", "vec2prompt train surrogate")
            .item("data", "train split")
            .licence()
            .history(&history, true, "validation loss")
            .finish();
        assert!(text.starts_with(
            "## surrogate\n\n- command: `vec2prompt train surrogate`\n- data: train split\n"
        ));
        assert!(text.contains("CC BY-NC 4.0"));
        assert!(text.contains("| 1 | 10 | 1.5000 | 1.2500 | 3 |"), "{text}");
        let steps = Card::new("g", "c").history(&history, false, "v").finish();
        assert!(steps.contains("| step | train loss (since last) | v | wall s |"));
        assert!(steps.contains("| 10 | 1.5000 | 1.2500 | 3 |"), "{steps}");
    }
}
