//! Adapters translate canonical (OpenAI-shaped) chat calls to each provider's wire
//! format and back. They are pure: no I/O, no clock, no globals; `dispatch` does the I/O.
//!
//! [`ProviderKind::adapter`] is the one place that matches on the provider kind.

pub mod anthropic;
pub mod deepseek;
pub mod gemini;
pub mod mistral;
pub mod openai;
pub mod qwen;
pub mod sse;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::canonical::params::Accepts;
use crate::canonical::{ChatRequest, FinishReason, ResponseMessage, StreamEvent, Usage};
use crate::config::{ModelConfig, ProviderConfig, ProviderKind, Secret};
use crate::error::{GatewayError, UpstreamError};

impl ProviderKind {
    /// The adapter for this kind.
    pub fn adapter(self) -> &'static dyn Adapter {
        match self {
            Self::Openai => &openai::OPENAI,
            Self::Anthropic => &anthropic::ANTHROPIC,
            Self::Gemini => &gemini::GEMINI,
            Self::Deepseek => &deepseek::DEEPSEEK,
            Self::Qwen => &qwen::QWEN,
            Self::Mistral => &mistral::MISTRAL,
            Self::OpenaiCompatible => &openai::OPENAI_COMPATIBLE,
        }
    }
}

/// An HTTP request ready for `dispatch` to send.
#[derive(Debug)]
pub struct UpstreamRequest {
    /// Absolute URL. Never contains a key (keys go in headers only).
    pub url: String,
    /// Extra headers, auth included; `content-type: application/json` is implied for a body.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// JSON body; empty for a GET.
    pub body: Vec<u8>,
}

/// A parsed non-streamed answer, before the gateway stamps id, time and model on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub message: ResponseMessage,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// Translates canonical chat calls to one provider's wire format and back.
pub trait Adapter: Send + Sync + 'static {
    /// Builds the upstream chat request (streamed when `req.stream`). Runs once per
    /// attempt; `model` is the chosen candidate, `key` the provider key to use.
    /// Fails only for requests this provider cannot express (a client error).
    fn build_request(
        &self,
        req: &ChatRequest,
        model: &ModelConfig,
        key: &Secret,
    ) -> Result<UpstreamRequest, GatewayError>;

    /// Parses a 2xx non-streamed body.
    fn parse_response(&self, body: &[u8]) -> Result<Completion, UpstreamError>;

    /// A fresh decoder for one streamed body.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;

    /// Classifies a non-2xx answer; the message never contains the key.
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError;

    /// A cheap authenticated call that proves the provider is reachable (model list).
    fn heartbeat_request(&self, provider: &ProviderConfig, key: &Secret) -> UpstreamRequest;

    /// The optional OpenAI parameters this provider receives; the rest are dropped and
    /// named by [`AskedParams::dropped_by`](crate::canonical::params::AskedParams::dropped_by).
    fn accepts(&self) -> &Accepts;
}

/// Turns one provider's stream bytes into canonical events.
pub trait StreamDecoder: Send {
    /// Feeds bytes as they arrive; pushes the events they complete.
    fn decode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError>;

    /// The upstream closed the body. Errs when the stream ended before the model finished.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError>;
}

/// The wait a provider asked for: `retry-after-ms`, `retry-after` (seconds), or `None`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// A `Bearer` authorization header.
pub fn bearer(key: &Secret) -> (HeaderName, HeaderValue) {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-key"));
    v.set_sensitive(true);
    (reqwest::header::AUTHORIZATION, v)
}

/// A header carrying a key under its own name (`x-api-key`, `x-goog-api-key`).
pub fn key_header(name: &'static str, key: &Secret) -> (HeaderName, HeaderValue) {
    let mut v = HeaderValue::from_str(key.expose())
        .unwrap_or_else(|_| HeaderValue::from_static("invalid-key"));
    v.set_sensitive(true);
    (HeaderName::from_static(name), v)
}

/// Serialises a wire struct; our own structs always serialise.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, GatewayError> {
    // A typical upstream request fits: the buffer is not regrown while it is written.
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, value).map_err(|_| GatewayError::Internal)?;
    Ok(out)
}

/// The longest provider reason, in bytes, an OpenAI-family or Anthropic error keeps.
pub(crate) const MAX_MESSAGE_BYTES: usize = 500;

/// Cuts a provider's reason to at most `max` bytes, on a char boundary, and marks the
/// cut with `…`.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
