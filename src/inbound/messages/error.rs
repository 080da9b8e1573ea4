//! Errors in Anthropic's shape, `{"type":"error","error":{"type","message"}}`, with its
//! status codes and types (providers.md §3.5): the one table from a [`GatewayError`]
//! to what an Anthropic client is answered, as a response or as a stream's `error`
//! event. The message is the gateway's own (`GatewayError`'s `Display`), which never
//! carries a key or an internal cause.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::error::{ErrorClass, GatewayError};

/// Anthropic's status for an overloaded API; the Anthropic SDKs retry it.
const OVERLOADED: u16 = 529;

/// `{"type":"error","error":{…}}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Detail<'a>,
}

#[derive(Debug, Serialize)]
struct Detail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

impl<'a> ErrorBody<'a> {
    /// An error of Anthropic type `kind`.
    pub fn new(kind: &'static str, message: &'a str) -> Self {
        Self {
            kind: "error",
            error: Detail { kind, message },
        }
    }
}

/// The status and Anthropic error type an Anthropic client gets for `e`.
pub fn status_and_type(e: &GatewayError) -> (u16, &'static str) {
    use ErrorClass as Class;
    match e {
        GatewayError::InvalidRequest { .. }
        | GatewayError::Conflict { .. }
        | GatewayError::MethodNotAllowed
        | GatewayError::UnsupportedMediaType(_) => (status_of(e), "invalid_request_error"),
        GatewayError::Unauthorized(_) => (401, "authentication_error"),
        GatewayError::Forbidden(_) => (403, "permission_error"),
        GatewayError::ModelNotFound(_) | GatewayError::NotFound(_) => (404, "not_found_error"),
        GatewayError::PayloadTooLarge(_) => (413, "request_too_large"),
        GatewayError::RateLimited { .. } | GatewayError::BudgetExceeded { .. } => {
            (429, "rate_limit_error")
        }
        GatewayError::Saturated { .. } | GatewayError::Unavailable { .. } => {
            (OVERLOADED, "overloaded_error")
        }
        GatewayError::Internal => (500, "api_error"),
        GatewayError::Upstream(u) => match u.class {
            Class::InvalidRequest | Class::ContextLength | Class::ContentFilter => {
                (400, "invalid_request_error")
            }
            Class::NotFound => (404, "not_found_error"),
            Class::RateLimited => (429, "rate_limit_error"),
            Class::Overloaded => (OVERLOADED, "overloaded_error"),
            Class::Timeout => (504, "timeout_error"),
            Class::Auth | Class::Billing | Class::Connect | Class::Server | Class::BadResponse => {
                (502, "api_error")
            }
        },
    }
}

fn status_of(e: &GatewayError) -> u16 {
    actix_web::ResponseError::status_code(e).as_u16()
}

/// The HTTP answer for `e`: Anthropic's body and status, `retry-after` when known.
pub fn response(e: &GatewayError) -> HttpResponse {
    let (status, kind) = status_and_type(e);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(status);
    if let Some(wait) = e.retry_after() {
        resp.insert_header(("retry-after", wait.as_secs().max(1).to_string()));
    }
    resp.json(ErrorBody::new(kind, &e.to_string()))
}

/// Writes `event: error` with Anthropic's body: how a stream that has started ends
/// when it fails.
pub fn write_event(out: &mut BytesMut, kind: &'static str, message: &str) {
    out.extend_from_slice(b"event: error\ndata: ");
    // Serialising our own plain structs into memory cannot fail.
    let _ = serde_json::to_writer(out.writer(), &ErrorBody::new(kind, message));
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UpstreamError;

    #[test]
    fn every_class_has_anthropics_status_and_type() {
        let up = |c| GatewayError::Upstream(UpstreamError::new(c, "x"));
        let cases = [
            (
                GatewayError::invalid("m", "p"),
                400,
                "invalid_request_error",
            ),
            (
                GatewayError::Unauthorized("k".into()),
                401,
                "authentication_error",
            ),
            (GatewayError::Forbidden("f".into()), 403, "permission_error"),
            (
                GatewayError::ModelNotFound("m".into()),
                404,
                "not_found_error",
            ),
            (GatewayError::PayloadTooLarge(1), 413, "request_too_large"),
            (up(ErrorClass::RateLimited), 429, "rate_limit_error"),
            (up(ErrorClass::Overloaded), 529, "overloaded_error"),
            (
                GatewayError::Saturated {
                    message: "s".into(),
                    retry_after: None,
                },
                529,
                "overloaded_error",
            ),
            (up(ErrorClass::Server), 502, "api_error"),
            (GatewayError::Internal, 500, "api_error"),
        ];
        for (e, status, kind) in cases {
            assert_eq!(status_and_type(&e), (status, kind), "{e:?}");
        }
    }

    #[test]
    fn the_stream_error_event_is_anthropics_frame() {
        let mut out = BytesMut::new();
        write_event(&mut out, "overloaded_error", "busy \"now\"");
        assert_eq!(
            &out[..],
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy \\\"now\\\"\"}}\n\n"
        );
    }
}
