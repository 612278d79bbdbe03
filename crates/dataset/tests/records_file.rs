//! The records file: JSONL round trip, atomic replacement and errors naming file and line.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tempfile::TempDir;
use vec2prompt_dataset::{Record, RecordKind, Split, read_records, write_records};

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            id: format!("{tag}-{i}"),
            index: i,
            prompt: format!("prompt {i}\n\nwith \"input\" ü"),
            output: format!("output {tag} {i}"),
            tokens: 7,
            kind: if i % 2 == 0 {
                RecordKind::InstructionInput
            } else {
                RecordKind::Prompt
            },
            split: Split::of_index(i),
        })
        .collect()
}

/// Names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn records_round_trip_as_jsonl_without_leftovers() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("records.jsonl");
    let written = records(120, "a");
    write_records(&path, &written).unwrap();
    assert_eq!(read_records(&path).unwrap(), written);
    assert_eq!(
        entries(dir.path()),
        ["records.jsonl"],
        "no temp file remains"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 120);
    assert!(
        text.lines()
            .all(|l| l.contains(r#""type":"#) && l.contains(r#""split":"#))
    );
    assert!(text.contains(r#""split":"test""#));
}

#[test]
fn ingested_records_round_trip() {
    let dir = TempDir::new().unwrap();
    let source = dir.path().join("in.jsonl");
    std::fs::write(
        &source,
        "{\"instruction\": \"A\", \"input\": \"x\", \"output\": \"a\"}\n{\"prompt\": \"B\", \"output\": \"b\", \"id\": 9}\n",
    )
    .unwrap();
    let (ingested, _) =
        vec2prompt_dataset::ingest(&source, &vec2prompt_dataset::IngestOptions::default()).unwrap();
    let path = dir.path().join("out.jsonl");
    write_records(&path, &ingested).unwrap();
    assert_eq!(read_records(&path).unwrap(), ingested);
}

#[test]
fn rewriting_replaces_the_whole_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("r.jsonl");
    write_records(&path, &records(50, "old")).unwrap();
    let new = records(3, "new");
    write_records(&path, &new).unwrap();
    assert_eq!(read_records(&path).unwrap(), new);
    write_records(&path, &[]).unwrap();
    assert_eq!(read_records(&path).unwrap(), []);
    assert_eq!(entries(dir.path()), ["r.jsonl"]);
}

#[test]
fn readers_see_either_the_old_or_the_new_complete_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("live.jsonl");
    let old = records(300, "old");
    let new = records(200, "new");
    write_records(&path, &old).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, old, new, done) = (path.clone(), old.clone(), new.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 20 {
                let seen = read_records(&path).unwrap();
                assert!(
                    seen == old || seen == new,
                    "torn read of {} records",
                    seen.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for round in 0..40 {
        let records = if round % 2 == 0 { &new } else { &old };
        write_records(&path, records).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 20);
    assert_eq!(entries(dir.path()), ["live.jsonl"]);
}

#[test]
fn a_failed_write_leaves_the_target_and_no_temp_file() {
    let dir = TempDir::new().unwrap();
    // Renaming a file over a non-empty directory fails after the temp file is written.
    let target = dir.path().join("occupied");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "x").unwrap();
    let err = write_records(&target, &records(5, "a")).unwrap_err();
    assert!(err.to_string().contains("occupied"), "{err}");
    assert_eq!(entries(dir.path()), ["occupied"]);
    assert_eq!(entries(&target), ["keep"]);

    let missing_dir = dir.path().join("nowhere").join("r.jsonl");
    let err = write_records(&missing_dir, &records(1, "a")).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[test]
fn read_errors_name_the_file_and_line() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("bad.jsonl");
    let good = serde_json::to_string(&records(1, "a")[0]).unwrap();
    std::fs::write(&path, format!("{good}\n\n{{\"id\": \"x\"}}\n")).unwrap();
    let err = read_records(&path).unwrap_err().to_string();
    assert!(err.contains("bad.jsonl") && err.contains("line 3"), "{err}");

    std::fs::write(&path, format!("{good}\nnot json\n")).unwrap();
    let err = read_records(&path).unwrap_err().to_string();
    assert!(err.contains("bad.jsonl") && err.contains("line 2"), "{err}");

    std::fs::write(&path, b"{\"id\": \"\xfe\"}\n").unwrap();
    let err = read_records(&path).unwrap_err().to_string();
    assert!(
        err.contains("bad.jsonl") && err.contains("offset 8"),
        "{err}"
    );

    let err = read_records(&dir.path().join("absent.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.jsonl"), "{err}");
}
