//! Classifies OpenAI-family errors: OpenAI/DeepSeek/Qwen `{"error":{message,type,
//! code}}` and Mistral's `{"object":"error","message":…}` / `detail` bodies, by status
//! first and then by the codes and messages that name a cause (quota, context length,
//! Qwen's data inspection). A mid-stream `error` chunk has no status. The body's own
//! `type`, `param` and `code` travel along, for the client to see when it caused the
//! error (OpenAI's 400 `unsupported_parameter` names the `param` to change).

use reqwest::header::HeaderMap;

use crate::adapters::{MAX_MESSAGE_BYTES, retry_after, truncate};
use crate::error::{ErrorClass, ProviderFields, UpstreamError};

/// The longest `type`, `param` or `code`, in bytes, passed on to the client.
const MAX_FIELD_BYTES: usize = 100;

/// Classifies an OpenAI-family error answer. Understands OpenAI/DeepSeek/Qwen
/// `{"error":{…}}` and Mistral's `{"object":"error","message":…}` / `detail` bodies.
pub fn map_error(status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let mut err = error_from_value(Some(status), &value).with_status(status);
    if err.message.is_empty() {
        err.message = format!("HTTP {status}");
    }
    err.with_retry_after(retry_after(headers))
}

/// Builds an error from a parsed error body (`status` absent for mid-stream errors).
pub fn error_from_value(status: Option<u16>, value: &serde_json::Value) -> UpstreamError {
    let inner = value
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(value);
    let text = |v: Option<&serde_json::Value>| -> Option<String> {
        match v? {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    let message = text(inner.get("message"))
        .or_else(|| text(inner.get("detail")))
        .unwrap_or_default();
    let code = text(inner.get("code")).unwrap_or_default();
    let kind = text(inner.get("type")).unwrap_or_default();
    let mut class = match status {
        Some(s) => ErrorClass::from_status(s),
        None => ErrorClass::Server,
    };
    let lower = message.to_ascii_lowercase();
    if code == "insufficient_quota" || code == "Arrearage" {
        class = ErrorClass::Billing;
    } else if code == "context_length_exceeded"
        || lower.contains("maximum context length")
        || lower.contains("context window")
    {
        class = ErrorClass::ContextLength;
    } else if code.eq_ignore_ascii_case("DataInspectionFailed") || code == "data_inspection_failed"
    {
        class = ErrorClass::ContentFilter;
    } else if status.is_none() && (kind.contains("overloaded") || kind.contains("rate_limit")) {
        class = ErrorClass::Overloaded;
    }
    let field = |v: String| (!v.is_empty()).then(|| truncate(v, MAX_FIELD_BYTES));
    UpstreamError::new(class, truncate(message, MAX_MESSAGE_BYTES)).with_fields(ProviderFields {
        kind: field(kind),
        param: text(inner.get("param")).and_then(field),
        code: field(code),
    })
}
