//! One instruction/response example, and the rule that turns an Alpaca row into
//! the prompt a method is scored against.

use crate::split::Split;
use serde::{Deserialize, Serialize};

/// One accepted row of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The row's own `id` field or column when the source has one, else the row index as a
    /// string. Unique within one ingest.
    pub id: String,
    /// 0-based position of the row in the source file (file order, counting every row, also
    /// malformed ones, so the split never shifts).
    pub index: usize,
    /// The prompt that produced `output`: see [`compose_prompt`] for Alpaca-style rows, or
    /// the `prompt` field as given.
    pub prompt: String,
    /// The response, exactly as in the source (not trimmed).
    pub output: String,
    /// Whitespace-separated words in `prompt` plus `output` ([`word_count`]): a cheap length
    /// measure for statistics and budgets, not a count of any model's tokens.
    pub tokens: usize,
    /// Which kind of source row this came from.
    #[serde(rename = "type")]
    pub kind: RecordKind,
    /// The evaluation split, [`Split::of_index`] of `index`.
    pub split: Split,
}

/// The shape of the source row a [`Record`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// `instruction` + `output` with an empty (or absent) `input`.
    Instruction,
    /// `instruction` + non-empty `input` + `output`.
    InstructionInput,
    /// `prompt` + `output`.
    Prompt,
}

/// The prompt of an Alpaca row is `instruction` if `input` is empty, else
/// `instruction + "\n\n" + input`.
///
/// An `input` of only whitespace counts as empty, because it carries no content and
/// joining it would only append blank lines. Texts are otherwise kept verbatim.
pub fn compose_prompt(instruction: &str, input: &str) -> (String, RecordKind) {
    if input.trim().is_empty() {
        (instruction.to_string(), RecordKind::Instruction)
    } else {
        let mut prompt = String::with_capacity(instruction.len() + 2 + input.len());
        prompt.push_str(instruction);
        prompt.push_str("\n\n");
        prompt.push_str(input);
        (prompt, RecordKind::InstructionInput)
    }
}

/// Number of whitespace-separated words in `text`: the length measure of
/// [`Record::tokens`].
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_gives_the_instruction_alone() {
        let (prompt, kind) = compose_prompt("Name three colors.", "");
        assert_eq!(prompt, "Name three colors.");
        assert_eq!(kind, RecordKind::Instruction);
    }

    #[test]
    fn whitespace_only_input_counts_as_empty() {
        let (prompt, kind) = compose_prompt("Name three colors.", " \n\t ");
        assert_eq!(prompt, "Name three colors.");
        assert_eq!(kind, RecordKind::Instruction);
    }

    #[test]
    fn input_is_joined_with_a_blank_line() {
        let (prompt, kind) = compose_prompt("Translate to French.", "Good morning");
        assert_eq!(prompt, "Translate to French.\n\nGood morning");
        assert_eq!(kind, RecordKind::InstructionInput);
    }

    #[test]
    fn words_are_counted_across_any_whitespace() {
        assert_eq!(word_count(""), 0);
        assert_eq!(word_count("  one\ttwo\n\nthree  "), 3);
    }

    #[test]
    fn kind_serializes_as_type_in_snake_case() {
        let record = Record {
            id: "1".into(),
            index: 1,
            prompt: "p".into(),
            output: "o".into(),
            tokens: 2,
            kind: RecordKind::InstructionInput,
            split: Split::Train,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""type":"instruction_input""#), "{json}");
    }
}
