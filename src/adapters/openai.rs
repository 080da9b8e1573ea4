//! The OpenAI Chat Completions adapter, and the helpers every OpenAI-family adapter
//! (DeepSeek, Qwen, Mistral, generic openai-compatible) reuses.
//!
//! The family shares one request builder and one tolerant stream decoder; each kind
//! only states its [`Quirks`]: which max-tokens and seed fields it takes, which
//! message fields it accepts, how it switches thinking on, how tool-call ids must look.
//! The quirk sets live in [`quirks`], the request translation in [`request`], the
//! stream decoder in [`stream`], error classification in [`error`]; this file holds
//! the adapter and the response shape shared by the non-streamed answer and the
//! stream's deltas, and its mapping.

mod error;
mod quirks;
mod request;
mod stream;

use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::{Adapter, Completion, StreamDecoder, UpstreamRequest, bearer, to_json};
use crate::canonical::params::Accepts;
use crate::canonical::{ChatRequest, FinishReason, ResponseMessage, ToolCall, Usage, ids};
use crate::config::{ModelConfig, ProviderConfig, Secret};
use crate::error::{ErrorClass, GatewayError, UpstreamError};
pub use error::{error_from_value, map_error};
pub use quirks::{
    COMPATIBLE_QUIRKS, MaxTokensField, OPENAI_QUIRKS, Quirks, SeedField, Thinking, same_id,
};
use request::wire_request;
pub use stream::OpenAiStreamDecoder;

/// An OpenAI-family adapter defined by its quirks.
#[derive(Debug)]
pub struct OpenAiFamily {
    pub quirks: Quirks,
}

/// The `openai` kind.
pub static OPENAI: OpenAiFamily = OpenAiFamily {
    quirks: OPENAI_QUIRKS,
};

/// The `openai-compatible` kind.
pub static OPENAI_COMPATIBLE: OpenAiFamily = OpenAiFamily {
    quirks: COMPATIBLE_QUIRKS,
};

impl Adapter for OpenAiFamily {
    fn build_request(
        &self,
        req: &ChatRequest,
        model: &ModelConfig,
        key: &Secret,
    ) -> Result<UpstreamRequest, GatewayError> {
        let body = to_json(&wire_request(&self.quirks, req, &model.upstream))?;
        Ok(UpstreamRequest {
            url: format!("{}{}", model.provider.base_url, self.quirks.chat_path),
            headers: vec![bearer(key)],
            body,
        })
    }

    fn parse_response(&self, body: &[u8]) -> Result<Completion, UpstreamError> {
        parse_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(OpenAiStreamDecoder::default())
    }

    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        map_error(status, headers, body)
    }

    fn heartbeat_request(&self, provider: &ProviderConfig, key: &Secret) -> UpstreamRequest {
        UpstreamRequest {
            url: format!("{}{}", provider.base_url, self.quirks.models_path),
            headers: vec![bearer(key)],
            body: Vec::new(),
        }
    }

    fn accepts(&self) -> &Accepts {
        &self.quirks.accepts
    }
}

// === response ===

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireResponseMessage,
    #[serde(default)]
    logprobs: Option<serde_json::Value>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponseMessage {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCallIn>>,
    #[serde(default)]
    refusal: Option<String>,
}

/// Content is a string, or (Mistral reasoning models) an array of typed chunks.
enum WireContent {
    Text(String),
    Chunks(Vec<WireContentChunk>),
}

/// By the JSON type, not `#[serde(untagged)]`: untagged buffers every value and
/// tries each variant in turn, a cost paid on every answer and stream delta.
impl<'de> Deserialize<'de> for WireContent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ByType;
        impl<'de> serde::de::Visitor<'de> for ByType {
            type Value = WireContent;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content chunks")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WireContent, E> {
                Ok(WireContent::Text(s.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<WireContent, E> {
                Ok(WireContent::Text(s))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<WireContent, A::Error> {
                Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(WireContent::Chunks)
            }
        }
        d.deserialize_any(ByType)
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireContentChunk {
    Text {
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: Vec<WireContentChunk>,
    },
    #[serde(other)]
    Other,
}

impl WireContent {
    /// Splits into (answer text, thinking text).
    fn split(self) -> (String, String) {
        match self {
            Self::Text(t) => (t, String::new()),
            Self::Chunks(chunks) => {
                let (mut text, mut thinking) = (String::new(), String::new());
                for c in chunks {
                    match c {
                        WireContentChunk::Text { text: t } => text.push_str(&t),
                        WireContentChunk::Thinking { thinking: inner } => {
                            for i in inner {
                                if let WireContentChunk::Text { text: t } = i {
                                    thinking.push_str(&t);
                                }
                            }
                        }
                        WireContentChunk::Other => {}
                    }
                }
                (text, thinking)
            }
        }
    }
}

#[derive(Deserialize)]
struct WireToolCallIn {
    #[serde(default)]
    id: Option<String>,
    function: WireFunctionIn,
}

#[derive(Deserialize)]
struct WireFunctionIn {
    name: String,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

impl WireFunctionIn {
    /// Arguments as a JSON string, whether the provider sent a string or an object.
    fn arguments(self) -> String {
        match self.arguments {
            None => "{}".to_owned(),
            Some(serde_json::Value::String(s)) => s,
            Some(v) => v.to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<WireCompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct WireCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        let cached = u
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or(u.prompt_cache_hit_tokens)
            .unwrap_or(0);
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: cached,
            cache_write_tokens: 0,
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            estimated: false,
        }
    }
}

/// Maps an OpenAI-family `finish_reason`; `error`-like values are upstream failures.
pub fn finish_reason(value: &str) -> Result<FinishReason, UpstreamError> {
    Ok(match value {
        "stop" | "end_turn" => FinishReason::Stop,
        "length" | "model_length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "insufficient_system_resource" => {
            return Err(UpstreamError::new(
                ErrorClass::Overloaded,
                "the provider ran out of resources mid-answer",
            ));
        }
        "error" => {
            return Err(UpstreamError::new(
                ErrorClass::Server,
                "the provider ended the answer with an error",
            ));
        }
        _ => FinishReason::Stop,
    })
}

/// Parses an OpenAI-family `chat.completion`.
pub fn parse_response(body: &[u8]) -> Result<Completion, UpstreamError> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::bad_response(format!("unparseable completion: {e}")))?;
    let usage = wire.usage.map(Usage::from).unwrap_or_default();
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| UpstreamError::bad_response("completion has no choices"))?;
    let (text, thinking) = choice
        .message
        .content
        .map(WireContent::split)
        .unwrap_or_default();
    let reasoning = choice
        .message
        .reasoning_content
        .or((!thinking.is_empty()).then_some(thinking));
    let tool_calls: Vec<ToolCall> = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| ToolCall {
            id: c
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(ids::tool_call_id),
            kind: "function".to_owned(),
            function: crate::canonical::FunctionCall {
                name: c.function.name.clone(),
                arguments: c.function.arguments(),
            },
        })
        .collect();
    let finish = match choice.finish_reason.as_deref() {
        Some(r) => finish_reason(r)?,
        None if !tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    Ok(Completion {
        message: ResponseMessage {
            content,
            reasoning_content: reasoning.filter(|r| !r.is_empty()),
            tool_calls,
            refusal: choice.message.refusal,
            logprobs: choice.logprobs.map(Box::new),
        },
        finish_reason: finish,
        usage,
    })
}

#[cfg(test)]
mod tests;
