//! The canonical request key: which requests are "identical".
//!
//! A key is the caller's tenant (held as is, never hashed away, so entries of two
//! tenants can never collide) plus a BLAKE3 digest of the normalised request: the
//! target as requested (`model`, the `x-switchyard-route` header, the route it resolved
//! to) and every field that can change the answer. `user`, `stream` and
//! `stream_options` are left out: they change who asks or the framing, not the answer.
//! The request is hashed by serialising the parsed [`ChatRequest`]'s fields (into a
//! per-thread buffer, hashed in one call), so JSON key order and whitespace in the body do not matter and
//! `0` and `0.0` are the same temperature. docs/caching.md documents the key.

use std::sync::Arc;

use serde::Serialize;

use crate::canonical::{ChatRequest, Message, ResponseFormat, Stop, Tool, ToolChoice};

/// Bumped whenever what goes into the digest changes, so old and new keys never meet.
const KEY_VERSION: &[u8] = b"switchyard.cache.key.v1\n";

/// A scratch buffer larger than this (a huge prompt) is released after use rather
/// than kept by the thread.
const SCRATCH_KEPT: usize = 64 * 1024;

thread_local! {
    /// The normalised request is serialised here before hashing.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Identifies one answer within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    tenant: Arc<str>,
    digest: [u8; 32],
}

/// What the request asked to be answered by.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The `model` field as sent.
    pub model: &'a str,
    /// The `x-switchyard-route` header, if any.
    pub route_header: Option<&'a str>,
    /// The route the planner resolved (route rules may pick one for `auto`).
    pub route: Option<&'a str>,
}

/// The fields that go into the digest, borrowed from the request.
#[derive(Serialize)]
struct Normalised<'a> {
    target_model: &'a str,
    route_header: Option<&'a str>,
    route: Option<&'a str>,
    messages: &'a [Message],
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    n: Option<u32>,
    seed: Option<i64>,
    stop: Option<&'a Stop>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    tools: Option<&'a [Tool]>,
    tool_choice: Option<&'a ToolChoice>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<&'a ResponseFormat>,
    reasoning_effort: Option<&'a str>,
    // Skipped when absent, so keys of requests without them are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logit_bias: Option<&'a serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

impl Key {
    /// The key of `req` for `tenant`.
    pub fn new(tenant: &Arc<str>, target: Target<'_>, req: &ChatRequest) -> Self {
        // Destructured without `..`: a new request field fails to compile here until
        // someone decides whether it belongs in the key.
        let ChatRequest {
            model: _,
            messages,
            stream: _,
            stream_options: _,
            temperature,
            top_p,
            top_k,
            n,
            seed,
            stop,
            max_tokens,
            max_completion_tokens,
            presence_penalty,
            frequency_penalty,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            user: _,
            reasoning_effort,
            logprobs,
            top_logprobs,
            logit_bias,
            service_tier: _,
            extra,
        } = req;
        let normalised = Normalised {
            target_model: target.model,
            route_header: target.route_header,
            route: target.route,
            messages,
            temperature: *temperature,
            top_p: *top_p,
            top_k: *top_k,
            n: *n,
            seed: *seed,
            stop: stop.as_ref(),
            max_tokens: *max_tokens,
            max_completion_tokens: *max_completion_tokens,
            presence_penalty: *presence_penalty,
            frequency_penalty: *frequency_penalty,
            tools: tools.as_deref(),
            tool_choice: tool_choice.as_ref(),
            parallel_tool_calls: *parallel_tool_calls,
            response_format: response_format.as_ref(),
            reasoning_effort: reasoning_effort.as_deref(),
            logprobs: *logprobs,
            top_logprobs: *top_logprobs,
            logit_bias: logit_bias.as_ref(),
            extra,
        };
        // Serialised into a reused buffer and hashed in one call: the serialiser makes
        // one small write per token, and feeding those to BLAKE3 one by one cost ten
        // times the hashing itself.
        let digest = SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            buf.extend_from_slice(KEY_VERSION);
            // Writing our own plain structs into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buf, &normalised);
            let digest = blake3::hash(buf);
            if buf.capacity() > SCRATCH_KEPT {
                *buf = Vec::new();
            }
            digest
        });
        Self {
            tenant: tenant.clone(),
            digest: digest.into(),
        }
    }

    /// The tenant this key belongs to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::request::parse_request;

    fn key(tenant: &str, body: &str) -> Key {
        let req = parse_request(body.as_bytes()).unwrap();
        let target = Target {
            model: &req.model,
            route_header: None,
            route: None,
        };
        Key::new(&Arc::from(tenant), target, &req)
    }

    const BASE: &str =
        r#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#;

    #[test]
    fn framing_and_end_user_do_not_change_the_key() {
        let other = r#"{ "messages":[{"content":"hi","role":"user"}], "model":"m", "temperature":0.0,
            "stream":true, "stream_options":{"include_usage":true}, "user":"u-42" }"#;
        assert_eq!(key("t", BASE), key("t", other));
    }

    #[test]
    fn tenant_and_answer_changing_fields_do() {
        let base = key("t", BASE);
        assert_ne!(base, key("u", BASE));
        for changed in [
            BASE.replace("\"hi\"", "\"hello\""),
            BASE.replace("\"temperature\":0", "\"temperature\":0.7"),
            BASE.replace("\"model\":\"m\"", "\"model\":\"n\""),
            BASE.replace("\"temperature\":0", "\"temperature\":0,\"seed\":1"),
            BASE.replace("\"temperature\":0", "\"temperature\":0,\"top_k\":5"),
            BASE.replace("\"temperature\":0", "\"temperature\":0,\"max_tokens\":5"),
            BASE.replace("\"temperature\":0", "\"temperature\":0,\"stop\":\"x\""),
            BASE.replace(
                "\"temperature\":0",
                "\"temperature\":0,\"reasoning_effort\":\"low\"",
            ),
        ] {
            assert_ne!(base, key("t", &changed), "{changed}");
        }
    }

    #[test]
    fn the_route_header_and_resolved_route_are_part_of_the_target() {
        let req = parse_request(BASE.as_bytes()).unwrap();
        let t: Arc<str> = Arc::from("t");
        let plain = Target {
            model: "m",
            route_header: None,
            route: None,
        };
        let routed = Target {
            route_header: Some("code"),
            ..plain
        };
        let resolved = Target {
            route: Some("code"),
            ..plain
        };
        assert_ne!(Key::new(&t, plain, &req), Key::new(&t, routed, &req));
        assert_ne!(Key::new(&t, plain, &req), Key::new(&t, resolved, &req));
    }
}
