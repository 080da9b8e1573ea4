//! Classifies Gemini errors: `{"error":{code,message,status,details}}`
//! (shared/reference/providers.md §4.5, §8.5).
//!
//! Gemini's quirks: a bad key is a 400 `INVALID_ARGUMENT` (with `ErrorInfo.reason
//! API_KEY_INVALID`), not a 401; billing problems are 400 `FAILED_PRECONDITION`; the
//! wait after a 429 is `RetryInfo.retryDelay` (`"34.4s"`) in the body, not a header;
//! and without `alt=sse` a stream's error arrives wrapped in a JSON array.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::adapters::retry_after;
use crate::error::{ErrorClass, UpstreamError};

/// Longest provider reason kept in an error message.
const MAX_MESSAGE_CHARS: usize = 500;

/// Classifies a non-2xx answer.
pub(super) fn map_error(status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut err = error_from_value(Some(status), &value).with_status(status);
    if err.message.is_empty() {
        err.message = format!("HTTP {status}");
    }
    if err.retry_after.is_none() {
        err.retry_after = retry_after(headers);
    }
    err
}

/// Builds an error from a parsed error body; `status` is absent for an error event in
/// a 200 stream, whose class then comes from the body's own `code` and `status`.
pub(super) fn error_from_value(status: Option<u16>, value: &Value) -> UpstreamError {
    let value = match value {
        Value::Array(items) => items.first().unwrap_or(&Value::Null),
        v => v,
    };
    let inner = value
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(value);
    let message = inner
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rpc_status = inner
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let code = status.or_else(|| {
        inner
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
    });
    let details: &[Value] = inner
        .get("details")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let detail = |kind: &str| {
        details.iter().find(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(kind))
        })
    };
    let reason = detail("google.rpc.ErrorInfo")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let class = if reason == "API_KEY_INVALID" || message.contains("API key not valid") {
        ErrorClass::Auth
    } else if rpc_status == "FAILED_PRECONDITION" {
        ErrorClass::Billing
    } else if message.contains("input token count") && message.contains("exceeds") {
        ErrorClass::ContextLength
    } else {
        match code {
            Some(c) => ErrorClass::from_status(c),
            None => from_rpc_status(rpc_status),
        }
    };
    let wait = detail("google.rpc.RetryInfo")
        .and_then(|d| d.get("retryDelay"))
        .and_then(Value::as_str)
        .and_then(parse_duration);
    UpstreamError::new(class, truncate(message)).with_retry_after(wait)
}

/// The class a `google.rpc.Code` name implies, for errors without an HTTP status.
fn from_rpc_status(status: &str) -> ErrorClass {
    match status {
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" => ErrorClass::InvalidRequest,
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorClass::Auth,
        "NOT_FOUND" => ErrorClass::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorClass::RateLimited,
        "UNAVAILABLE" => ErrorClass::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorClass::Timeout,
        _ => ErrorClass::Server,
    }
}

/// A protobuf `Duration` in JSON form: fractional seconds and an `s` (`"34.4s"`).
fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}
