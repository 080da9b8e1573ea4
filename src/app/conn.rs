//! The API listener's connections: [`Conn`] wraps each accepted socket so the errors
//! actix-http answers by itself are JSON, and [`Connections`] counts them against
//! `server.max_connections`.
//!
//! actix-http answers a request it cannot parse (a malformed header line: 400, more
//! than 96 headers or a head over 128 KiB: 431, headers not sent within 5 s: 408)
//! before any service or middleware runs, with no body and no content type, and it
//! offers no hook to change that answer. [`Conn`] sits between the dispatcher and the
//! socket and rewrites exactly those heads on their way out, adding an OpenAI-shaped
//! error body. It recognises them by their fixed form (a status line of one of
//! those codes directly followed by `content-length: 0`): none of the gateway's own
//! answers looks like that (every error it sends has a JSON body), and its bodies
//! (JSON, SSE of JSON lines) never hold a raw CRLF, so body bytes cannot match either.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ErrorBody, ErrorDetail};

/// A client connection of the API listener (see the module doc).
pub struct Conn {
    io: TcpStream,
    /// What was written in place of an actix error head, and how much of it is sent.
    rewritten: Option<(Vec<u8>, usize)>,
    /// Holds this connection's place in the count until it closes.
    _slot: Slot,
}

impl Conn {
    pub fn new(io: TcpStream, slot: Slot) -> Self {
        Self {
            io,
            rewritten: None,
            _slot: slot,
        }
    }

    /// Sends what is left of a rewritten answer; ready once all of it is out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.rewritten {
            if *sent == bytes.len() {
                self.rewritten = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.drain(cx))?;
        match find_bare_error(buf) {
            // What comes before the error head goes out as it is; the head is found
            // again at the start of the next write.
            Some(found) if found.start > 0 => {
                Pin::new(&mut this.io).poll_write(cx, &buf[..found.start])
            }
            Some(found) => {
                tracing::debug!(
                    status = found.status,
                    "malformed client request; answered with a JSON error"
                );
                this.rewritten = Some((with_json_body(buf, &found), 0));
                // The head is taken over (as a buffered writer would): sent by
                // `drain` now or before anything else is written or flushed.
                let _ = this.drain(cx)?;
                Poll::Ready(Ok(found.end))
            }
            None => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// One of actix-http's bodiless error answers inside a write.
#[derive(Debug, PartialEq, Eq)]
struct BareError {
    /// Where its status line starts.
    start: usize,
    /// Where its `content-length: 0\r\n` line starts.
    length_line: usize,
    /// Just past the blank line ending its head.
    end: usize,
    status: u16,
}

/// The header line of a bodiless answer, as actix-http writes it.
const EMPTY_LENGTH: &[u8] = b"content-length: 0\r\n";

/// The first bodiless 400, 408, 431 or 500 head wholly inside `buf`.
fn find_bare_error(buf: &[u8]) -> Option<BareError> {
    memchr::memmem::find_iter(buf, b"HTTP/1.").find_map(|start| {
        let head = &buf[start..];
        let status = match head.get(9..13)? {
            b"400 " => 400,
            b"408 " => 408,
            b"431 " => 431,
            b"500 " => 500,
            _ => return None,
        };
        let length_line = memchr::memmem::find(head, b"\r\n")? + 2;
        if !head[length_line..].starts_with(EMPTY_LENGTH) {
            return None;
        }
        let end = memchr::memmem::find(&head[length_line - 2..], b"\r\n\r\n")? + length_line + 2;
        Some(BareError {
            start,
            length_line: start + length_line,
            end: start + end,
            status,
        })
    })
}

/// The head found at the start of `buf`, with a JSON content type and body.
fn with_json_body(buf: &[u8], found: &BareError) -> Vec<u8> {
    let (message, kind, code) = match found.status {
        400 => (
            "malformed HTTP request: the request line or a header could not be parsed",
            "invalid_request_error",
            Some("invalid_http_request"),
        ),
        408 => (
            "the request headers were not received in time",
            "invalid_request_error",
            Some("request_timeout"),
        ),
        431 => (
            "request headers too large: at most 96 headers and 128 KiB are accepted",
            "invalid_request_error",
            Some("request_header_fields_too_large"),
        ),
        _ => ("internal error", "server_error", None),
    };
    let body = ErrorBody {
        error: ErrorDetail {
            message: message.to_owned(),
            kind,
            param: None,
            code,
        },
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut out = Vec::with_capacity(found.end - found.start + body.len() + 64);
    out.extend_from_slice(&buf[found.start..found.length_line]);
    out.extend_from_slice(b"content-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&buf[found.length_line + EMPTY_LENGTH.len()..found.end]);
    out.extend_from_slice(&body);
    out
}

// === impl Connections ===

/// How often, at most, reaching the connection limit is logged.
const FULL_WARN_EVERY: Duration = Duration::from_secs(10);

/// The API listener's open connections and their limit (`server.max_connections`).
/// actix-server enforces the limit per worker (it stops accepting on a full worker;
/// new connections wait in the listen backlog); this count is for the warning.
#[derive(Debug)]
pub struct Connections {
    open: AtomicUsize,
    limit: usize,
    started: Instant,
    /// Milliseconds after `started` of the last warning, [`u64::MAX`] for never.
    warned_at: AtomicU64,
}

/// A connection's place in [`Connections`], given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Connections>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            limit,
            started: Instant::now(),
            warned_at: AtomicU64::new(u64::MAX),
        })
    }

    /// Counts a new connection, warning (at most every [`FULL_WARN_EVERY`]) when it
    /// fills the last place.
    pub fn admit(self: &Arc<Self>) -> Slot {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        if open >= self.limit {
            self.warn_full(open);
        }
        Slot(self.clone())
    }

    fn warn_full(&self, open: usize) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.warned_at.load(Ordering::Relaxed);
        let due =
            last == u64::MAX || now.saturating_sub(last) >= FULL_WARN_EVERY.as_millis() as u64;
        if due
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                open,
                limit = self.limit,
                "connection limit reached (server.max_connections): new connections wait \
                 in the listen backlog until open ones close"
            );
        }
    }
}

/// Share of the open-files limit the default connection limit may use; the rest is
/// for the usage ledger, logs, listeners and the like.
const FILES_SHARE: (u64, u64) = (4, 5);

/// Used when the open-files limit cannot be read (or is unlimited).
const FALLBACK_MAX_CONNECTIONS: usize = 25_000;

/// The default `server.max_connections`: 80 % of the open-files (soft) limit, halved
/// because a client connection in a request holds an upstream connection too.
pub fn default_max_connections() -> usize {
    #[cfg(unix)]
    if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE)
        && soft != rlimit::INFINITY
    {
        let usable = soft / FILES_SHARE.1 * FILES_SHARE.0;
        return usize::try_from(usable / 2)
            .unwrap_or(FALLBACK_MAX_CONNECTIONS)
            .max(1);
    }
    FALLBACK_MAX_CONNECTIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";

    #[test]
    fn finds_actix_bare_error_heads_only() {
        let found = find_bare_error(BAD).expect("found");
        assert_eq!((found.start, found.end, found.status), (0, BAD.len(), 400));
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let pipelined = [ok, BAD].concat();
        assert_eq!(find_bare_error(&pipelined).map(|f| f.start), Some(ok.len()));
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 90\r\n\r\n{\"error\":{}}";
        assert_eq!(find_bare_error(own), None);
        assert_eq!(find_bare_error(&BAD[..BAD.len() - 2]), None);
    }

    #[test]
    fn the_rewritten_head_carries_a_json_error() {
        let found = find_bare_error(BAD).expect("found");
        let out = String::from_utf8(with_json_body(BAD, &found)).expect("utf-8");
        let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"));
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(head.ends_with("connection: close\r\ndate: x"));
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "invalid_http_request");
    }
}
