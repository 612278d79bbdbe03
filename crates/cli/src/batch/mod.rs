//! The parts of `vec2prompt batch` that do not need the models: reading the input
//! ([`input`]), the resumable output ([`output`]), shards, duplicate ids and what is left
//! to do ([`plan`]).

pub mod input;
pub mod output;

use anyhow::{Result, bail};
use input::{Payload, Row};
use output::Output;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One of `count` shards: the rows whose position modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 0.
    pub index: usize,
    /// At least 1.
    pub count: usize,
}

impl Shard {
    /// The whole input.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/N` (0 ≤ i < N).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not i/N (e.g. 0/4)"))?;
        let index: usize = i.trim().parse().map_err(|e| format!("{i:?}: {e}"))?;
        let count: usize = n.trim().parse().map_err(|e| format!("{n:?}: {e}"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: i must be in 0..N and N at least 1"
            ));
        }
        Ok(Self { index, count })
    }

    /// Whether `row` is in this shard.
    pub fn has(self, row: usize) -> bool {
        row % self.count == self.index
    }

    /// `out.jsonl` → `out.shard-1-of-4.jsonl`, so each shard writes its own file.
    pub fn output_path(self, out: &Path) -> PathBuf {
        if self.count == 1 {
            return out.to_path_buf();
        }
        let stem = out
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let ext = out
            .extension()
            .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
        out.with_file_name(format!(
            "{stem}.shard-{}-of-{}{ext}",
            self.index, self.count
        ))
    }
}

/// What a job has left to do.
#[derive(Debug)]
pub struct Plan {
    /// The rows of the shard not yet written, in input order.
    pub todo: Vec<Row>,
    /// Rows in the shard.
    pub in_shard: usize,
    /// Rows of the shard already in the output.
    pub done: usize,
}

/// The rows of `shard` that `output` does not hold yet. A repeated id makes the later row
/// bad (the first one keeps the id). An output line whose id differs from its input row's
/// means the output belongs to another input: an error.
pub fn plan(rows: Vec<Row>, shard: Shard, output: &Output) -> Result<Plan> {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut todo = Vec::new();
    let (mut in_shard, mut done) = (0, 0);
    for mut r in rows {
        if let Some(id) = &r.id {
            if let Some(&at) = first.get(id) {
                r.payload = Payload::Bad(format!("duplicate id {id:?}: first at row {at}"));
            } else {
                first.insert(id.clone(), r.row);
            }
        }
        if !shard.has(r.row) {
            continue;
        }
        in_shard += 1;
        match output.done(r.row) {
            Some(written) if written.as_deref() == r.id.as_deref() => done += 1,
            Some(written) => bail!(
                "the output's row {} has id {:?} but the input's has {:?}: the output was written for another input (choose another --out)",
                r.row,
                written,
                r.id
            ),
            None => todo.push(r),
        }
    }
    Ok(Plan {
        todo,
        in_shard,
        done,
    })
}

/// Fails when the first vector of the input does not have the embedder's dimension, so
/// a wrong file stops before any work; later rows of another length are bad rows.
pub fn check_dimension(rows: &[Row], dimension: usize) -> Result<()> {
    let first = rows.iter().find_map(|r| match &r.payload {
        Payload::Vector(v) => Some((r.row, v.len())),
        _ => None,
    });
    if let Some((row, len)) = first
        && len != dimension
    {
        bail!(
            "row {row}'s vector has {len} dimensions but the embedder produces {dimension}: the vectors must come from the same embedding model (see --embedder)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(row: usize, id: &str) -> Row {
        Row {
            row,
            id: Some(id.into()),
            payload: Payload::Vector(vec![1.0, 0.0]),
        }
    }

    #[test]
    fn shards_partition_the_rows_and_name_their_files() {
        let s = Shard::parse("1/3").unwrap();
        assert!(s.has(1) && s.has(4) && !s.has(3));
        assert!(Shard::parse("3/3").is_err() && Shard::parse("0/0").is_err());
        assert!(Shard::parse("2").is_err());
        assert_eq!(
            s.output_path(Path::new("d/out.jsonl")),
            PathBuf::from("d/out.shard-1-of-3.jsonl")
        );
        assert_eq!(
            Shard::ALL.output_path(Path::new("o.jsonl")),
            PathBuf::from("o.jsonl")
        );
        let dir = tempfile::tempdir().unwrap();
        let out = Output::open(&dir.path().join("o.jsonl")).unwrap();
        let rows: Vec<Row> = (0..10).map(|i| row(i, &format!("u{i}"))).collect();
        let mut seen = Vec::new();
        for i in 0..3 {
            let p = plan(rows.clone(), Shard { index: i, count: 3 }, &out).unwrap();
            seen.extend(p.todo.iter().map(|r| r.row));
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn duplicates_are_bad_and_done_rows_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        let mut out = Output::open(&path).unwrap();
        out.append(0, Some("a"), &serde_json::json!({"row": 0, "id": "a"}))
            .unwrap();
        let rows = vec![row(0, "a"), row(1, "b"), row(2, "a")];
        let p = plan(rows.clone(), Shard::ALL, &out).unwrap();
        assert_eq!((p.in_shard, p.done, p.todo.len()), (3, 1, 2));
        assert!(matches!(&p.todo[1].payload, Payload::Bad(m) if m.contains("first at row 0")));
        // An output written for other ids is refused.
        let other = vec![row(0, "z")];
        assert!(plan(other, Shard::ALL, &out).is_err());
    }

    #[test]
    fn the_first_vector_sets_the_dimension_check() {
        let rows = vec![
            Row {
                row: 0,
                id: None,
                payload: Payload::Bad("x".into()),
            },
            row(1, "b"),
        ];
        assert!(check_dimension(&rows, 2).is_ok());
        let e = check_dimension(&rows, 384).unwrap_err();
        assert!(
            e.to_string()
                .contains("2 dimensions but the embedder produces 384"),
            "{e}"
        );
    }
}
