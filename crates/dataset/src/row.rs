//! Validation of one source row, whatever its format, into a [`Record`].
//!
//! Every format presents a row as [`Fields`]; the rules about which fields are needed,
//! their types, sizes and emptiness live here once, so JSON, JSONL and CSV sources give
//! identical records for identical data.

use crate::ingest::IngestOptions;
use crate::record::{Record, RecordKind, compose_prompt, word_count};
use crate::report::{SkipKind, shorten};
use crate::split::Split;
use serde_json::{Map, Number, Value};

/// One field of a row, as the source gave it.
pub(crate) enum FieldValue<'a> {
    /// The row has no such field (or the CSV no such column).
    Absent,
    /// JSON `null`.
    Null,
    /// A string.
    Text(&'a str),
    /// A JSON number (accepted as an `id` if it is an integer).
    Number(&'a Number),
    /// Any other JSON value, by its description ("a boolean", "an array", ...).
    Other(&'static str),
}

/// Access to a row's fields by name.
pub(crate) trait Fields {
    /// The field called `name`.
    fn get(&self, name: &str) -> FieldValue<'_>;
}

impl Fields for Map<String, Value> {
    fn get(&self, name: &str) -> FieldValue<'_> {
        match Map::get(self, name) {
            None => FieldValue::Absent,
            Some(Value::Null) => FieldValue::Null,
            Some(Value::String(s)) => FieldValue::Text(s),
            Some(Value::Number(n)) => FieldValue::Number(n),
            Some(other) => FieldValue::Other(json_type(other)),
        }
    }
}

/// A JSON value's type, with its article, for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a row is rejected: the category and the specifics.
#[derive(Debug)]
pub(crate) struct Rejection {
    /// Category.
    pub kind: SkipKind,
    /// Specifics, naming the field.
    pub reason: String,
}

impl Rejection {
    /// A rejection of `kind` with `reason`.
    pub(crate) fn new(kind: SkipKind, reason: impl Into<String>) -> Self {
        Rejection {
            kind,
            reason: reason.into(),
        }
    }
}

/// Builds the record of the row at `index`, or says why the row cannot be one, under the
/// size and emptiness rules of `options`.
///
/// A row with an `instruction` field is an Alpaca row (`instruction`, optional `input`,
/// `output`), even if it also has a `prompt`: the instruction is the source data and the
/// composition of [`crate::compose_prompt`] is the protocol. Otherwise it needs `prompt` and `output`. The
/// duplicate-id check needs all rows and happens in the caller.
pub(crate) fn build_record(
    index: usize,
    fields: &dyn Fields,
    options: &IngestOptions,
) -> Result<Record, Rejection> {
    let max_field_bytes = options.max_field_bytes;
    let instruction_form = !matches!(fields.get("instruction"), FieldValue::Absent);
    let head_name = if instruction_form {
        "instruction"
    } else {
        "prompt"
    };
    let head = fields.get(head_name);
    let output = fields.get("output");

    // Name every missing field at once, so one fix makes the row whole.
    let mut missing = Vec::new();
    if matches!(head, FieldValue::Absent) {
        missing.push("`prompt` (or `instruction`)");
    }
    if matches!(output, FieldValue::Absent) {
        missing.push("`output`");
    }
    if !missing.is_empty() {
        let plural = if missing.len() > 1 { "s" } else { "" };
        return Err(Rejection::new(
            SkipKind::MissingField,
            format!("missing field{plural} {}", missing.join(" and ")),
        ));
    }
    let head = required_text(head_name, head)?;
    let output = required_text("output", output)?;
    let input = if instruction_form {
        optional_text("input", fields.get("input"))?
    } else {
        ""
    };
    let id = id_text(fields.get("id"))?;

    for (name, text) in [
        (head_name, Some(head)),
        ("input", Some(input)),
        ("output", Some(output)),
        ("id", id.as_deref()),
    ] {
        let bytes = text.map_or(0, str::len);
        if bytes > max_field_bytes {
            return Err(Rejection::new(
                SkipKind::TooLarge,
                format!(
                    "field `{name}` has {bytes} bytes, over the limit of {max_field_bytes} \
                     bytes (max_field_bytes)"
                ),
            ));
        }
    }
    if head.trim().is_empty() {
        return Err(Rejection::new(
            SkipKind::EmptyPrompt,
            format!("field `{head_name}` is empty"),
        ));
    }
    if !options.allow_empty_output && output.trim().is_empty() {
        return Err(Rejection::new(
            SkipKind::EmptyOutput,
            "field `output` is empty",
        ));
    }
    if id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        return Err(Rejection::new(
            SkipKind::BlankId,
            "field `id` is blank; give the row an id or leave the field out",
        ));
    }

    let (prompt, kind) = if instruction_form {
        compose_prompt(head, input)
    } else {
        (head.to_string(), RecordKind::Prompt)
    };
    let tokens = word_count(&prompt) + word_count(output);
    Ok(Record {
        id: id.unwrap_or_else(|| index.to_string()),
        index,
        prompt,
        output: output.to_string(),
        tokens,
        kind,
        split: Split::of_index(index),
    })
}

/// A required text field that is present (absence is checked before).
fn required_text<'a>(name: &str, value: FieldValue<'a>) -> Result<&'a str, Rejection> {
    match value {
        FieldValue::Text(s) => Ok(s),
        FieldValue::Absent => Err(Rejection::new(
            SkipKind::MissingField,
            format!("missing field `{name}`"),
        )),
        FieldValue::Null => Err(Rejection::new(
            SkipKind::MissingField,
            format!("field `{name}` is null"),
        )),
        FieldValue::Number(_) => Err(wrong_type(name, "a number", "a string")),
        FieldValue::Other(found) => Err(wrong_type(name, found, "a string")),
    }
}

/// An optional text field: absent and null mean empty.
fn optional_text<'a>(name: &str, value: FieldValue<'a>) -> Result<&'a str, Rejection> {
    match value {
        FieldValue::Absent | FieldValue::Null => Ok(""),
        other => required_text(name, other),
    }
}

/// The row's own id: a string, or an integer (many JSONL files number their rows).
fn id_text(value: FieldValue<'_>) -> Result<Option<String>, Rejection> {
    match value {
        FieldValue::Absent | FieldValue::Null => Ok(None),
        FieldValue::Text(s) => Ok(Some(s.to_string())),
        FieldValue::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        FieldValue::Number(_) => Err(wrong_type(
            "id",
            "a non-integer number",
            "a string or an integer",
        )),
        FieldValue::Other(found) => Err(wrong_type("id", found, "a string or an integer")),
    }
}

/// A wrong-type rejection.
fn wrong_type(name: &str, found: &str, expected: &str) -> Rejection {
    Rejection::new(
        SkipKind::WrongType,
        format!("field `{name}` is {found}, expected {expected}"),
    )
}

/// An id as quoted in messages: ids may be up to `max_field_bytes` long.
pub(crate) fn quote_id(id: &str) -> String {
    format!("{:?}", shorten(id, 40))
}
