//! The Anthropic Messages API adapter (shared/reference/providers.md §3).
//!
//! Request translation hoists `system`/`developer` messages into the top-level `system`,
//! merges consecutive same-role turns (so N OpenAI `tool` messages become one user turn
//! of `tool_result` blocks), always sends `max_tokens`, and maps tools, images,
//! sampling, structured output and reasoning effort. Choices a reviewer should know:
//!
//! - **temperature** is clamped to Anthropic's 0–1, not halved: the values clients
//!   actually send (0–1) keep their meaning, and 1–2 all become 1.0;
//! - **`json_object`** has no Anthropic equivalent; a fixed instruction
//!   ([`JSON_OBJECT_INSTRUCTION`]) is appended to `system`. `json_schema` maps to
//!   `output_config.format`;
//! - **`reasoning_effort`** becomes `thinking: {type: enabled, budget_tokens}` with a
//!   budget per effort level, capped at half of `max_tokens` (and dropped below
//!   Anthropic's 1024 minimum, for `none`/`minimal`, and with a forced `tool_choice`,
//!   which Anthropic rejects together with thinking). Thinking also drops
//!   `temperature`/`top_p`, which Anthropic only accepts at their defaults then;
//! - `seed`, `presence_penalty` and `frequency_penalty` have no equivalent and are dropped;
//!   `user` becomes `metadata.user_id`; assistant `reasoning_content` is not replayed
//!   (Anthropic needs the signed thinking block, which OpenAI clients do not keep).
//!
//! The request translation lives in [`request`], the stream decoder in [`stream`]; the
//! non-stream parser and the error mapping here.

mod request;
mod stream;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::{
    Adapter, Completion, MAX_MESSAGE_BYTES, StreamDecoder, UpstreamRequest, key_header,
    retry_after, to_json, truncate,
};
use crate::canonical::params::Accepts;
use crate::canonical::{ChatRequest, FinishReason, FunctionCall, ResponseMessage, ToolCall, Usage};
use crate::config::{ModelConfig, ProviderConfig, Secret};
use crate::error::{ErrorClass, GatewayError, UpstreamError};
use request::wire_request;
pub use stream::AnthropicStreamDecoder;

/// The API version every request pins (still the current value in Anthropic's SDK).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The system instruction that emulates `response_format: json_object`.
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object only, with no text before or after it.";

/// The user turn inserted when a conversation would otherwise start with the assistant
/// (or has no turn left after hoisting `system`): as short as Anthropic accepts.
pub const PLACEHOLDER_USER_TURN: &str = ".";

/// Anthropic's smallest accepted thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;

/// The Anthropic adapter. Stateless; one static instance serves every provider.
#[derive(Debug)]
pub struct Anthropic;

/// The `anthropic` kind.
pub static ANTHROPIC: Anthropic = Anthropic;

impl Adapter for Anthropic {
    fn build_request(
        &self,
        req: &ChatRequest,
        model: &ModelConfig,
        key: &Secret,
    ) -> Result<UpstreamRequest, GatewayError> {
        let body = to_json(&wire_request(req, model)?)?;
        Ok(UpstreamRequest {
            url: format!("{}/v1/messages", model.provider.base_url),
            headers: headers(key),
            body,
        })
    }

    fn parse_response(&self, body: &[u8]) -> Result<Completion, UpstreamError> {
        parse_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStreamDecoder::default())
    }

    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        map_error(status, headers, body)
    }

    fn heartbeat_request(&self, provider: &ProviderConfig, key: &Secret) -> UpstreamRequest {
        UpstreamRequest {
            url: format!("{}/v1/models?limit=1", provider.base_url),
            headers: headers(key),
            body: Vec::new(),
        }
    }

    fn accepts(&self) -> &Accepts {
        &request::ACCEPTS
    }
}

fn headers(key: &Secret) -> Vec<(HeaderName, HeaderValue)> {
    vec![
        key_header("x-api-key", key),
        (
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        ),
    ]
}

// === response ===

#[derive(Deserialize)]
struct WireResponse {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    content: Vec<WireOutBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireOutBlock {
    Text {
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolUse {
        id: String,
        name: String,
        /// A `Value`, not a `RawValue`: internally tagged enums buffer their fields,
        /// which `RawValue` cannot be read from.
        #[serde(default)]
        input: Option<serde_json::Value>,
    },
    /// Redacted thinking, server tools and their results: nothing a client can use.
    #[serde(other)]
    Other,
}

/// Anthropic usage; every field optional because `message_delta` repeats only some.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    output_tokens_details: Option<WireOutputDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct WireOutputDetails {
    #[serde(default)]
    thinking_tokens: Option<u64>,
}

impl WireUsage {
    /// Overwrites the fields `later` reports: stream usage is cumulative, never added.
    fn merge(&mut self, later: Self) {
        let keep = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        keep(&mut self.input_tokens, later.input_tokens);
        keep(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        keep(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
        keep(&mut self.output_tokens, later.output_tokens);
        if later.output_tokens_details.is_some() {
            self.output_tokens_details = later.output_tokens_details;
        }
    }
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        let written = u.cache_creation_input_tokens.unwrap_or(0);
        let read = u.cache_read_input_tokens.unwrap_or(0);
        Usage {
            // Anthropic's input_tokens excludes cache reads and writes; OpenAI's includes them.
            prompt_tokens: u.input_tokens.unwrap_or(0) + written + read,
            completion_tokens: u.output_tokens.unwrap_or(0),
            cached_tokens: read,
            cache_write_tokens: written,
            reasoning_tokens: u
                .output_tokens_details
                .and_then(|d| d.thinking_tokens)
                .unwrap_or(0),
            estimated: false,
        }
    }
}

/// Maps a `stop_reason` (table in providers.md §8.1); unknown values read as `stop`.
pub fn finish_reason(value: &str) -> FinishReason {
    match value {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        "stop_sequence" => FinishReason::StopSequence,
        _ => FinishReason::Stop, // end_turn, pause_turn
    }
}

/// The `stop_reason` an Anthropic client is told for a finish reason, whichever
/// provider answered: the inverse of [`finish_reason`] (`crate::inbound` uses it).
pub fn stop_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Parses a non-streamed `message`.
pub fn parse_response(body: &[u8]) -> Result<Completion, UpstreamError> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::bad_response(format!("unparseable message: {e}")))?;
    if let Some(err) = wire.error {
        return Err(err.into_upstream(None));
    }
    if wire.kind.as_deref().is_some_and(|k| k != "message") {
        return Err(UpstreamError::bad_response("the answer is not a message"));
    }
    let (mut text, mut thinking, mut tool_calls) = (String::new(), String::new(), Vec::new());
    for block in wire.content {
        match block {
            WireOutBlock::Text { text: t } => text.push_str(&t),
            WireOutBlock::Thinking { thinking: t } => thinking.push_str(&t),
            WireOutBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: input.map_or_else(|| "{}".to_owned(), |i| i.to_string()),
                },
            }),
            WireOutBlock::Other => {}
        }
    }
    let finish_reason = match wire.stop_reason.as_deref() {
        Some(r) => finish_reason(r),
        None if !tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    // OpenAI sends `content: null` when the message is only tool calls or a refusal.
    let silent = !tool_calls.is_empty() || finish_reason == FinishReason::ContentFilter;
    let content = (!text.is_empty() || !silent).then_some(text);
    Ok(Completion {
        message: ResponseMessage {
            content,
            reasoning_content: (!thinking.is_empty()).then_some(thinking),
            tool_calls,
            refusal: None,
            logprobs: None,
        },
        finish_reason,
        usage: wire.usage.into(),
    })
}

// === errors ===

/// `{"type":"error","error":{…}}`.
#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

/// The inside of an error body or stream `error` event.
#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Option<WireErrorDetails>,
}

#[derive(Debug, Deserialize)]
struct WireErrorDetails {
    #[serde(default)]
    error_code: Option<String>,
}

impl WireError {
    /// Classifies by status (absent mid-stream), then by what the type and message say.
    fn into_upstream(self, status: Option<u16>) -> UpstreamError {
        let lower = self.message.to_ascii_lowercase();
        let spend_limit = self.details.as_ref().and_then(|d| d.error_code.as_deref())
            == Some("enforced_spend_limit_reached");
        let class = if spend_limit
            || self.kind == "billing_error"
            || lower.contains("credit balance")
            || lower.contains("spend limit")
            || lower.contains("usage limits")
        {
            ErrorClass::Billing
        } else if self.kind == "overloaded_error" {
            ErrorClass::Overloaded
        } else if lower.contains("prompt is too long")
            || lower.contains("context limit")
            || lower.contains("context window")
        {
            ErrorClass::ContextLength
        } else if let Some(s) = status {
            ErrorClass::from_status(s)
        } else {
            class_of_type(&self.kind)
        };
        let message = if self.message.is_empty() {
            self.kind
        } else {
            self.message
        };
        UpstreamError::new(class, truncate(message, MAX_MESSAGE_BYTES))
    }
}

/// The class an Anthropic `error.type` implies (mid-stream, where there is no status).
fn class_of_type(kind: &str) -> ErrorClass {
    match kind {
        "invalid_request_error" | "request_too_large" | "conflict_error" => {
            ErrorClass::InvalidRequest
        }
        "authentication_error" | "permission_error" => ErrorClass::Auth,
        "billing_error" => ErrorClass::Billing,
        "not_found_error" => ErrorClass::NotFound,
        "rate_limit_error" => ErrorClass::RateLimited,
        "timeout_error" => ErrorClass::Timeout,
        "overloaded_error" => ErrorClass::Overloaded,
        _ => ErrorClass::Server, // api_error and anything new
    }
}

/// Classifies a non-2xx Anthropic answer.
pub fn map_error(status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
    let err = match serde_json::from_slice::<WireErrorBody>(body) {
        Ok(b) => b.error.into_upstream(Some(status)),
        Err(_) => UpstreamError::new(ErrorClass::from_status(status), format!("HTTP {status}")),
    }
    .with_status(status);
    // Anthropic sends retry-after even on answers that must not be retried; honour it
    // only where another attempt makes sense.
    let wait = retry_after(headers).filter(|_| err.is_retryable());
    err.with_retry_after(wait)
}

#[cfg(test)]
mod tests;
