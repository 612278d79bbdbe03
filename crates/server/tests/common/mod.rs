//! An in-process `vec2prompt serve` for the tests: the real local models (SmolLM2 and
//! all-MiniLM-L6-v2, loaded once per test binary), a small dataset of neighbours embedded
//! by the real embedder, the real router and connection loop on a free port, and a plain
//! HTTP/1.1 client over `std::net::TcpStream`.
#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use vec2prompt_core::{Embedder, Llm};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};
use vec2prompt_llm::{LocalLlm, LocalLlmConfig};
use vec2prompt_search::{Neighbours, Searcher};
use vec2prompt_server::api::ModelStatus;
use vec2prompt_server::serve::ShutdownReport;
use vec2prompt_server::{Backends, ServerConfig, TokenCounter, router, serve, start};

/// The real models, or `None` when the user opted out of real-model tests.
pub fn backends() -> Option<Backends> {
    static BACKENDS: OnceLock<Option<Backends>> = OnceLock::new();
    BACKENDS
        .get_or_init(|| {
            let embed_dir = vec2prompt_core::testing::real_model("all-MiniLM-L6-v2")?;
            let llm_dir = vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct")?;
            let embedder =
                Arc::new(LocalEmbedder::load(&embed_dir, LocalEmbedderConfig::default()).unwrap());
            let llm = LocalLlm::load(
                &llm_dir.join("SmolLM2-135M-Instruct.Q4_1.gguf"),
                LocalLlmConfig::default(),
            )
            .unwrap();
            let counter = embedder.clone();
            let embed_tokens: TokenCounter =
                Arc::new(move |t: &str| counter.tokenize(t).map_or(0, |ids| ids.len()));
            let status = |name: &str| ModelStatus {
                name: name.to_string(),
                backend: "local".to_string(),
                location: String::new(),
            };
            Some(Backends {
                llm_status: status(&llm.info().name),
                embedder_status: status(&embedder.info().name),
                llm: Arc::new(llm),
                embedder,
                embed_tokens: Some(embed_tokens),
                retries: Vec::new(),
            })
        })
        .clone()
}

const PROMPTS: &[&str] = &[
    "Give three tips for staying healthy.",
    "Describe the ocean in one sentence.",
    "Name three primary colors.",
    "Explain what a violin is.",
    "Write a sentence about the moon.",
    "What is the capital of France?",
    "Suggest a name for a bakery.",
    "How do bees make honey?",
];

/// Candidate neighbours: a few prompts whose outputs are embedded with the real embedder.
fn neighbours(embedder: &dyn Embedder) -> Neighbours {
    let records: Vec<Record> = (0..40)
        .map(|i| Record {
            id: i.to_string(),
            index: i,
            prompt: format!("{} ({i})", PROMPTS[i % PROMPTS.len()]),
            output: format!("An answer about {} number {i}.", PROMPTS[i % PROMPTS.len()]),
            tokens: 8,
            kind: RecordKind::Instruction,
            split: Split::of_index(i),
        })
        .collect();
    let texts = |f: fn(&Record) -> &String| records.iter().map(f).cloned().collect::<Vec<_>>();
    let outputs = embedder.embed(&texts(|r| &r.output)).unwrap().concat();
    let prompts = embedder.embed(&texts(|r| &r.prompt)).unwrap().concat();
    let dim = embedder.info().dimension;
    Neighbours::from_parts(records, &outputs, Some(&prompts), dim).unwrap()
}

/// A running server; shut down (and waited for) when dropped.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<ShutdownReport>>,
}

impl TestServer {
    /// Starts a server with `config` (host and port are ignored: a free loopback port is
    /// used), or `None` without the real models.
    pub fn start(config: ServerConfig) -> Option<TestServer> {
        Self::start_with(config, Default::default())
    }

    /// [`TestServer::start`] with the optimizer routes' state.
    pub fn start_with(
        config: ServerConfig,
        optimizer: vec2prompt_server::OptimizerState,
    ) -> Option<TestServer> {
        Self::start_searching(config, optimizer, |env| {
            let n = neighbours(env.embedder.as_ref());
            Searcher::new(env, Some(Arc::new(n)), None)
        })
    }

    /// [`TestServer::start_with`] with the search that `searcher` builds.
    pub fn start_searching(
        config: ServerConfig,
        optimizer: vec2prompt_server::OptimizerState,
        searcher: impl FnOnce(vec2prompt_search::Environment) -> vec2prompt_core::Result<Searcher>,
    ) -> Option<TestServer> {
        let backends = backends()?;
        let limits = config.connection_limits();
        let (state, worker) = start(config, &backends, None, optimizer, searcher).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let report = runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                serve::serve(listener, router(state), limits, async {
                    let _ = stopped.await;
                })
                .await
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
            worker.join();
            report
        });
        Some(TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Signals shutdown and waits for the connection loop and the worker to finish.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> ShutdownReport {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.thread
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or(ShutdownReport {
                open_at_signal: 0,
                deadline_passed: false,
            })
    }

    /// Sends `raw` bytes on a new connection and reads until the server closes it (or
    /// `timeout`).
    pub fn raw(&self, raw: &[u8], timeout: Duration) -> Reply {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(timeout)).unwrap();
        let _ = s.write_all(raw);
        read_reply(&mut s)
    }

    /// One request with `Connection: close`.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        if !body.is_empty() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        self.raw(req.as_bytes(), Duration::from_secs(300))
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }

    /// POST `body` as JSON to `path`.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body))
    }

    /// Requests admitted now, from `/health`.
    pub fn in_use(&self) -> u64 {
        self.get("/health").json()["queue"]["in_use"]
            .as_u64()
            .unwrap()
    }

    /// Waits until `/health` shows `n` requests admitted; returns how long it took, or
    /// `None` after `timeout`.
    pub fn wait_in_use(&self, n: u64, timeout: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.in_use() == n {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A response (status 0 when the connection closed without one).
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The head, lower-cased.
    pub head: String,
    /// The body.
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {:?}", self.status, self.body))
    }

    /// Asserts an error in the API's shape with this status and type.
    pub fn assert_error(&self, status: u16, error_type: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let v = self.json();
        assert_eq!(v["error_type"], error_type, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert!(
            self.head.contains("content-type: application/json"),
            "{}",
            self.head
        );
    }
}

/// Reads one response (until the server closes, or the read timeout).
pub fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Reply {
            status: 0,
            head: text,
            body: String::new(),
        };
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}
