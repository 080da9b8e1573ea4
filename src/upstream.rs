//! The HTTP side of an attempt: pooled reqwest clients, timeouts, error classes.
//!
//! Each thread gets its own client (and so its own connection pool). actix-web runs one
//! single-threaded runtime per worker; a connection opened from one worker is driven by
//! a task on that worker's runtime, so sharing one pool across workers would hand every
//! response over between threads. Per-thread pools keep each exchange on one thread.
//!
//! Over HTTP/1.1 every request in flight holds a connection of its own: a socket, and
//! about 25 KiB of hyper buffers and channels, for as long as its stream lasts. Over
//! HTTP/2 all of a provider's requests share one connection per thread at well under
//! 1 KiB each. `https://` providers get HTTP/2 when they offer it in the TLS handshake
//! (ALPN); plain `http://` ones only when configured with `h2c` (prior knowledge),
//! which has its own client since the choice is per client in reqwest. With
//! `h2c = "streams"` only streams take it: a one-shot call over HTTP/1.1 keep-alive
//! costs ~20k fewer instructions in the gateway than over HTTP/2 (callgrind, and
//! less in the upstream too), while streams, which hold their connection for their
//! whole length, are where sharing one saves sockets and memory.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::adapters::UpstreamRequest;
use crate::config::ProviderConfig;
use crate::error::{ErrorClass, UpstreamError};

/// Idle keep-alive connections kept per upstream host: enough for a busy gateway to
/// reuse connections instead of paying a TCP (and TLS) handshake per request.
const POOL_IDLE_PER_HOST: usize = 256;
/// Time to establish a TCP connection before the attempt counts as a connect failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Error bodies are read up to this size; the rest is not needed to classify them.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Parsed upstream URLs kept per thread: more than this many distinct URLs (there is
/// one per provider endpoint and model) empties the cache rather than growing it.
const URLS_KEPT: usize = 1024;

thread_local! {
    /// reqwest parses a `&str` URL on every request (~7k instructions); providers'
    /// endpoints repeat, so each thread parses each one once.
    static URLS: std::cell::RefCell<std::collections::HashMap<String, reqwest::Url>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static CLIENT: reqwest::Client = builder().build().unwrap_or_default();
    static CLIENT_H2C: reqwest::Client = builder()
        .http2_prior_knowledge()
        .build()
        .unwrap_or_default();
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
}

/// Pooled, keep-alive HTTP clients for all providers, one per thread.
#[derive(Debug, Clone, Default)]
pub struct Upstream {
    _private: (),
}

impl Upstream {
    /// A handle on the per-thread clients.
    pub fn new() -> Self {
        Self::default()
    }

    /// This thread's client for a (streamed or one-shot) request to `provider` (a
    /// cheap handle clone).
    pub fn client(&self, provider: &ProviderConfig, stream: bool) -> reqwest::Client {
        if provider.h2c.for_request(stream) {
            CLIENT_H2C.with(Clone::clone)
        } else {
            CLIENT.with(Clone::clone)
        }
    }

    /// Sends a one-shot request and waits for a 2xx response head (bounded by the
    /// provider's first-byte timeout). Non-2xx answers are read and classified by the
    /// adapter.
    pub async fn send(
        &self,
        provider: &ProviderConfig,
        up: UpstreamRequest,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.send_observed(provider, up, false, |_| {}).await
    }

    /// [`Upstream::send`] for a streamed or one-shot request, showing the response
    /// head's headers (2xx or not) to `observe` first: the key's buckets follow the
    /// provider's rate-limit headers.
    pub async fn send_observed(
        &self,
        provider: &ProviderConfig,
        up: UpstreamRequest,
        stream: bool,
        observe: impl FnOnce(&reqwest::header::HeaderMap),
    ) -> Result<reqwest::Response, UpstreamError> {
        let client = self.client(provider, stream);
        let body = bytes::Bytes::from(up.body);
        let build = || -> Result<reqwest::RequestBuilder, UpstreamError> {
            let url = parsed_url(&up.url)?;
            let mut rb = if body.is_empty() {
                client.get(url)
            } else {
                client
                    .post(url)
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body.clone())
            };
            for (name, value) in &up.headers {
                rb = rb.header(name.clone(), value.clone());
            }
            Ok(rb.timeout(provider.timeout))
        };
        let first = build()?;
        let send = async {
            match first.send().await {
                // The connection broke before any answer: most often a keep-alive
                // connection the provider closed just as it was taken from the pool
                // (servers close idle connections after as little as 5 s; periodic
                // heartbeats can fall on that moment every time). Once more, at once,
                // on a fresh connection, instead of failing the attempt.
                Err(e) if is_broken_connection(&e) => match build() {
                    Ok(again) => again.send().await,
                    Err(_) => Err(e),
                },
                other => other,
            }
        };
        let resp = match tokio::time::timeout(provider.first_byte_timeout, send).await {
            Err(_) => {
                return Err(UpstreamError::new(
                    ErrorClass::Timeout,
                    "no response before the first-byte timeout",
                ));
            }
            Ok(Err(e)) => return Err(classify(&e)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        observe(resp.headers());
        if status.is_success() {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let body = read_limited(resp, MAX_ERROR_BODY).await;
        Err(provider
            .kind
            .adapter()
            .map_error(status.as_u16(), &headers, &body))
    }
}

/// `url`, parsed (once per thread and URL).
fn parsed_url(url: &str) -> Result<reqwest::Url, UpstreamError> {
    URLS.with_borrow_mut(|urls| {
        if let Some(u) = urls.get(url) {
            return Ok(u.clone());
        }
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| UpstreamError::new(ErrorClass::Connect, "the provider URL is invalid"))?;
        if urls.len() >= URLS_KEPT {
            urls.clear();
        }
        urls.insert(url.to_owned(), parsed.clone());
        Ok(parsed)
    })
}

/// Reads a whole 2xx body; a body cut short is a bad response.
pub async fn read_body(resp: reqwest::Response) -> Result<bytes::Bytes, UpstreamError> {
    resp.bytes().await.map_err(|e| {
        if e.is_timeout() {
            UpstreamError::new(ErrorClass::Timeout, "timed out reading the response")
        } else {
            UpstreamError::bad_response("the response body was cut short")
        }
    })
}

async fn read_limited(mut resp: reqwest::Response, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() >= max {
            out.truncate(max);
            break;
        }
    }
    out
}

/// Whether sending failed on an established connection, with no answer: neither a
/// timeout nor a failure to connect.
fn is_broken_connection(e: &reqwest::Error) -> bool {
    !e.is_timeout() && !e.is_connect()
}

/// Classifies a transport error without echoing its text (which may contain the URL).
pub fn classify(e: &reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::new(ErrorClass::Timeout, "the request timed out")
    } else if e.is_connect() {
        UpstreamError::new(ErrorClass::Connect, "connection refused or unreachable")
    } else {
        UpstreamError::new(ErrorClass::Connect, "the connection failed")
    }
}
