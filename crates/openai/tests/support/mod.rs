//! A fault-injecting HTTP/1.1 server for the client tests: every request is recorded (with
//! its arrival time) and answered by a handler that may delay, fail, truncate or drop.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request path, e.g. `/v1/embeddings`.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
    /// When the request was fully read.
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response, sent after `delay`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        delay: Duration,
    },
    /// Close the connection without answering.
    Drop,
    /// Announce the whole body, send half of it, close.
    Truncated(String),
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply::Full {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn raw(status: u16, body: &str) -> Self {
        Reply::Full {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn after(mut self, wait: Duration) -> Self {
        if let Reply::Full { delay, .. } = &mut self {
            *delay = wait;
        }
        self
    }
}

type Handler = dyn Fn(usize, &Request) -> Reply + Send + Sync;

/// The running server. It lives until the test process exits.
pub struct TestServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl TestServer {
    /// A server answering request number `i` (0-based, in arrival order) with `handler`.
    pub fn start(handler: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = TestServer {
            port,
            requests: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let handler: Arc<Handler> = Arc::new(handler);
        let requests = Arc::clone(&server.requests);
        let in_flight = Arc::clone(&server.in_flight);
        let max_in_flight = Arc::clone(&server.max_in_flight);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = Arc::clone(&handler);
                let requests = Arc::clone(&requests);
                let in_flight = Arc::clone(&in_flight);
                let max_in_flight = Arc::clone(&max_in_flight);
                std::thread::spawn(move || {
                    let Some(request) = read_request(&stream) else {
                        return;
                    };
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let index = {
                        let mut all = requests.lock().unwrap();
                        all.push(request.clone());
                        all.len() - 1
                    };
                    let reply = handler(index, &request);
                    respond(stream, reply, &in_flight);
                });
            }
        });
        server
    }

    /// A server answering the i-th request with `script[i]`, and later ones with `then`.
    pub fn scripted(script: Vec<Reply>, then: Reply) -> Self {
        Self::start(move |i, _| script.get(i).cloned().unwrap_or_else(|| then.clone()))
    }

    /// `http://127.0.0.1:{port}/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Gaps between consecutive request arrivals.
    pub fn gaps(&self) -> Vec<Duration> {
        let r = self.requests();
        r.windows(2).map(|w| w[1].at - w[0].at).collect()
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    })
}

fn respond(mut stream: TcpStream, reply: Reply, in_flight: &AtomicUsize) {
    match reply {
        Reply::Full {
            status,
            headers,
            body,
            delay,
        } => {
            std::thread::sleep(delay);
            let mut head = format!(
                "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
        Reply::Drop => {
            in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        Reply::Truncated(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body.as_bytes()[..body.len() / 2]);
            let _ = stream.flush();
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// A valid embeddings response for `request`: vector of input `i` is `[i, len(text_i), 1, …]`
/// (`dim` long), listed in reverse index order so clients must sort by `index`.
pub fn embeddings_for(request: &Request, dim: usize) -> Reply {
    let inputs = request.body["input"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| {
            let mut v = vec![1.0f32; dim];
            v[0] = i as f32;
            v[1] = text.as_str().unwrap_or("").len() as f32;
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Reply::json(
        200,
        json!({"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 7, "total_tokens": 7}}),
    )
}

/// A valid chat response with `n` choices `"{text} #{i}"`.
pub fn chat_reply(text: &str, n: usize, finish_reason: &str, completion_tokens: u64) -> Reply {
    let choices: Vec<Value> = (0..n)
        .rev()
        .map(|i| {
            json!({"index": i, "message": {"role": "assistant", "content": format!("{text} #{i}")},
                   "finish_reason": finish_reason})
        })
        .collect();
    Reply::json(
        200,
        json!({"id": "x", "object": "chat.completion", "choices": choices,
               "usage": {"prompt_tokens": 11, "completion_tokens": completion_tokens,
                         "total_tokens": 11 + completion_tokens}}),
    )
}
