//! Errors and their one HTTP mapping.
//!
//! [`UpstreamError`] classifies what a provider did (who caused it, retryable or not);
//! [`GatewayError`] is everything a client can be answered with, rendered by
//! `impl ResponseError` as OpenAI's `{"error":{"message","type","param","code"}}`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// What went wrong upstream, as a closed set (used as a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 429: the provider wants us to slow down.
    RateLimited,
    /// 503/529 or a mid-stream overload event.
    Overloaded,
    /// Any other 5xx.
    Server,
    /// Connect, first-byte or total timeout.
    Timeout,
    /// Connection refused or reset.
    Connect,
    /// The provider answered something we cannot parse, or cut the body short.
    BadResponse,
    /// The provider rejected the gateway's key (401/403, Gemini's 400 API_KEY_INVALID).
    Auth,
    /// The provider account has no money or quota left.
    Billing,
    /// The request itself is wrong (the client's fault).
    InvalidRequest,
    /// The prompt does not fit the model's context window.
    ContextLength,
    /// The provider does not know the model.
    NotFound,
    /// The provider's safety system blocked the request.
    ContentFilter,
}

impl ErrorClass {
    /// Every class, in the order of the enum.
    pub const ALL: [Self; 12] = [
        Self::RateLimited,
        Self::Overloaded,
        Self::Server,
        Self::Timeout,
        Self::Connect,
        Self::BadResponse,
        Self::Auth,
        Self::Billing,
        Self::InvalidRequest,
        Self::ContextLength,
        Self::NotFound,
        Self::ContentFilter,
    ];

    /// A stable label for metrics and logs.
    pub fn kind(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::BadResponse => "bad_response",
            Self::Auth => "auth",
            Self::Billing => "billing",
            Self::InvalidRequest => "invalid_request",
            Self::ContextLength => "context_length",
            Self::NotFound => "not_found",
            Self::ContentFilter => "content_filter",
        }
    }

    /// Whether another attempt (here or at another provider) may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Overloaded
                | Self::Server
                | Self::Timeout
                | Self::Connect
                | Self::BadResponse
        )
    }

    /// The class a bare upstream HTTP status implies.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 409 | 413 | 422 => Self::InvalidRequest,
            401 | 403 => Self::Auth,
            402 => Self::Billing,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            429 => Self::RateLimited,
            503 | 529 => Self::Overloaded,
            _ => Self::Server,
        }
    }
}

/// A failed upstream attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider} {}: {message}", class.kind())]
pub struct UpstreamError {
    pub class: ErrorClass,
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The provider's own reason, safe to show a client (never contains a key).
    pub message: String,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
    /// The provider's name as configured (filled in by dispatch).
    pub provider: String,
    /// The provider's own `type`, `param` and `code`, when its body names them; shown
    /// to the client for the errors the client caused. Boxed: most errors have none.
    pub fields: Option<Box<ProviderFields>>,
}

/// The fields of an OpenAI-shaped error body besides the message, as the provider sent
/// them (each already cut to a sane length by the adapter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderFields {
    /// `type`, e.g. `invalid_request_error`.
    pub kind: Option<String>,
    /// `param`, e.g. `max_tokens`.
    pub param: Option<String>,
    /// `code`, e.g. `unsupported_parameter`.
    pub code: Option<String>,
}

impl UpstreamError {
    /// An error of `class` with the provider's reason.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            status: None,
            message: message.into(),
            retry_after: None,
            provider: String::new(),
            fields: None,
        }
    }

    /// Something unparseable came back.
    pub fn bad_response(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::BadResponse, message)
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the wait the provider asked for.
    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }

    /// Sets the provider's own `type`, `param` and `code` (nothing when all are absent).
    pub fn with_fields(mut self, fields: ProviderFields) -> Self {
        self.fields = (fields != ProviderFields::default()).then(|| Box::new(fields));
        self
    }

    /// Whether the client's request caused it: the provider's own `type`, `param` and
    /// `code` then reach the client, so it can fix the request.
    fn is_client_fault(&self) -> bool {
        matches!(
            self.class,
            ErrorClass::InvalidRequest
                | ErrorClass::ContextLength
                | ErrorClass::NotFound
                | ErrorClass::ContentFilter
        )
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class.is_retryable()
    }
}

/// Everything a client can be answered with when the answer is not a completion.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the model `{}` does not exist or you do not have access to it", echo(.0))]
    ModelNotFound(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("unsupported content type '{}': send 'application/json'", echo(.0))]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{}", upstream_message(.0))]
    Upstream(UpstreamError),
    /// A gateway key or tenant reached its USD budget (429 `budget_exceeded`).
    #[error("{message}")]
    BudgetExceeded {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A gateway key or tenant reached its requests or tokens per minute: 429.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Every candidate provider is at its rate limit (the gateway's own buckets) or
    /// waiting out its provider's 429: 429 like [`GatewayError::RateLimited`] for
    /// OpenAI clients; Anthropic clients get their API's 529 `overloaded_error`.
    #[error("{message}")]
    Saturated {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The request conflicts with the gateway's state (409), e.g. a config reload
    /// that needs a restart.
    #[error("{message}")]
    Conflict { message: String, code: &'static str },
    #[error("internal error")]
    Internal,
}

/// Longest client-supplied value, in characters, an error message repeats in full.
pub const ECHO_MAX_CHARS: usize = 64;

/// A client-supplied value as error messages repeat it: whole when short, otherwise its
/// first [`ECHO_MAX_CHARS`] characters, an ellipsis and its length, so a 100 kB header
/// does not come back as a 100 kB message. Every echo of client input goes through here.
pub fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_MAX_CHARS) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes)", &value[..end], value.len()),
    }
}

/// A number as error messages repeat it: plain when of everyday size, in exponent form
/// otherwise (`{}` writes 1e-300 as 0.000… with 300 zeros).
pub fn echo_number(n: f64) -> String {
    if n == 0.0 || !n.is_finite() || (1e-6..1e15).contains(&n.abs()) {
        n.to_string()
    } else {
        format!("{n:e}")
    }
}

fn upstream_message(e: &UpstreamError) -> String {
    let who = if e.provider.is_empty() {
        "upstream provider"
    } else {
        &e.provider
    };
    match e.class {
        ErrorClass::InvalidRequest | ErrorClass::ContextLength | ErrorClass::NotFound => {
            format!("{who} rejected the request: {}", e.message)
        }
        ErrorClass::ContentFilter => format!("{who} blocked the request: {}", e.message),
        ErrorClass::Auth => format!("{who} rejected the gateway's credentials"),
        ErrorClass::Billing => format!("{who} account has no quota left: {}", e.message),
        ErrorClass::RateLimited => format!("{who} is rate limiting: {}", e.message),
        ErrorClass::Overloaded => format!("{who} is overloaded: {}", e.message),
        ErrorClass::Timeout => format!("{who} timed out"),
        ErrorClass::Connect => format!("could not connect to {who}"),
        ErrorClass::Server => format!("{who} failed: {}", e.message),
        ErrorClass::BadResponse => format!("{who} sent an invalid response: {}", e.message),
    }
}

/// `(status, type, code)`: one row of the HTTP mapping in [`GatewayError::parts`].
type Parts = (StatusCode, &'static str, Option<&'static str>);

/// The OpenAI error `type` of most client errors.
const INVALID: &str = "invalid_request_error";

/// Rows two variants share.
const MODEL_NOT_FOUND: Parts = (StatusCode::NOT_FOUND, INVALID, Some("model_not_found"));
const RATE_LIMITED: Parts = (
    StatusCode::TOO_MANY_REQUESTS,
    "rate_limit_error",
    Some("rate_limit_exceeded"),
);

impl GatewayError {
    /// A 400 naming the parameter at fault.
    pub fn invalid(message: impl Into<String>, param: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: None,
        }
    }

    /// `(status, type, code)` of this error: the whole mapping, one row per variant
    /// (an upstream failure by its class).
    fn parts(&self) -> Parts {
        use ErrorClass as Class;
        match self {
            Self::InvalidRequest { code, .. } => (StatusCode::BAD_REQUEST, INVALID, *code),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, INVALID, Some("invalid_api_key")),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "permission_error", None),
            Self::ModelNotFound(_) => MODEL_NOT_FOUND,
            Self::NotFound(_) => (StatusCode::NOT_FOUND, INVALID, None),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, INVALID, None),
            Self::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID,
                Some("request_too_large"),
            ),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, INVALID, None),
            Self::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                Some("no_provider_available"),
            ),
            Self::Upstream(e) => match e.class {
                Class::InvalidRequest => (StatusCode::BAD_REQUEST, INVALID, None),
                Class::ContextLength => (
                    StatusCode::BAD_REQUEST,
                    INVALID,
                    Some("context_length_exceeded"),
                ),
                Class::NotFound => MODEL_NOT_FOUND,
                Class::ContentFilter => (StatusCode::BAD_REQUEST, INVALID, Some("content_filter")),
                Class::RateLimited => RATE_LIMITED,
                Class::Overloaded => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded_error",
                    Some("upstream_overloaded"),
                ),
                Class::Timeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout_error",
                    Some("upstream_timeout"),
                ),
                Class::Auth
                | Class::Billing
                | Class::Connect
                | Class::Server
                | Class::BadResponse => (
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    Some(e.class.kind()),
                ),
            },
            Self::BudgetExceeded { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                Some("budget_exceeded"),
            ),
            Self::RateLimited { .. } | Self::Saturated { .. } => RATE_LIMITED,
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, INVALID, Some(*code)),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
        }
    }

    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::ModelNotFound(_) => "model_not_found",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable { .. } => "unavailable",
            Self::RateLimited { .. } | Self::Saturated { .. } => "rate_limited",
            Self::Upstream(e) => e.class.kind(),
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::Conflict { .. } => "conflict",
            Self::Internal => "internal",
        }
    }

    /// The OpenAI error body for this error. An upstream error the client caused
    /// carries the provider's own `type`, `param` and `code` where it sent them.
    pub fn body(&self) -> ErrorBody<'_> {
        let (_, mut kind, mut code): (_, &str, Option<&str>) = self.parts();
        let mut param = match self {
            Self::InvalidRequest { param, .. } => param.clone(),
            _ => None,
        };
        if let Self::Upstream(e) = self
            && e.is_client_fault()
            && let Some(f) = &e.fields
        {
            kind = f.kind.as_deref().unwrap_or(kind);
            code = f.code.as_deref().or(code);
            param = f.param.clone();
        }
        ErrorBody {
            error: ErrorDetail {
                message: self.to_string(),
                kind,
                param,
                code,
            },
        }
    }

    /// How long the client should wait before retrying, when the answer says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. }
            | Self::BudgetExceeded { retry_after, .. }
            | Self::RateLimited { retry_after, .. }
            | Self::Saturated { retry_after, .. } => *retry_after,
            Self::Upstream(e) => e.retry_after,
            _ => None,
        }
    }
}

/// `{"error":{...}}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// The inside of an OpenAI error body.
#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<String>,
    pub code: Option<&'a str>,
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(wait) = self.retry_after() {
            resp.insert_header(("retry-after", wait.as_secs().max(1).to_string()));
        }
        resp.json(self.body())
    }
}

impl From<UpstreamError> for GatewayError {
    fn from(e: UpstreamError) -> Self {
        Self::Upstream(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classes_are_the_transient_ones() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(ErrorClass::from_status(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 402, 403, 404, 422] {
            assert!(!ErrorClass::from_status(s).is_retryable(), "{s}");
        }
    }

    #[test]
    fn echoes_are_short() {
        assert_eq!(echo("gpt-4o"), "gpt-4o");
        let long = "é".repeat(100_000);
        let e = echo(&long);
        assert!(e.starts_with(&"é".repeat(ECHO_MAX_CHARS)), "{e}");
        assert!(e.ends_with("… (200000 bytes)"), "{e}");
        assert_eq!(
            echo(&"a".repeat(ECHO_MAX_CHARS)),
            "a".repeat(ECHO_MAX_CHARS)
        );
        assert_eq!(echo_number(1e-300), "1e-300");
        assert_eq!(echo_number(-2.5e300), "-2.5e300");
        assert_eq!(echo_number(0.25), "0.25");
        assert_eq!(echo_number(0.0), "0");
        let e = GatewayError::ModelNotFound("m".repeat(10_000)).to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn auth_failure_never_echoes_the_upstream_message() {
        let mut e = UpstreamError::new(ErrorClass::Auth, "Incorrect API key provided: sk-abc");
        e.provider = "openai".into();
        let error = GatewayError::Upstream(e);
        let body = error.body();
        assert!(!body.error.message.contains("sk-abc"));
        assert_eq!(
            body.error.message,
            "openai rejected the gateway's credentials"
        );
    }
}
