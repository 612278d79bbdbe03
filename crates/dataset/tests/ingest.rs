//! Ingest of every format: identical records for identical data, the split, every kind of
//! malformed row (skipped and reported, or fatal in strict mode) and file-level errors.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use vec2prompt_core::ErrorType;
use vec2prompt_dataset::{
    Format, IngestOptions, IngestReport, Record, RecordKind, SkipKind, Split, ingest,
};

/// Writes `content` to `name` in `dir`.
fn file(dir: &TempDir, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn lenient() -> IngestOptions {
    IngestOptions::default()
}

fn strict() -> IngestOptions {
    IngestOptions {
        strict: true,
        ..IngestOptions::default()
    }
}

/// Ingests and checks the invariant every ingest keeps.
fn read(path: &Path, options: &IngestOptions) -> (Vec<Record>, IngestReport) {
    let (records, report) = ingest(path, options).unwrap();
    assert_eq!(report.rows, report.accepted + report.skipped.len());
    assert_eq!(report.accepted, records.len());
    assert_eq!(report.by_split.total(), records.len());
    (records, report)
}

fn error(path: &Path, options: &IngestOptions) -> String {
    ingest(path, options).unwrap_err().to_string()
}

/// Alpaca rows exercising quoting, commas, newlines, non-ASCII and whitespace-only input.
fn alpaca_rows() -> Vec<Value> {
    vec![
        json!({"instruction": "Give three tips for staying healthy.", "input": "",
               "output": "Eat well, sleep, move."}),
        json!({"instruction": "Translate to French.", "input": "Good \"morning\", all",
               "output": "Bonjour\nà tous"}),
        json!({"instruction": "Summarize.", "input": " \t ", "output": "Nothing to say."}),
        json!({"instruction": "  Add 2 and 3.  ", "input": "2, 3", "output": " 5 "}),
    ]
}

fn jsonl_text(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn csv_text(columns: &[&str], rows: &[Value]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(columns).unwrap();
    for row in rows {
        let fields: Vec<&str> = columns
            .iter()
            .map(|c| row.get(*c).and_then(Value::as_str).unwrap_or(""))
            .collect();
        writer.write_record(&fields).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

#[test]
fn every_format_gives_identical_records_for_the_same_data() {
    let dir = TempDir::new().unwrap();
    let rows = alpaca_rows();
    let json = file(&dir, "d.json", serde_json::to_string_pretty(&rows).unwrap());
    let jsonl = file(&dir, "d.jsonl", jsonl_text(&rows));
    let csv = file(
        &dir,
        "d.csv",
        csv_text(&["instruction", "input", "output"], &rows),
    );

    let (from_json, report) = read(&json, &lenient());
    assert_eq!(report.format, Format::AlpacaJson);
    let (from_jsonl, report) = read(&jsonl, &lenient());
    assert_eq!(report.format, Format::Jsonl);
    let (from_csv, report) = read(&csv, &lenient());
    assert_eq!(report.format, Format::Csv);
    assert_eq!(from_json, from_jsonl);
    assert_eq!(from_json, from_csv);

    let r = &from_json;
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].prompt, "Give three tips for staying healthy.");
    assert_eq!(r[0].kind, RecordKind::Instruction);
    assert_eq!(r[1].prompt, "Translate to French.\n\nGood \"morning\", all");
    assert_eq!(r[1].output, "Bonjour\nà tous");
    assert_eq!(r[1].kind, RecordKind::InstructionInput);
    assert_eq!(
        r[2].prompt, "Summarize.",
        "whitespace-only input counts as empty"
    );
    assert_eq!(r[2].kind, RecordKind::Instruction);
    // Texts are kept verbatim; only the emptiness test trims.
    assert_eq!(r[3].prompt, "  Add 2 and 3.  \n\n2, 3");
    assert_eq!(r[3].output, " 5 ");
    assert_eq!(r[3].tokens, 4 + 2 + 1);
    assert_eq!(r[0].tokens, 6 + 4);
    for (i, record) in r.iter().enumerate() {
        assert_eq!(record.index, i);
        assert_eq!(record.id, i.to_string(), "no id field: the index is the id");
        assert_eq!(record.split, Split::Train);
    }
}

#[test]
fn prompt_output_rows_with_ids_read_the_same_in_every_format() {
    let dir = TempDir::new().unwrap();
    let rows = vec![
        json!({"id": "q1", "prompt": "Write a haiku.", "output": "Old pond, frog", "extra": 1}),
        json!({"id": "q2", "prompt": "Say hi", "output": "hi"}),
    ];
    let json = file(&dir, "p.json", serde_json::to_string(&rows).unwrap());
    let jsonl = file(&dir, "p.jsonl", jsonl_text(&rows));
    let csv = file(
        &dir,
        "p.csv",
        csv_text(&["id", "prompt", "output", "extra"], &rows),
    );
    let (a, _) = read(&json, &lenient());
    let (b, _) = read(&jsonl, &lenient());
    let (c, _) = read(&csv, &lenient());
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a[0].id, "q1");
    assert_eq!(a[0].prompt, "Write a haiku.");
    assert_eq!(a[0].kind, RecordKind::Prompt);
    assert_eq!(a[1].id, "q2");
}

#[test]
fn an_instruction_field_wins_over_a_prompt_field() {
    let dir = TempDir::new().unwrap();
    let path = file(
        &dir,
        "both.jsonl",
        r#"{"instruction": "Do it.", "input": "now", "prompt": "ignored", "output": "done"}"#,
    );
    let (records, _) = read(&path, &lenient());
    assert_eq!(records[0].prompt, "Do it.\n\nnow");
    assert_eq!(records[0].kind, RecordKind::InstructionInput);
}

#[test]
fn optional_input_may_be_absent_or_null() {
    let dir = TempDir::new().unwrap();
    let path = file(
        &dir,
        "opt.jsonl",
        "{\"instruction\": \"A\", \"output\": \"a\"}\n{\"instruction\": \"B\", \"input\": null, \"output\": \"b\"}\n",
    );
    let (records, _) = read(&path, &lenient());
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.kind == RecordKind::Instruction));
}

#[test]
fn split_follows_the_row_index() {
    let dir = TempDir::new().unwrap();
    let rows: Vec<Value> = (0..120)
        .map(|i| json!({"instruction": format!("q{i}"), "output": format!("a{i}")}))
        .collect();
    let path = file(&dir, "s.jsonl", jsonl_text(&rows));
    let (records, report) = read(&path, &lenient());
    assert_eq!(records[0].split, Split::Train);
    assert_eq!(records[7].split, Split::Test);
    assert_eq!(records[13].split, Split::Validation);
    assert_eq!(records[107].split, Split::Test);
    assert_eq!(
        (
            report.by_split.train,
            report.by_split.validation,
            report.by_split.test
        ),
        (116, 2, 2)
    );
}

#[test]
fn skipped_rows_do_not_shift_the_split_of_later_rows() {
    let dir = TempDir::new().unwrap();
    let mut lines: Vec<String> = (0..120)
        .map(|i| json!({"instruction": format!("q{i}"), "output": format!("a{i}")}).to_string())
        .collect();
    lines[3] = "not json".into();
    lines[10] = json!({"instruction": "q", "output": ""}).to_string();
    lines[107] = json!({"instruction": "q"}).to_string();
    let path = file(&dir, "shift.jsonl", lines.join("\n"));
    let (records, report) = read(&path, &lenient());
    assert_eq!(report.rows, 120);
    assert_eq!(report.skipped.len(), 3);
    let by_index = |i: usize| records.iter().find(|r| r.index == i).unwrap();
    assert_eq!(by_index(7).split, Split::Test);
    assert_eq!(by_index(7).prompt, "q7");
    assert_eq!(by_index(13).split, Split::Validation);
    assert_eq!(by_index(113).split, Split::Validation);
    assert!(records.iter().all(|r| r.split == Split::of_index(r.index)));
    assert!(records.iter().all(|r| r.prompt == format!("q{}", r.index)));
    // The skipped test row leaves a gap rather than promoting a train row.
    assert_eq!(report.by_split.test, 1);
    assert_eq!(report.by_split.validation, 2);
}

/// A malformed row, what it is reported as and a phrase of the reason.
struct Case {
    line: String,
    kind: SkipKind,
    says: &'static str,
}

fn case(line: impl ToString, kind: SkipKind, says: &'static str) -> Case {
    Case {
        line: line.to_string(),
        kind,
        says,
    }
}

fn malformed_jsonl_cases() -> Vec<Case> {
    use SkipKind::*;
    vec![
        case(
            r#"{"instruction": "x", "output": "#,
            InvalidJson,
            "invalid JSON",
        ),
        case(
            r#"{"instruction": "x"} trailing"#,
            InvalidJson,
            "invalid JSON",
        ),
        case(r#"["x", "y"]"#, NotObject, "an array"),
        case(r#""just text""#, NotObject, "a string"),
        case(json!({"instruction": "x"}), MissingField, "`output`"),
        case(
            json!({"output": "y"}),
            MissingField,
            "`prompt` (or `instruction`)",
        ),
        case(
            json!({"input": "z"}),
            MissingField,
            "fields `prompt` (or `instruction`) and `output`",
        ),
        case(
            json!({"instruction": "x", "output": null}),
            MissingField,
            "`output` is null",
        ),
        case(
            json!({"instruction": "x", "output": 5}),
            WrongType,
            "`output` is a number",
        ),
        case(
            json!({"instruction": true, "output": "y"}),
            WrongType,
            "`instruction` is a boolean",
        ),
        case(
            json!({"prompt": {"a": 1}, "output": "y"}),
            WrongType,
            "`prompt` is an object",
        ),
        case(
            json!({"instruction": "x", "input": [1], "output": "y"}),
            WrongType,
            "`input` is an array",
        ),
        case(
            json!({"id": 1.5, "instruction": "x", "output": "y"}),
            WrongType,
            "`id` is a non-integer",
        ),
        case(
            json!({"id": false, "instruction": "x", "output": "y"}),
            WrongType,
            "`id` is a boolean",
        ),
        case(
            json!({"instruction": "x", "output": ""}),
            EmptyOutput,
            "`output` is empty",
        ),
        case(
            json!({"instruction": "x", "output": " \n\t"}),
            EmptyOutput,
            "`output` is empty",
        ),
        case(
            json!({"instruction": "", "input": "z", "output": "y"}),
            EmptyPrompt,
            "`instruction` is empty",
        ),
        case(
            json!({"prompt": "   ", "output": "y"}),
            EmptyPrompt,
            "`prompt` is empty",
        ),
        case(
            json!({"id": " ", "prompt": "p", "output": "y"}),
            BlankId,
            "`id` is blank",
        ),
        case(
            json!({"instruction": "x", "output": "y".repeat(2000)}),
            TooLarge,
            "`output` has 2000 bytes",
        ),
        case(
            json!({"instruction": "x", "input": "z".repeat(1001), "output": "y"}),
            TooLarge,
            "`input` has 1001 bytes",
        ),
    ]
}

#[test]
fn every_malformed_jsonl_row_is_skipped_with_its_row_line_and_reason() {
    let dir = TempDir::new().unwrap();
    let options = IngestOptions {
        max_field_bytes: 1000,
        ..lenient()
    };
    for (n, case) in malformed_jsonl_cases().into_iter().enumerate() {
        // A leading blank line: lines and row indices differ, the bad row is index 2, line 4.
        let text = format!(
            "\n{}\n{}\n{}\n{}\n",
            json!({"instruction": "a", "output": "A"}),
            json!({"instruction": "b", "output": "B"}),
            case.line,
            json!({"instruction": "d", "output": "D"}),
        );
        let path = file(&dir, &format!("bad{n}.jsonl"), text);
        let (records, report) = read(&path, &options);
        assert_eq!(report.rows, 4, "{}", case.line);
        assert_eq!(report.skipped.len(), 1, "{}", case.line);
        let skip = &report.skipped[0];
        assert_eq!(
            (skip.index, skip.line, skip.kind),
            (2, Some(4), case.kind),
            "{}",
            case.line
        );
        assert!(
            skip.reason.contains(case.says),
            "{}: {}",
            case.line,
            skip.reason
        );
        assert!(skip.to_string().starts_with("row 2 (line 4): "), "{skip}");
        assert_eq!(
            records.iter().map(|r| r.index).collect::<Vec<_>>(),
            [0, 1, 3]
        );

        let err = ingest(
            &path,
            &IngestOptions {
                strict: true,
                ..options.clone()
            },
        )
        .unwrap_err();
        assert_eq!(err.error_type(), ErrorType::InvalidInput);
        let err = err.to_string();
        assert!(
            err.contains("row 2 (line 4)") && err.contains(case.says),
            "{err}"
        );
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}

#[test]
fn malformed_alpaca_json_elements_are_skipped_with_their_index() {
    let dir = TempDir::new().unwrap();
    for (n, (bad, kind, says)) in [
        (json!([1, 2]), SkipKind::NotObject, "an array"),
        (
            json!({"instruction": "x"}),
            SkipKind::MissingField,
            "`output`",
        ),
        (
            json!({"instruction": "x", "output": 3}),
            SkipKind::WrongType,
            "`output` is a number",
        ),
        (
            json!({"instruction": "x", "output": "  "}),
            SkipKind::EmptyOutput,
            "empty",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let rows = json!([
            {"instruction": "a", "input": "", "output": "A"},
            {"instruction": "b", "input": "", "output": "B"},
            bad,
            {"instruction": "d", "input": "", "output": "D"},
        ]);
        let path = file(&dir, &format!("bad{n}.json"), rows.to_string());
        let (records, report) = read(&path, &lenient());
        let skip = &report.skipped[..];
        assert_eq!(skip.len(), 1);
        assert_eq!((skip[0].index, skip[0].line, skip[0].kind), (2, None, kind));
        assert!(skip[0].reason.contains(says), "{}", skip[0].reason);
        assert_eq!(
            records.iter().map(|r| r.index).collect::<Vec<_>>(),
            [0, 1, 3]
        );
        let err = error(&path, &strict());
        assert!(err.contains("row 2:") && err.contains(says), "{err}");
    }
}

#[test]
fn malformed_csv_rows_are_skipped_with_their_line() {
    let dir = TempDir::new().unwrap();
    // Row 0 spans lines 2-3 (a quoted newline), so row 1 starts on line 4.
    let text = "instruction,input,output\n\"multi\nline\",,ok\na,,b,EXTRA\nc,,\nd\ne,,f\n";
    let path = file(&dir, "bad.csv", text);
    let (records, report) = read(&path, &lenient());
    assert_eq!(report.rows, 5);
    let got: Vec<_> = report
        .skipped
        .iter()
        .map(|s| (s.index, s.line, s.kind))
        .collect();
    assert_eq!(
        got,
        [
            (1, Some(4), SkipKind::FieldCount),
            (2, Some(5), SkipKind::EmptyOutput),
            (3, Some(6), SkipKind::FieldCount),
        ]
    );
    assert!(
        report.skipped[0]
            .reason
            .contains("4 fields, the header has 3")
    );
    assert_eq!(records[0].prompt, "multi\nline");
    assert_eq!((records[1].index, records[1].prompt.as_str()), (4, "e"));
    let err = error(&path, &strict());
    assert!(
        err.contains("row 1 (line 4)") && err.contains("4 fields"),
        "{err}"
    );
}

#[test]
fn duplicate_ids_skip_the_later_row() {
    let dir = TempDir::new().unwrap();
    let lines = [
        json!({"id": "a", "prompt": "p0", "output": "o"}),
        json!({"id": "b", "prompt": "p1", "output": "o"}),
        json!({"id": "a", "prompt": "p2", "output": "o"}),
        json!({"id": 5, "prompt": "p3", "output": "o"}),
        json!({"id": "5", "prompt": "p4", "output": "o"}),
        json!({"id": "c", "prompt": "p5", "output": ""}),
        json!({"id": "c", "prompt": "p6", "output": "o"}),
        json!({"prompt": "p7", "output": "o"}),
        json!({"id": "7", "prompt": "p8", "output": "o"}),
    ];
    let path = file(&dir, "dup.jsonl", jsonl_text(&lines));
    let (records, report) = read(&path, &lenient());
    let ids: Vec<_> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "5", "c", "7"]);
    assert_eq!(records[0].prompt, "p0", "the first row with an id is kept");
    assert_eq!(
        records[3].prompt, "p6",
        "a malformed row does not claim its id"
    );
    let dups: Vec<_> = report
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::DuplicateId)
        .map(|s| (s.index, s.line))
        .collect();
    assert_eq!(dups, [(2, Some(3)), (4, Some(5)), (8, Some(9))]);
    assert!(report.skipped[0].reason.contains(r#""a""#));
    assert!(report.skipped[0].reason.contains("row 0"));
    let err = error(&path, &strict());
    assert!(
        err.contains("row 2 (line 3)") && err.contains("duplicate id"),
        "{err}"
    );

    let csv = file(&dir, "dup.csv", "id,prompt,output\nx,p,o\ny,p,o\nx,p,o\n");
    let (records, report) = read(&csv, &lenient());
    assert_eq!(records.len(), 2);
    assert_eq!(
        (
            report.skipped[0].index,
            report.skipped[0].line,
            report.skipped[0].kind
        ),
        (2, Some(4), SkipKind::DuplicateId)
    );
}

#[test]
fn enormous_rows_are_skipped_by_default() {
    let dir = TempDir::new().unwrap();
    let limit = vec2prompt_dataset::DEFAULT_MAX_FIELD_BYTES;
    assert_eq!(limit, 64 * 1024);
    let rows = [
        json!({"instruction": "fits", "output": "x".repeat(limit)}),
        json!({"instruction": "too long", "output": "x".repeat(limit + 1)}),
        json!({"instruction": "i".repeat(1 << 20), "output": "y"}),
        json!({"instruction": "ok", "output": "fine"}),
    ];
    let path = file(&dir, "big.jsonl", jsonl_text(&rows));
    let (records, report) = read(&path, &lenient());
    assert_eq!(records.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 3]);
    assert_eq!(report.skipped.len(), 2);
    assert!(report.skipped.iter().all(|s| s.kind == SkipKind::TooLarge));
    assert!(
        report.skipped[0].reason.contains("65537 bytes"),
        "{}",
        report.skipped[0].reason
    );
    assert!(report.skipped[1].reason.contains("`instruction`"));
    // The summary stays short however large the row was.
    assert!(report.summary().len() < 2000);
    let bigger = IngestOptions {
        max_field_bytes: 2 << 20,
        ..lenient()
    };
    assert_eq!(read(&path, &bigger).0.len(), 4);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("absent.json");
    let err = ingest(&path, &lenient()).unwrap_err();
    assert_eq!(err.error_type(), ErrorType::Io);
    assert!(err.to_string().contains("absent.json"), "{err}");
}

#[test]
fn a_directory_is_unreadable() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("folder.jsonl");
    std::fs::create_dir(&path).unwrap();
    let err = ingest(&path, &lenient()).unwrap_err();
    assert_eq!(err.error_type(), ErrorType::Io);
    assert!(err.to_string().contains("folder.jsonl"), "{err}");
}

#[test]
fn empty_files_are_errors() {
    let dir = TempDir::new().unwrap();
    for (name, content) in [
        ("e.json", ""),
        ("e.jsonl", ""),
        ("e.csv", ""),
        ("w.jsonl", " \n\n  \n"),
        ("bom.json", "\u{feff}"),
    ] {
        let path = file(&dir, name, content);
        let err = error(&path, &lenient());
        assert!(err.contains(name) && err.contains("empty"), "{err}");
    }
    for (name, content) in [
        ("none.json", "[]"),
        ("header.csv", "instruction,input,output\n"),
    ] {
        let path = file(&dir, name, content);
        let err = error(&path, &lenient());
        assert!(err.contains(name) && err.contains("no rows"), "{err}");
    }
}

#[test]
fn json_that_is_not_an_array_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let object = file(
        &dir,
        "object.json",
        r#"{"instruction": "x", "output": "y"}"#,
    );
    let err = error(&object, &lenient());
    assert!(
        err.contains("object.json") && err.contains("array") && err.contains("JSONL"),
        "{err}"
    );
    let lines = file(&dir, "lines.json", jsonl_text(&alpaca_rows()));
    let err = error(&lines, &lenient());
    assert!(err.contains("JSONL"), "{err}");
    let scalar = file(&dir, "scalar.json", r#""text""#);
    let err = error(&scalar, &lenient());
    assert!(err.contains("found a string"), "{err}");
    let broken = file(
        &dir,
        "broken.json",
        "[\n  {\"instruction\": \"x\",\n  \"output\": }\n]",
    );
    let err = error(&broken, &lenient());
    assert!(
        err.contains("broken.json") && err.contains("not valid JSON") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn csv_without_a_recognizable_header_says_what_it_found_and_needs() {
    let dir = TempDir::new().unwrap();
    let path = file(&dir, "q.csv", "question,answer\nwhat,that\n");
    let err = error(&path, &lenient());
    assert!(err.contains("q.csv"), "{err}");
    assert!(
        err.contains(r#"found columns ["question", "answer"]"#),
        "{err}"
    );
    assert!(
        err.contains("`output`") && err.contains("`instruction`") && err.contains("`prompt`"),
        "{err}"
    );
    let path = file(&dir, "twice.csv", "prompt,output,output\np,o,o\n");
    let err = error(&path, &lenient());
    assert!(err.contains("`output` more than once"), "{err}");
}

#[test]
fn invalid_utf8_names_the_byte_offset() {
    let dir = TempDir::new().unwrap();
    let mut bytes = b"{\"prompt\": \"p\", \"output\": \"o\"}\n{\"prompt\": \"".to_vec();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xff\", \"output\": \"o\"}\n");
    let path = file(&dir, "latin1.jsonl", bytes);
    let err = error(&path, &lenient());
    assert!(
        err.contains("latin1.jsonl") && err.contains("UTF-8"),
        "{err}"
    );
    assert!(
        err.contains(&format!("offset {offset}")) && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn format_comes_from_the_extension_unless_overridden() {
    let dir = TempDir::new().unwrap();
    let path = file(&dir, "data.txt", jsonl_text(&alpaca_rows()));
    let err = error(&path, &lenient());
    assert!(
        err.contains("data.txt") && err.contains("extension"),
        "{err}"
    );
    let options = IngestOptions {
        format: Some(Format::Jsonl),
        ..lenient()
    };
    let (records, report) = read(&path, &options);
    assert_eq!(records.len(), 4);
    assert_eq!(report.format, Format::Jsonl);
}

#[test]
fn crlf_lines_and_a_byte_order_mark_are_accepted() {
    let dir = TempDir::new().unwrap();
    let jsonl = file(
        &dir,
        "crlf.jsonl",
        "\u{feff}{\"prompt\": \"p\", \"output\": \"o\"}\r\n\r\n{\"prompt\": \"q\", \"output\": \"r\"}\r\n",
    );
    let (records, _) = read(&jsonl, &lenient());
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].output, "r");
    let csv = file(&dir, "bom.csv", "\u{feff}prompt,output\r\np,o\r\n");
    let (records, _) = read(&csv, &lenient());
    assert_eq!(
        (records[0].prompt.as_str(), records[0].output.as_str()),
        ("p", "o")
    );
}

#[test]
fn summary_counts_splits_and_skip_reasons() {
    let dir = TempDir::new().unwrap();
    let mut lines: Vec<String> = (0..20)
        .map(|i| json!({"prompt": format!("p{i}"), "output": "o"}).to_string())
        .collect();
    for i in [2, 4, 6, 8, 9] {
        lines[i] = json!({"prompt": "p", "output": ""}).to_string();
    }
    lines[11] = "{".into();
    let path = file(&dir, "sum.jsonl", lines.join("\n"));
    let (_, report) = read(&path, &lenient());
    let summary = report.summary();
    assert!(
        summary.contains("20 rows, 14 accepted, 6 skipped"),
        "{summary}"
    );
    assert!(
        summary.contains("train 12, validation 1, test 1"),
        "{summary}"
    );
    assert!(
        summary.contains("skipped 5 (empty output): row 2 (line 3)"),
        "{summary}"
    );
    assert!(summary.contains("; ..."), "{summary}");
    assert!(
        summary.contains("skipped 1 (invalid JSON): row 11 (line 12)"),
        "{summary}"
    );
    assert!(
        !summary.contains("row 8 "),
        "only the first examples: {summary}"
    );
}

#[test]
fn empty_outputs_can_be_kept_on_request() {
    let dir = TempDir::new().unwrap();
    let path = file(
        &dir,
        "empty.jsonl",
        "{\"prompt\": \"p\", \"output\": \"\"}\n{\"prompt\": \"q\", \"output\": \"r\"}\n{\"prompt\": \" \", \"output\": \"r\"}\n",
    );
    let options = IngestOptions {
        allow_empty_output: true,
        ..lenient()
    };
    let (records, report) = read(&path, &options);
    assert_eq!(records.len(), 2);
    assert_eq!((records[0].output.as_str(), records[0].tokens), ("", 1));
    assert_eq!(
        report.skipped[0].kind,
        SkipKind::EmptyPrompt,
        "an empty prompt is still skipped"
    );
}

#[test]
fn csv_header_names_are_trimmed_and_extra_columns_ignored() {
    let dir = TempDir::new().unwrap();
    let path = file(
        &dir,
        "spaced.csv",
        "note, prompt , output\nx,Say hi,hi\n\ny,Say bye,bye\n",
    );
    let (records, report) = read(&path, &lenient());
    assert_eq!(report.rows, 2, "an empty line is not a row");
    assert_eq!(records[1].prompt, "Say bye");
    assert_eq!(records[1].index, 1);
}
