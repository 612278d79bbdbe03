//! The vec2prompt HTTP API (`vec2prompt serve`), shaped like text-embeddings-inference:
//!
//! - [`infer`]: the model worker thread, fed by a channel with oneshot replies, admission
//!   bounded by a semaphore (429 when full), queued jobs run together in one batch;
//! - [`http`]: axum routes, bearer auth, the OpenAPI document and Swagger UI;
//! - [`serve`]: the connection loop (connection cap, header timeout, JSON parse errors,
//!   graceful shutdown with a deadline);
//! - [`queue`]: admission permits and the job channel to the worker, which carries jobs
//!   without knowing them;
//! - [`jobs`]: the worker's jobs (search, embed, generate, the optimizer's drafts) and the
//!   outcomes they reply with;
//! - [`api`]: request/response bodies (the OpenAPI schema);
//! - [`validate`]: every check on client input, before the queue;
//! - [`error`]: layered errors → `{error, error_type}` with one status per type;
//! - [`metrics`]: Prometheus names, recorder and request middleware;
//! - [`backends`]: the models and their metering wrappers;
//! - [`playground`]: the web page served at `/`.
//!
//! [`run`] starts everything and blocks until SIGTERM or Ctrl-C, then lets requests in
//! flight finish (within a deadline) and stops the worker after its last job.
//!
//! How a request travels: `serve` (the connection loop) → `http` (`router`: the route
//! table and layers; `handlers`; `openai`: the OpenAI-compatible routes; `auth`: bearer auth;
//! `openapi`: the document and Swagger UI; `layers`: body deadline, JSON errors) →
//! `validate` (every check on client input, before any model time is spent) → `queue`
//! (admission permits, the job channel) → `infer` (one model thread that owns the `Searcher`
//! and, through its `Environment`, the LLM and the embedder):
//!
//! ```text
//!  TCP ─► serve: ≤ max_connections (else 503) · header timeout · hyper's parse errors as JSON
//!       ─► layers: metrics (bounded labels) ─► json_errors ─► read_body (408/413)
//!       ─► router ─► ApiJson (400/415/422) ─► validate + token caps ─► try_acquire (none: 429)
//!                                                                        │ Permit (by value)
//!           oneshot reply ◄── model thread: drain ≤ worker_batch jobs ◄──┘ unbounded mpsc of jobs
//!                              ├─ embed jobs      → one Embedder::embed
//!                              ├─ search jobs     → one Searcher::search_batch per distinct options
//!                              │                    + one Environment::evaluate for evaluate_quality
//!                              └─ chat jobs       → one Llm::generate_cancellable per distinct params
//! ```
//!
//! A semaphore of `queue_capacity` permits bounds the requests admitted at once; with none
//! left the request is refused at once with 429 `overloaded` (and `Retry-After`) rather than
//! left waiting. The handler hands its `Permit` by value to the job it queues (waves of one
//! request share clones of it), so the admission is released when the worker is done with
//! the job (just before it sends the reply, so a client's next request finds the slot free),
//! not when the handler is dropped: a client that hangs up cannot free its slot while
//! its work still runs. The model thread drains every waiting job (up to `worker_batch`) and
//! runs them together, so concurrent requests share the LLM's batched forward passes: on a CPU
//! that sharing, not more threads, is what makes parallel requests faster than sequential
//! ones. Jobs whose client hung up (closed reply channel) are dropped unstarted; a chat job's
//! prompts are cancelled between decoding steps (`Llm::generate_cancellable`, which
//! `LocalLlm` honours by dropping their sequences from the batch). Each request's inputs are
//! checked on their own before the queue (token caps counted off the async runtime), and when
//! a batched call still fails the worker reruns each job alone, so one request's bad item
//! never fails another's; a failure shared by several jobs reaches each as a clone of the same
//! `Error`, its category intact. A panic inside a model call is caught and answered as a 502
//! `backend` error, so the thread survives. Errors are layered: `vec2prompt_core::Error`
//! (invalid input → 422, model/backend/io → 502) and `InferError` (overloaded → 429, worker
//! gone → 503) become a `ServerError`, whose `ErrorType` has one `impl From<&ErrorType> for
//! StatusCode` and leaves as `{error, error_type}`; the `json_errors` layer gives the same
//! shape to errors produced outside the handlers, and `serve::JsonParseErrors` to hyper's own
//! 400/414/431 (written with an empty body before any route runs). `/generate_prompts_batch`
//! is all or nothing; `/generate_prompts_parallel` validates each embedding on its own and
//! runs the valid ones in waves of `max_concurrent`, reporting failures per item. The
//! backends are wrapped in `MeteredLlm`/`MeteredEmbedder` before the search sees them, so
//! `/metrics` counts every model call (batched calls once, plus items and generated tokens)
//! whatever the backend; remote backends' retry counters are read at scrape time; unknown
//! routes and methods collapse into one label value each. Connections: `serve` runs hyper's
//! HTTP/1.1 directly (axum::serve exposes no limits) with a header timeout that also ends idle
//! keep-alive connections, a cap on open connections and a 64 KiB request head. Shutdown:
//! SIGTERM or Ctrl-C closes the listener; requests in flight may finish until
//! `shutdown_timeout_ms`, then the runtime is dropped (abandoning what is left, whose jobs are
//! cancelled), the model thread answers what is queued and `run` returns within the same
//! deadline. The OpenAPI document is derived from the handlers and types (utoipa), then
//! `openapi::document_json` adds what types cannot say: the embedder's dimension, list
//! sizes, ranges from the settings, a visible-text pattern and every status code an operation
//! can answer, and the checks of `validate` as schema keywords: a target embedding's bound
//! per component (`validate::component_bound`, f32::MAX/√dimension, so its length fits a
//! 32-bit float) and a non-zero component (`contains`); an `/interpolate` end as `oneOf` its
//! four kinds, a weighted centroid as one variant per length (JSON Schema cannot tie two
//! lengths together); the chat's roles, text-only parts, `stream` false and a user message
//! with visible text. The router serves that JSON as it is (`SwaggerUi::external_url_unchecked`):
//! utoipa's schema types cannot hold `contains`, `not` or `const`, and a round trip through
//! them fell back to the bare derived document. `vec2prompt print-schema` prints it for the
//! default embedder and a test compares it with `docs/openapi.json`. `parse_embedding` reads
//! components as f64 and scales them by the largest magnitude before they become f32, so a
//! vector of tiny numbers keeps its direction; `/interpolate` weights are checked in f64 the
//! same way. `make fuzz` (`scripts/fuzz.sh`) runs schemathesis with every check against a
//! real server started with small limits, which the document states too; `make soak`
//! (`scripts/soak.sh`, `scripts/soak.py`) drives bounded load on loopback.
//!
//! The playground (`crates/server/assets/playground`, [`playground`]) is a
//! static page (HTML, CSS, dependency-free JavaScript, `include_str!` into the binary) served
//! at `/` and `/playground` outside the auth layer, with a content security policy that only
//! allows its own origin. It calls the public API like any client (`/health`,
//! `/v1/embeddings`, `/generate_prompt[_from_text]`, `/interpolate`, `/optimize`,
//! `/feedback`) with `options.return_vectors`, and draws a PCA (power iteration, in the
//! page) of the target, the predicted answers and the real answers on a canvas. With a budget
//! it first asks for the fast pick, then for the measured search, so the map updates as the
//! results arrive. Its end-to-end test drives headless Chromium over the WebDriver protocol
//! (plain HTTP to ChromeDriver through `ureq`, no browser-automation dependency).
//!
//! The optimizer's routes: the server holds an `OptimizerState` (optimizer, feedback log,
//! both optional): `/optimize` embeds, decodes its rewrites (a draft job) and, with a
//! budget, answers and embeds the variants, all through the worker under the request's
//! admission permit. An optimizer named by `--optimizer` must load; one only found in
//! `$VEC2PROMPT_HOME/optimizer` that cannot (e.g. the LLM is an OpenAI-compatible service,
//! and the optimizer needs the local GGUF) is left out with a warning.

pub mod api;
pub mod backends;
pub mod config;
pub mod error;
pub mod http;
pub mod infer;
pub mod jobs;
pub mod metrics;
pub mod playground;
pub mod queue;
pub mod serve;
pub mod validate;

pub use backends::{Backends, CounterFn, TokenCounter};
pub use config::{ServerConfig, ServerSettings};
pub use error::{ErrorResponse, ErrorType, ServerError};
pub use http::{ApiDoc, AppState, OptimizerState, ServerInfo, openapi_json, router};
pub use infer::{Infer, Worker};

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use vec2prompt_core::{Error, Result};
pub use vec2prompt_search::{Environment, Searcher};

/// Builds the app state (starting the model worker). `searcher` builds the search from the
/// environment of metered `backends`, so every model call shows in `/metrics`; `dataset`
/// describes its candidate dataset for `/health`. The returned [`Worker`] finishes once
/// every clone of the state is dropped.
pub fn start(
    config: ServerConfig,
    backends: &Backends,
    dataset: Option<api::DatasetStatus>,
    optimizer: OptimizerState,
    searcher: impl FnOnce(Environment) -> Result<Searcher>,
) -> Result<(AppState, Worker)> {
    config
        .validate()
        .map_err(|e| Error::invalid("server config", e))?;
    // Install the recorder first so the worker's and backends' metrics are recorded.
    let _ = metrics::handle();
    let abandon = backends::Abandon::default();
    let metered = backends.metered(abandon.clone());
    let env = Environment::new(metered.llm.clone(), metered.embedder.clone());
    let dimension = env.dimension();
    let searcher = searcher(env)?;
    let learned_models = searcher.latent().map(|l| l.dir.display().to_string());
    // The generator's decoding stops, like the LLM's, when nobody waits for the search.
    let generator_passes = searcher.shared_generator().map(|g| {
        let gone = abandon.clone();
        g.set_stop_check(Some(Arc::new(move || gone.abandoned())));
        Arc::new(move || g.forward_passes()) as backends::CounterFn
    });
    let (infer, worker) = Infer::start(
        searcher,
        abandon,
        backends.embed_tokens.clone(),
        config.queue_capacity,
        config.worker_batch,
    );
    // Series that exist before any traffic, so dashboards and scrapers see zeros.
    for backend in ["llm", "embedder"] {
        ::metrics::counter!(metrics::BACKEND_CALLS, "backend" => backend).increment(0);
        ::metrics::counter!(metrics::BACKEND_ERRORS, "backend" => backend).increment(0);
    }
    ::metrics::counter!(metrics::GENERATED_TOKENS).increment(0);
    ::metrics::counter!(metrics::QUEUE_REJECTED).increment(0);
    let info = ServerInfo {
        llm: backends.llm_status.clone(),
        embedder: backends.embedder_status.clone(),
        dataset,
        learned_models,
        dimension,
        retries: backends.retries.clone(),
        tokens: http::TokenCounts {
            llm: metered.llm.clone(),
            embedder: backends.embed_tokens.clone(),
        },
        generator_passes,
    };
    Ok((
        AppState {
            infer,
            config: Arc::new(config),
            info: Arc::new(info),
            optimizer: Arc::new(optimizer),
        },
        worker,
    ))
}

/// Serves the API until SIGTERM or Ctrl-C (blocking), then finishes the requests in
/// flight and the worker's jobs, within `shutdown_timeout_ms` of the signal, and returns.
pub fn run(
    config: ServerConfig,
    backends: &Backends,
    dataset: Option<api::DatasetStatus>,
    optimizer: OptimizerState,
    searcher: impl FnOnce(Environment) -> Result<Searcher>,
) -> Result<()> {
    let addr = (config.host.clone(), config.port);
    let limits = config.connection_limits();
    let (state, worker) = start(config, backends, dataset, optimizer, searcher)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vec2prompt-http")
        .enable_all()
        .build()
        .map_err(|e| Error::backend("tokio runtime", e))?;
    let signalled = Arc::new(OnceLock::new());
    let on_signal = signalled.clone();
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((addr.0.as_str(), addr.1))
            .await
            .map_err(|e| {
                Error::invalid(
                    "--host/--port",
                    format!("cannot bind {}:{}: {e}", addr.0, addr.1),
                )
            })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::backend("listener", e))?;
        eprintln!("vec2prompt serve: listening on http://{local}");
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                metrics::handle().run_upkeep();
            }
        });
        let shutdown = async move {
            shutdown_signal().await;
            let _ = on_signal.set(Instant::now());
        };
        Ok::<_, Error>(serve::serve(listener, router(state), limits, shutdown).await)
    });
    let report = match served {
        Ok(r) => r,
        Err(e) => {
            drop(runtime);
            worker.join();
            return Err(e);
        }
    };
    if report.deadline_passed {
        eprintln!(
            "vec2prompt serve: requests were still running {} ms after the signal; \
             abandoning them",
            limits.shutdown_timeout.as_millis()
        );
    }
    // Dropping the runtime drops every remaining connection and handle to the worker:
    // abandoned requests' jobs are cancelled, and the channel closes, so the worker
    // answers what is still queued and stops.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let deadline = signalled.get().copied().unwrap_or_else(Instant::now) + limits.shutdown_timeout;
    if !worker.join_until(deadline) {
        eprintln!("vec2prompt serve: the model worker was still busy at the deadline");
    }
    eprintln!("vec2prompt serve: stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    eprintln!("vec2prompt serve: shutting down; finishing requests in flight");
}
