//! The evaluation split, fixed by a row's position in its source file.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which part of the evaluation protocol a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Usable for training, retrieval pools and tuning (98% of the rows).
    Train,
    /// Held out for choosing settings (rows with `index % 100 == 13`).
    Validation,
    /// Held out for reported numbers only; never trained on (rows with `index % 100 == 7`).
    Test,
}

impl Split {
    /// Test if `index % 100 == 7`, validation if `index % 100 == 13`, else train.
    ///
    /// `index` is the 0-based position of the row in its source file, counting every row
    /// (malformed ones too), so the split of a record never depends on what else was skipped.
    pub fn of_index(index: usize) -> Split {
        match index % 100 {
            7 => Split::Test,
            13 => Split::Validation,
            _ => Split::Train,
        }
    }

    /// Snake-case name, as serialized (`train`, `validation`, `test`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Number of records in each split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Records in [`Split::Train`].
    pub train: usize,
    /// Records in [`Split::Validation`].
    pub validation: usize,
    /// Records in [`Split::Test`].
    pub test: usize,
}

impl SplitCounts {
    /// Counts one more record of `split`.
    pub fn add(&mut self, split: Split) {
        match split {
            Split::Train => self.train += 1,
            Split::Validation => self.validation += 1,
            Split::Test => self.test += 1,
        }
    }

    /// The count of `split`.
    pub fn get(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train,
            Split::Validation => self.validation,
            Split::Test => self.test,
        }
    }

    /// Records in all splits together.
    pub fn total(&self) -> usize {
        self.train + self.validation + self.test
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_the_index() {
        assert_eq!(Split::of_index(0), Split::Train);
        assert_eq!(Split::of_index(7), Split::Test);
        assert_eq!(Split::of_index(13), Split::Validation);
        assert_eq!(Split::of_index(107), Split::Test);
        assert_eq!(Split::of_index(113), Split::Validation);
        assert_eq!(Split::of_index(99), Split::Train);
        assert_eq!(Split::of_index(100), Split::Train);
    }

    #[test]
    fn alpaca_sized_split_has_520_test_and_validation_rows() {
        let mut counts = SplitCounts::default();
        (0..52_002).for_each(|i| counts.add(Split::of_index(i)));
        assert_eq!(counts.test, 520);
        assert_eq!(counts.validation, 520);
        assert_eq!(counts.train, 52_002 - 1_040);
        assert_eq!(counts.total(), 52_002);
        assert_eq!(counts.get(Split::Test), 520);
    }

    #[test]
    fn split_serializes_in_snake_case() {
        let json = serde_json::to_string(&[Split::Train, Split::Validation, Split::Test]).unwrap();
        assert_eq!(json, r#"["train","validation","test"]"#);
        assert_eq!(Split::Validation.to_string(), "validation");
    }
}
