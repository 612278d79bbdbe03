//! The vec2prompt HTTP API (`vec2prompt serve`), shaped like text-embeddings-inference:
//!
//! - [`infer`]: the model worker thread, fed by a channel with oneshot replies, admission
//!   bounded by a semaphore (429 when full), queued jobs run together in one batch;
//! - [`http`]: axum routes, bearer auth, the OpenAPI document and Swagger UI;
//! - [`serve`]: the connection loop (connection cap, header timeout, JSON parse errors,
//!   graceful shutdown with a deadline);
//! - [`queue`]: admission permits and the job channel to the worker;
//! - [`api`]: request/response bodies (the OpenAPI schema);
//! - [`validate`]: every check on client input, before the queue;
//! - [`error`]: layered errors → `{error, error_type}` with one status per type;
//! - [`metrics`]: Prometheus names, recorder and request middleware;
//! - [`backends`]: the models and their metering wrappers;
//! - [`walk`]: targets as texts, vectors or centroids, and `/interpolate`;
//! - [`optimize`]: the prompt optimizer's `/optimize` and `/feedback`;
//! - [`playground`]: the web page served at `/`.
//!
//! [`run`] starts everything and blocks until SIGTERM or Ctrl-C, then lets requests in
//! flight finish (within a deadline) and stops the worker after its last job.

pub mod api;
pub mod backends;
pub mod config;
pub mod error;
pub mod http;
pub mod infer;
pub mod metrics;
pub mod optimize;
pub mod playground;
pub mod queue;
pub mod serve;
pub mod validate;
pub mod walk;

pub use backends::{Backends, CounterFn, TokenCounter};
pub use config::{ServerConfig, ServerSettings};
pub use error::{ErrorResponse, ErrorType, ServerError};
pub use http::{ApiDoc, AppState, ServerInfo, openapi_json, router};
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
    optimizer: optimize::OptimizerState,
    searcher: impl FnOnce(Environment) -> Result<Searcher>,
) -> Result<(AppState, Worker)> {
    config
        .validate()
        .map_err(|e| Error::invalid("server config", e))?;
    // Install the recorder first so the worker's and backends' metrics are recorded.
    let _ = metrics::handle();
    let metered = backends.metered();
    let env = Environment::new(metered.llm.clone(), metered.embedder.clone());
    let dimension = env.dimension();
    let searcher = searcher(env)?;
    let learned_models = searcher.latent().map(|l| l.dir.display().to_string());
    let (infer, worker) = Infer::start(
        searcher,
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
    optimizer: optimize::OptimizerState,
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
