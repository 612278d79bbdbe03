//! The rows of a batch job's input: JSONL (`{"id", "embedding"}` or `{"id", "text"}`), a
//! NumPy `.npy` matrix (ids from a sidecar file or the row numbers), or Parquet (an id
//! column and an embedding list column or a text column). A row that cannot be read
//! becomes a [`Payload::Bad`] with the reason; only a file that cannot be read at all, or
//! whose shape is wrong as a whole, is an error.

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// What a row asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A target vector.
    Vector(Vec<f32>),
    /// A text whose embedding is the target.
    Text(String),
    /// The row cannot be used: why.
    Bad(String),
}

/// One row of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Position in the input, from 0 (blank JSONL lines are not rows).
    pub row: usize,
    /// The row's id (`None` when it has none that can be read).
    pub id: Option<String>,
    /// The target.
    pub payload: Payload,
}

/// The input's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A NumPy float32 (or float64) matrix, one row per target.
    Npy,
    /// An Apache Parquet file.
    Parquet,
}

impl Format {
    /// The format of `path` by its extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson" | "json") => Ok(Self::Jsonl),
            Some("npy") => Ok(Self::Npy),
            Some("parquet" | "pq") => Ok(Self::Parquet),
            _ => bail!(
                "cannot tell the format of {} from its extension: use .jsonl, .npy or .parquet, or pass --format",
                path.display()
            ),
        }
    }
}

/// Field (JSONL) or column (Parquet) names.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The id.
    pub id: String,
    /// The target vector.
    pub embedding: String,
    /// The target text.
    pub text: String,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            id: "id".into(),
            embedding: "embedding".into(),
            text: "text".into(),
        }
    }
}

/// Reads every row of `path`.
pub fn read(path: &Path, format: Format, fields: &Fields, ids: Option<&Path>) -> Result<Vec<Row>> {
    if ids.is_some() && format != Format::Npy {
        bail!("--ids is for .npy input; JSONL and Parquet carry their ids");
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(match format {
        Format::Jsonl => read_jsonl(BufReader::new(file), fields)?,
        Format::Npy => {
            let ids = ids.map(read_ids).transpose()?;
            read_npy(BufReader::new(file), ids)?
        }
        Format::Parquet => read_parquet(file, fields)?,
    })
}

/// One id per line.
fn read_ids(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the ids file {}", path.display()))?;
    Ok(text.lines().map(|l| l.trim().to_string()).collect())
}

/// JSONL rows; a line that is not a JSON object, or lacks what it needs, is a bad row.
pub fn read_jsonl(reader: impl BufRead, fields: &Fields) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = rows.len();
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                rows.push(Row {
                    row,
                    id: None,
                    payload: Payload::Bad(format!("line {} is not valid JSON: {e}", n + 1)),
                });
                continue;
            }
        };
        let id = match value.get(&fields.id) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(x)) => Some(x.to_string()),
            _ => None,
        };
        let payload = match (value.get(&fields.embedding), value.get(&fields.text)) {
            _ if id.is_none() => Payload::Bad(format!(
                "line {} has no \"{}\" (a string or a number)",
                n + 1,
                fields.id
            )),
            (Some(e), None) => json_vector(e, &fields.embedding),
            (None, Some(serde_json::Value::String(t))) => Payload::Text(t.clone()),
            (None, Some(_)) => Payload::Bad(format!("\"{}\" is not a string", fields.text)),
            (Some(_), Some(_)) => Payload::Bad(format!(
                "the row has both \"{}\" and \"{}\": give one",
                fields.embedding, fields.text
            )),
            (None, None) => Payload::Bad(format!(
                "the row has neither \"{}\" nor \"{}\"",
                fields.embedding, fields.text
            )),
        };
        rows.push(Row { row, id, payload });
    }
    Ok(rows)
}

fn json_vector(v: &serde_json::Value, name: &str) -> Payload {
    let Some(items) = v.as_array() else {
        return Payload::Bad(format!("\"{name}\" is not an array of numbers"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        match x.as_f64() {
            Some(f) => out.push(f as f32),
            None => return Payload::Bad(format!("\"{name}\"[{i}] is not a number")),
        }
    }
    Payload::Vector(out)
}

/// A `.npy` matrix: C order, little-endian float32 or float64, shape (rows, dim) or
/// (dim,) for one vector.
pub fn read_npy(mut reader: impl Read, ids: Option<Vec<String>>) -> Result<Vec<Row>> {
    let mut magic = [0u8; 8];
    reader
        .read_exact(&mut magic)
        .context("not a .npy file: too short")?;
    if &magic[..6] != b"\x93NUMPY" {
        bail!("not a .npy file (no NUMPY magic)");
    }
    let header_len = if magic[6] == 1 {
        let mut b = [0u8; 2];
        reader.read_exact(&mut b)?;
        u16::from_le_bytes(b) as usize
    } else {
        let mut b = [0u8; 4];
        reader.read_exact(&mut b)?;
        u32::from_le_bytes(b) as usize
    };
    let mut header = vec![0u8; header_len];
    reader.read_exact(&mut header)?;
    let header = String::from_utf8_lossy(&header).into_owned();
    let descr =
        header_value(&header, "descr").ok_or_else(|| anyhow!("no 'descr' in the .npy header"))?;
    let width = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" | "=f4" => 4,
        "<f8" | "=f8" => 8,
        d => bail!("the .npy dtype is {d}; save it as float32 (numpy: a.astype('float32'))"),
    };
    if header_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        bail!("the .npy matrix is in Fortran order; save it with numpy.ascontiguousarray");
    }
    let shape =
        header_value(&header, "shape").ok_or_else(|| anyhow!("no 'shape' in the .npy header"))?;
    let dims: Vec<usize> = shape
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("bad .npy shape {shape}"))
        })
        .collect::<Result<_>>()?;
    let (n, dim) = match dims[..] {
        [d] => (1, d),
        [n, d] => (n, d),
        _ => bail!("the .npy array has shape {shape}; give a matrix (rows, dimension)"),
    };
    if let Some(ids) = &ids
        && ids.len() != n
    {
        bail!(
            "the ids file has {} lines but the matrix has {n} rows",
            ids.len()
        );
    }
    let mut bytes = vec![0u8; n * dim * width];
    reader
        .read_exact(&mut bytes)
        .with_context(|| format!("the .npy data is shorter than its shape {shape}"))?;
    let mut rows = Vec::with_capacity(n);
    for (r, chunk) in bytes.chunks_exact((dim * width).max(1)).take(n).enumerate() {
        let v: Vec<f32> = if width == 4 {
            chunk
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            chunk
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect()
        };
        let id = ids.as_ref().map_or(r.to_string(), |ids| ids[r].clone());
        let payload = if id.is_empty() {
            Payload::Bad(format!("line {} of the ids file is empty", r + 1))
        } else {
            Payload::Vector(v)
        };
        rows.push(Row {
            row: r,
            id: Some(id),
            payload,
        });
    }
    Ok(rows)
}

/// The text after `'key':` in a .npy header dict, up to the next top-level comma.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    if rest.starts_with('(') {
        return rest.find(')').map(|e| &rest[..=e]);
    }
    Some(rest.split(',').next().unwrap_or(rest).trim())
}

/// Parquet rows: the id column (string or integer) and either the embedding column (a
/// list of float32 or float64) or the text column.
pub fn read_parquet(file: std::fs::File, fields: &Fields) -> Result<Vec<Row>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).context("not a Parquet file")?;
    let schema = builder.schema().clone();
    let has = |name: &str| schema.field_with_name(name).is_ok();
    if !has(&fields.id) {
        bail!(
            "the Parquet file has no column \"{}\" (columns: {}); name the id column with --id-field",
            fields.id,
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let use_text = match (has(&fields.embedding), has(&fields.text)) {
        (true, _) => false,
        (false, true) => true,
        (false, false) => bail!(
            "the Parquet file has neither an \"{}\" nor a \"{}\" column; name one with --embedding-field or --text-field",
            fields.embedding,
            fields.text
        ),
    };
    let mut rows = Vec::new();
    for batch in builder.build()? {
        let batch: RecordBatch = batch.context("cannot read a Parquet row group")?;
        let id_col = column(&batch, &fields.id)?;
        let ids = id_strings(id_col.as_ref())?;
        let payloads = if use_text {
            text_payloads(column(&batch, &fields.text)?.as_ref())?
        } else {
            vector_payloads(column(&batch, &fields.embedding)?.as_ref())?
        };
        for (id, payload) in ids.into_iter().zip(payloads) {
            let payload = if id.is_none() {
                Payload::Bad(format!("the \"{}\" value is null", fields.id))
            } else {
                payload
            };
            rows.push(Row {
                row: rows.len(),
                id,
                payload,
            });
        }
    }
    Ok(rows)
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| anyhow!("no column \"{name}\""))
}

fn id_strings(a: &dyn Array) -> Result<Vec<Option<String>>> {
    let get = |i: usize| -> Option<String> {
        if a.is_null(i) {
            return None;
        }
        Some(match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
            DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
            DataType::Utf8View => a.as_string_view().value(i).to_string(),
            DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
            DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
            DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
            DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).to_string(),
            _ => return None,
        })
    };
    match a.data_type() {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Int64
        | DataType::Int32
        | DataType::UInt64
        | DataType::UInt32 => Ok((0..a.len()).map(get).collect()),
        t => bail!("the id column is {t}; use strings or integers"),
    }
}

fn text_payloads(a: &dyn Array) -> Result<Vec<Payload>> {
    let value = |i: usize| -> Option<&str> {
        match a.data_type() {
            DataType::Utf8 => Some(a.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i)),
            DataType::Utf8View => Some(a.as_string_view().value(i)),
            _ => None,
        }
    };
    if !matches!(
        a.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        bail!("the text column is {}; use strings", a.data_type());
    }
    Ok((0..a.len())
        .map(|i| match (a.is_null(i), value(i)) {
            (false, Some(t)) => Payload::Text(t.to_string()),
            _ => Payload::Bad("the text is null".into()),
        })
        .collect())
}

fn vector_payloads(a: &dyn Array) -> Result<Vec<Payload>> {
    let items: Vec<Option<ArrayRef>> = match a.data_type() {
        DataType::List(_) => a.as_list::<i32>().iter().collect(),
        DataType::LargeList(_) => a.as_list::<i64>().iter().collect(),
        DataType::FixedSizeList(_, _) => a.as_fixed_size_list().iter().collect(),
        t => bail!("the embedding column is {t}; use a list of float32 or float64"),
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            None => Payload::Bad("the embedding is null".into()),
            Some(v) if v.null_count() > 0 => Payload::Bad("the embedding holds nulls".into()),
            Some(v) => match v.data_type() {
                DataType::Float32 => {
                    Payload::Vector(v.as_primitive::<Float32Type>().values().to_vec())
                }
                DataType::Float64 => Payload::Vector(
                    v.as_primitive::<Float64Type>()
                        .values()
                        .iter()
                        .map(|&x| x as f32)
                        .collect(),
                ),
                t => Payload::Bad(format!("the embedding's items are {t}, not floats")),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn jsonl_rows_good_and_bad() {
        let text = "{\"id\": \"a\", \"embedding\": [1, 0]}\n\n{\"id\": 7, \"text\": \"hi\"}\nnot json\n{\"embedding\": [1]}\n{\"id\": \"b\", \"embedding\": [1, \"x\"]}\n";
        let rows = read_jsonl(text.as_bytes(), &Fields::default()).unwrap();
        assert_eq!(rows.len(), 5, "the blank line is not a row");
        assert_eq!(rows[0].payload, Payload::Vector(vec![1.0, 0.0]));
        assert_eq!(rows[1].id.as_deref(), Some("7"));
        assert_eq!(rows[1].payload, Payload::Text("hi".into()));
        assert!(matches!(&rows[2].payload, Payload::Bad(m) if m.contains("not valid JSON")));
        assert!(matches!(&rows[3].payload, Payload::Bad(m) if m.contains("no \"id\"")));
        assert!(matches!(&rows[4].payload, Payload::Bad(m) if m.contains("[1] is not a number")));
        assert_eq!(rows[4].row, 4);
    }

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn npy_float32_and_float64_with_and_without_ids() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let rows = read_npy(&npy("<f4", "(2, 3)", &data)[..], None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].id.as_deref(), Some("1"));
        assert_eq!(rows[1].payload, Payload::Vector(vec![4.0, 5.0, 6.0]));
        let d64: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let rows = read_npy(&npy("<f8", "(1, 2)", &d64)[..], Some(vec!["u".into()])).unwrap();
        assert_eq!(rows[0].id.as_deref(), Some("u"));
        assert_eq!(rows[0].payload, Payload::Vector(vec![1.0, 2.0]));
        let e = read_npy(&npy("<f4", "(2, 3)", &data)[..], Some(vec!["x".into()])).unwrap_err();
        assert!(
            e.to_string().contains("1 lines but the matrix has 2 rows"),
            "{e}"
        );
        let e = read_npy(&npy("<i8", "(2, 3)", &data)[..], None).unwrap_err();
        assert!(e.to_string().contains("float32"), "{e}");
        let e = read_npy(&npy("<f4", "(2, 3)", &data[..8])[..], None).unwrap_err();
        assert!(e.to_string().contains("shorter"), "{e}");
    }

    #[test]
    fn parquet_ids_vectors_and_nulls() {
        use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, ListBuilder};
        use arrow_array::{Int64Array, StringArray};
        use parquet::arrow::ArrowWriter;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut list = ListBuilder::new(Float32Builder::new());
        list.values().append_slice(&[1.0, 0.0]);
        list.append(true);
        list.append(false);
        let ids = Int64Array::from(vec![Some(10), Some(11)]);
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(ids) as ArrayRef),
            ("embedding", Arc::new(list.finish()) as ArrayRef),
        ])
        .unwrap();
        let f = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let rows = read(&path, Format::Parquet, &Fields::default(), None).unwrap();
        assert_eq!(rows[0].id.as_deref(), Some("10"));
        assert_eq!(rows[0].payload, Payload::Vector(vec![1.0, 0.0]));
        assert!(matches!(&rows[1].payload, Payload::Bad(m) if m.contains("null")));

        // A fixed-size list column and string ids under other names.
        let mut fixed = FixedSizeListBuilder::new(Float32Builder::new(), 2);
        fixed.values().append_slice(&[0.0, 1.0]);
        fixed.append(true);
        let batch = RecordBatch::try_from_iter(vec![
            ("user", Arc::new(StringArray::from(vec!["u1"])) as ArrayRef),
            ("vec", Arc::new(fixed.finish()) as ArrayRef),
        ])
        .unwrap();
        let f = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let fields = Fields {
            id: "user".into(),
            embedding: "vec".into(),
            ..Fields::default()
        };
        let rows = read(&path, Format::Parquet, &fields, None).unwrap();
        assert_eq!(rows[0].id.as_deref(), Some("u1"));
        assert_eq!(rows[0].payload, Payload::Vector(vec![0.0, 1.0]));
        let e = read(&path, Format::Parquet, &Fields::default(), None).unwrap_err();
        assert!(e.to_string().contains("no column \"id\""), "{e}");
    }
}
