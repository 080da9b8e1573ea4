//! Identifiers the gateway mints: completion ids, tool-call ids, request ids.

use rand::distr::{Alphanumeric, SampleString};

/// `chatcmpl-` followed by 24 random alphanumerics, as OpenAI formats completion ids.
pub fn completion_id() -> String {
    let mut id = String::with_capacity(33);
    id.push_str("chatcmpl-");
    Alphanumeric.append_string(&mut rand::rng(), &mut id, 24);
    id
}

/// `call_` followed by 24 random alphanumerics, for providers that return no call id.
pub fn tool_call_id() -> String {
    let mut id = String::with_capacity(29);
    id.push_str("call_");
    Alphanumeric.append_string(&mut rand::rng(), &mut id, 24);
    id
}

/// A request id for logs and the `x-request-id` header.
pub fn request_id() -> String {
    let mut id = String::with_capacity(20);
    id.push_str("req_");
    Alphanumeric.append_string(&mut rand::rng(), &mut id, 16);
    id
}

/// Seconds since the Unix epoch, for `created` fields.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
