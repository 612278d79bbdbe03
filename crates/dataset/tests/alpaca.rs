//! Ingest of the real Stanford Alpaca file, when it is present.

use std::path::PathBuf;
use std::time::Instant;
use vec2prompt_dataset::{Format, IngestOptions, RecordKind, SkipKind, Split, ingest};

/// `$VEC2PROMPT_ALPACA`, else `shared/data/alpaca_data.json` next to the workspace (the
/// checkout's own `shared/`, or the one beside it).
fn alpaca_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VEC2PROMPT_ALPACA").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        "../../shared/data/alpaca_data.json",
        "../../../shared/data/alpaca_data.json",
    ]
    .iter()
    .map(|relative| crate_dir.join(relative))
    .find(|path| path.exists())
}

#[test]
fn real_alpaca_file_ingests_completely() {
    let Some(path) = alpaca_path() else {
        eprintln!(
            "alpaca_data.json not found (set VEC2PROMPT_ALPACA to its path): skipping the \
             real-data test"
        );
        return;
    };
    let start = Instant::now();
    let (records, report) = ingest(&path, &IngestOptions::default()).unwrap();
    eprintln!("ingest of {} took {:?}", path.display(), start.elapsed());
    eprintln!("{}", report.summary());
    assert_eq!(report.format, Format::AlpacaJson);
    assert_eq!(report.rows, 52_002);
    // Alpaca has 28 rows with an empty output (none in test or validation): skipped by
    // default, every one reported.
    assert_eq!(report.accepted, 52_002 - 28);
    assert_eq!(report.skipped.len(), 28);
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.kind == SkipKind::EmptyOutput)
    );
    assert_eq!(report.skipped[0].index, 284);
    assert_eq!(report.by_split.test, 520);
    assert_eq!(report.by_split.validation, 520);
    assert_eq!(
        records.iter().filter(|r| r.split == Split::Test).count(),
        520
    );
    assert_eq!(records[7].split, Split::Test);
    assert_eq!(records[13].split, Split::Validation);
    assert_eq!(records[0].prompt, "Give three tips for staying healthy.");
    let with_input = records
        .iter()
        .filter(|r| r.kind == RecordKind::InstructionInput)
        .collect::<Vec<_>>();
    assert_eq!(with_input.len(), 20_679 - 16);
    assert!(with_input.iter().all(|r| r.prompt.contains("\n\n")));
    assert!(records.iter().all(|r| r.id == r.index.to_string()));
    assert!(records.iter().all(|r| r.split == Split::of_index(r.index)));
    assert_eq!(
        records
            .iter()
            .filter(|r| r.kind == RecordKind::Instruction)
            .count(),
        52_002 - 20_679 - 12
    );

    let keep_empty = IngestOptions {
        allow_empty_output: true,
        ..IngestOptions::default()
    };
    let start = Instant::now();
    let (all, report) = ingest(&path, &keep_empty).unwrap();
    eprintln!("ingest keeping empty outputs took {:?}", start.elapsed());
    assert_eq!(
        (report.rows, report.accepted, all.len()),
        (52_002, 52_002, 52_002)
    );
    assert_eq!(
        (report.by_split.test, report.by_split.validation),
        (520, 520)
    );
    assert_eq!(all[7].split, Split::Test);
    assert_eq!(all[284].output, "");
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, r)| r.index == i && r.id == i.to_string())
    );
}
