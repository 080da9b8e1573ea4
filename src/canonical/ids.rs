//! Identifiers the gateway mints: completion and message ids, tool-call ids, request ids.

use rand::distr::{Alphanumeric, SampleString};

/// `prefix` followed by `n` random alphanumerics.
fn prefixed(prefix: &str, n: usize) -> String {
    let mut id = String::with_capacity(prefix.len() + n);
    id.push_str(prefix);
    Alphanumeric.append_string(&mut rand::rng(), &mut id, n);
    id
}

/// `chatcmpl-` followed by 24 random alphanumerics, as OpenAI formats completion ids.
pub fn completion_id() -> String {
    prefixed("chatcmpl-", 24)
}

/// `msg_` followed by 24 random alphanumerics, as Anthropic formats message ids.
pub fn message_id() -> String {
    prefixed("msg_", 24)
}

/// `call_` followed by 24 random alphanumerics, for providers that return no call id.
pub fn tool_call_id() -> String {
    prefixed("call_", 24)
}

/// A request id for logs and the `x-request-id` header.
pub fn request_id() -> String {
    prefixed("req_", 16)
}

/// Seconds since the Unix epoch, for `created` fields.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
