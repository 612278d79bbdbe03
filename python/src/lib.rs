//! `vec2prompt._native`: the Rust crates behind the Python package. One [`Engine`] holds a
//! [`Session`] (the models `vec2prompt generate` loads, from the same configuration:
//! flags, environment, config file). Vectors cross as little-endian float32 bytes and
//! results as JSON, so the Python side (python/vec2prompt) owns NumPy and the typed
//! results; every call releases the GIL while the models run.

use clap::{Args, FromArgMatches};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;
use vec2prompt_cli::config::{Config, GlobalArgs};
use vec2prompt_cli::session::{GenerateOptions, Generated, Session, error_type};
use vec2prompt_optimizer::Style;
use vec2prompt_optimizer::service::{GoalKind, MAX_TARGET_EXAMPLES, OptimizeRequest, UserTarget};
use vec2prompt_search::interpolation::PathKind;

create_exception!(
    _native,
    Vec2PromptError,
    PyException,
    "An error of vec2prompt, raised with args (message, error_type)."
);

/// Targets searched together: their LLM calls share forward passes, and a large matrix
/// never becomes one giant batch (`vec2prompt batch` uses the same default).
const CHUNK: usize = 32;

/// The Python exception of `e`, with the HTTP API's `error_type`.
fn to_py(e: anyhow::Error) -> PyErr {
    Vec2PromptError::new_err((format!("{e:#}"), error_type(&e)))
}

fn invalid(message: String) -> PyErr {
    Vec2PromptError::new_err((message, "invalid_input"))
}

/// The global CLI flags in `args`, merged with the environment and the config file the
/// way `vec2prompt` merges them.
fn resolve(args: Vec<String>) -> anyhow::Result<Config> {
    let command = GlobalArgs::augment_args(clap::Command::new("vec2prompt").no_binary_name(true));
    let matches = command.try_get_matches_from(args)?;
    let global = GlobalArgs::from_arg_matches(&matches)?;
    Config::resolve(&global)
}

/// Rows of float32 little-endian bytes.
/// The content margin given to a search (None: the default), checked as the CLI checks it.
fn margin(m: Option<f32>) -> PyResult<f32> {
    match m {
        None => Ok(vec2prompt_search::DEFAULT_CONTENT_MARGIN),
        Some(m) => vec2prompt_cli::session::parse_content_margin(&m.to_string())
            .map_err(|e| invalid(format!("content_margin: {e}"))),
    }
}

fn vectors(data: &[u8], rows: usize, dim: usize) -> PyResult<Vec<Vec<f32>>> {
    if data.len() != rows * dim * 4 {
        return Err(invalid(format!(
            "{} bytes are not {rows} rows of {dim} float32 values",
            data.len()
        )));
    }
    Ok(data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect::<Vec<f32>>()
        .chunks(dim.max(1))
        .map(<[f32]>::to_vec)
        .collect())
}

/// One result per target as JSON: the result, or `{error, error_type}`.
fn results_json(results: Vec<anyhow::Result<Generated>>) -> PyResult<String> {
    let items: Vec<serde_json::Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(g) => serde_json::to_value(g).unwrap_or_else(
                |e| serde_json::json!({"error": e.to_string(), "error_type": "internal"}),
            ),
            Err(e) => serde_json::json!({"error": format!("{e:#}"), "error_type": error_type(&e)}),
        })
        .collect();
    serde_json::to_string(&items).map_err(|e| to_py(e.into()))
}

/// The loaded models.
#[pyclass(module = "vec2prompt._native", frozen)]
struct Engine {
    session: Session,
}

impl Engine {
    /// Runs one optimization request and returns the `/optimize` response's JSON.
    #[allow(clippy::too_many_arguments)]
    fn optimize_with(
        &self,
        py: Python<'_>,
        raw: String,
        budget: usize,
        n: usize,
        style: Style,
        target: Option<UserTarget>,
        started: std::time::Instant,
    ) -> PyResult<String> {
        let request = OptimizeRequest {
            raw_prompt: raw.clone(),
            max_length: 200,
            num_return_sequences: n,
            style,
            budget,
            target,
        };
        let out = py
            .detach(|| self.session.optimize(&request))
            .map_err(to_py)?;
        // The fields of the HTTP API's response, so both surfaces read the same.
        let mut value = serde_json::to_value(&out).map_err(|e| to_py(e.into()))?;
        value["raw_prompt"] = raw.into();
        value["processing_time"] = started.elapsed().as_secs_f64().into();
        serde_json::to_string(&value).map_err(|e| to_py(e.into()))
    }
}

#[pymethods]
impl Engine {
    /// Loads the models of the configuration that `args` (the CLI's global flags) select.
    #[new]
    #[pyo3(signature = (args, dataset=None))]
    fn new(py: Python<'_>, args: Vec<String>, dataset: Option<String>) -> PyResult<Self> {
        let session = py
            .detach(|| {
                let config = resolve(args)?;
                Session::open(config, dataset.map(PathBuf::from).as_deref())
            })
            .map_err(to_py)?;
        Ok(Self { session })
    }

    /// The embedding space's dimension.
    #[getter]
    fn dimension(&self) -> usize {
        self.session.dimension()
    }

    /// A prompt for each of `rows` target vectors in `data`; JSON, one item per row.
    #[pyo3(signature = (data, rows, budget, variants, seed, max_seconds=None, content_margin=None))]
    // The arguments are the Python method's, one by one.
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        data: &[u8],
        rows: usize,
        budget: usize,
        variants: usize,
        seed: u64,
        max_seconds: Option<f64>,
        content_margin: Option<f32>,
    ) -> PyResult<String> {
        let targets = vectors(data, rows, self.session.dimension())?;
        let options = GenerateOptions {
            budget,
            variants,
            seed,
            max_seconds,
            content_margin: margin(content_margin)?,
        };
        let results = py.detach(|| {
            targets
                .chunks(CHUNK)
                .flat_map(|c| self.session.generate(c, &options))
                .collect()
        });
        results_json(results)
    }

    /// A prompt for each text's embedding; JSON, one item per text.
    #[pyo3(signature = (texts, budget, variants, seed, max_seconds=None, content_margin=None))]
    // The arguments are the Python method's, one by one.
    #[allow(clippy::too_many_arguments)]
    fn generate_from_text(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        budget: usize,
        variants: usize,
        seed: u64,
        max_seconds: Option<f64>,
        content_margin: Option<f32>,
    ) -> PyResult<String> {
        let options = GenerateOptions {
            budget,
            variants,
            seed,
            max_seconds,
            content_margin: margin(content_margin)?,
        };
        let results = py
            .detach(|| -> anyhow::Result<Vec<_>> {
                let mut out = Vec::with_capacity(texts.len());
                for c in texts.chunks(CHUNK) {
                    out.extend(self.session.generate_from_text(c, &options)?);
                }
                Ok(out)
            })
            .map_err(to_py)?;
        results_json(results)
    }

    /// The prompt optimizer's rewrites of `raw`; JSON as the HTTP API's `/optimize`. At
    /// most one target (a text, example answers, or a float32 vector as bytes) replaces
    /// the predicted answer of the intent as the goal of the budget's measurements.
    #[pyo3(signature = (raw, budget, n, style, target_text=None, target_examples=None, target_embedding=None))]
    #[allow(clippy::too_many_arguments)]
    fn optimize(
        &self,
        py: Python<'_>,
        raw: String,
        budget: usize,
        n: usize,
        style: String,
        target_text: Option<String>,
        target_examples: Option<Vec<String>>,
        target_embedding: Option<&[u8]>,
    ) -> PyResult<String> {
        let style = Style::parse(&style).map_err(|e| to_py(e.into()))?;
        let started = std::time::Instant::now();
        let target = match (target_text, target_examples, target_embedding) {
            (None, None, None) => None,
            (Some(t), None, None) => Some((GoalKind::TargetText, vec![t])),
            (None, Some(ex), None) => Some((GoalKind::TargetExamples, ex)),
            (None, None, Some(bytes)) => {
                let v = vectors(bytes, 1, self.session.dimension())?.remove(0);
                let t = UserTarget::from_vector(GoalKind::TargetEmbedding, v, Vec::new())
                    .map_err(|e| to_py(e.into()))?;
                return self.optimize_with(py, raw, budget, n, style, Some(t), started);
            }
            _ => {
                return Err(invalid(
                    "give at most one of target_text, target_examples and target_embedding".into(),
                ));
            }
        };
        let target = match target {
            None => None,
            Some((kind, texts)) => {
                if texts.is_empty() || texts.len() > MAX_TARGET_EXAMPLES {
                    return Err(invalid(format!(
                        "target_examples: {} examples; give 1 to {MAX_TARGET_EXAMPLES}",
                        texts.len()
                    )));
                }
                for t in &texts {
                    vec2prompt_core::text::require_non_empty("target", t)
                        .map_err(|e| to_py(e.into()))?;
                }
                let vs = py.detach(|| self.session.embed(&texts)).map_err(to_py)?;
                Some(UserTarget::from_texts(kind, texts, &vs).map_err(|e| to_py(e.into()))?)
            }
        };
        self.optimize_with(py, raw, budget, n, style, target, started)
    }

    /// Unit-length embeddings of `texts`, as float32 little-endian bytes, row by row.
    fn embed<'py>(&self, py: Python<'py>, texts: Vec<String>) -> PyResult<Bound<'py, PyBytes>> {
        let vectors = py.detach(|| self.session.embed(&texts)).map_err(to_py)?;
        let bytes: Vec<u8> = vectors
            .iter()
            .flatten()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        Ok(PyBytes::new(py, &bytes))
    }

    /// Prompts for `steps` points from `a` to `b` (`spherical` or `linear`); JSON points.
    #[pyo3(signature = (a, b, steps, budget, path))]
    fn interpolate(
        &self,
        py: Python<'_>,
        a: &[u8],
        b: &[u8],
        steps: usize,
        budget: usize,
        path: String,
    ) -> PyResult<String> {
        let dim = self.session.dimension();
        let a = vectors(a, 1, dim)?.remove(0);
        let b = vectors(b, 1, dim)?.remove(0);
        let kind = match path.as_str() {
            "spherical" => PathKind::Spherical,
            "linear" => PathKind::Linear,
            other => {
                return Err(invalid(format!(
                    "path {other:?}: use \"spherical\" or \"linear\""
                )));
            }
        };
        let points = py
            .detach(|| self.session.interpolate(&a, &b, steps, budget, kind))
            .map_err(to_py)?;
        serde_json::to_string(&points).map_err(|e| to_py(e.into()))
    }
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Vec2PromptError", m.py().get_type::<Vec2PromptError>())?;
    m.add_class::<Engine>()?;
    Ok(())
}
