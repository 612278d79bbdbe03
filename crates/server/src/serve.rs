//! The connection loop: HTTP/1.1 over TCP with the limits a public server needs, which
//! `axum::serve` does not expose:
//!
//! - at most `max_connections` open connections; one more is answered 503 `unavailable`
//!   (with `Retry-After`) and closed, so a flood of idle or slow clients cannot exhaust
//!   file descriptors or memory;
//! - a header timeout: a client must send a request's header within `header_timeout_ms`
//!   of connecting or of the previous response (so it also closes idle keep-alive
//!   connections); the body has its own deadline (see `http::layers`);
//! - requests hyper itself refuses before routing (malformed, URI or headers too large)
//!   still get a JSON `{error, error_type}` body ([`JsonParseErrors`]);
//! - graceful shutdown with a deadline: on the shutdown signal the listener closes, idle
//!   connections close, requests in flight may finish until `shutdown_timeout_ms`, and then
//!   the loop returns whatever is still open (dropping those requests' work).

use crate::error::{ErrorResponse, ErrorType, RETRY_AFTER_SECONDS};
use axum::Router;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Largest request head (request line and headers) hyper buffers; a larger one is 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers in one request; more is 431.
pub const MAX_HEADERS: usize = 100;

/// Limits of the connection loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time to send a request's header, from connecting or from the previous response.
    pub header_timeout: Duration,
    /// How long requests in flight may run after the shutdown signal.
    pub shutdown_timeout: Duration,
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections open when the shutdown signal came.
    pub open_at_signal: usize,
    /// Whether some were still open at the deadline (their requests were abandoned).
    pub deadline_passed: bool,
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully within
/// `limits.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> ShutdownReport {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    eprintln!("vec2prompt serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(JsonParseErrors::new(stream));
        let conn = http.serve_connection(io, TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    let open_at_signal = graceful.count();
    let finished = tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await;
    ShutdownReport {
        open_at_signal,
        deadline_passed: finished.is_err(),
    }
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = error_body(
        ErrorType::Unavailable,
        &format!("the server has {max} connections open, its limit; retry in a moment"),
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: {RETRY_AFTER_SECONDS}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

fn error_body(error_type: ErrorType, message: &str) -> String {
    serde_json::to_string(&ErrorResponse {
        error: message.to_string(),
        error_type,
    })
    .unwrap_or_default()
}

/// The JSON body for a response hyper writes on its own, before any routing, when it
/// cannot parse a request; `None` for other responses.
fn parse_error_body(status: StatusCode) -> Option<String> {
    let message = match status {
        StatusCode::BAD_REQUEST => "the request is not valid HTTP/1.1".to_string(),
        StatusCode::URI_TOO_LONG => {
            format!(
                "the request URI is too long (the request head may have {MAX_HEAD_BYTES} bytes)"
            )
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => format!(
            "the request headers are too large (at most {MAX_HEADERS} headers and \
             {MAX_HEAD_BYTES} bytes in all)"
        ),
        _ => return None,
    };
    Some(error_body(ErrorType::from_status(status), &message))
}

/// A connection whose automatic parse-error responses from hyper (400, 414, 431 with an
/// empty body, written before any handler ran) are given the API's JSON error body.
///
/// Every response of the router carries a body (errors are JSON), so an error head with
/// `content-length: 0` can only be hyper's. Vectored writes are declined so hyper writes
/// each head in one buffer.
pub struct JsonParseErrors<S> {
    inner: S,
    /// The rewritten response being written: bytes, how many are written, and the length
    /// of hyper's original buffer to report once done.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonParseErrors<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The rewritten bytes for hyper's head-only parse-error response in `buf`, if it is one.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let status = StatusCode::from_bytes(rest.get(..3)?).ok()?;
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?;
    let empty = "content-length: 0\r\n";
    let at = head.to_ascii_lowercase().find(empty)?;
    let body = parse_error_body(status)?;
    let mut out = String::with_capacity(head.len() + body.len() + 64);
    out.push_str(&head[..at]);
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    ));
    out.push_str(&head[at + empty.len()..]);
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match rewrite(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // Write the whole rewritten response before reporting hyper's buffer as written
        // (hyper retries the same buffer while this returns Pending).
        while let Some((bytes, written, original)) = this.pending.as_mut() {
            if *written == bytes.len() {
                let n = *original;
                this.pending = None;
                return Poll::Ready(Ok(n));
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_parse_error_heads_are_rewritten() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 431 "), "{h}");
        assert!(h.contains("content-type: application/json"), "{h}");
        assert!(
            h.contains(&format!("content-length: {}", body.len())),
            "{h}"
        );
        assert!(
            h.contains("date: x") && h.contains("connection: close"),
            "{h}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error_type"], "headers_too_large");
        let e414 = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let out = String::from_utf8(rewrite(e414).unwrap()).unwrap();
        assert!(out.contains("\"uri_too_long\""), "{out}");
        // Responses with a body, other statuses and partial heads pass through.
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
            b"{\"prompt\": \"HTTP/1.1 400 \"}",
        ] {
            assert!(
                rewrite(other).is_none(),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
