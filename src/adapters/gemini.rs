//! The Google Gemini adapter (Generative Language API v1beta,
//! shared/reference/providers.md §4).
//!
//! Non-streamed calls go to `{base}/models/{model}:generateContent`, streamed ones to
//! `:streamGenerateContent?alt=sse` (without `alt=sse` Gemini streams a JSON array,
//! which the decoder accepts too).
//! The key travels only in `x-goog-api-key`, never in the URL. The request mapping is
//! in [`request`], the stream decoder in [`stream`] (the array framing in [`array`]), error classification in [`error`],
//! and the tool-call id scheme that carries Gemini 3's `thoughtSignature` through a
//! stateless OpenAI client in [`call_id`]. This file holds the response shape shared by
//! the non-streamed answer and every stream chunk, and its mapping.

mod array;
pub mod call_id;
mod error;
mod request;
mod stream;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Adapter, Completion, StreamDecoder, UpstreamRequest, key_header, to_json};
use crate::canonical::params::Accepts;
use crate::canonical::{ChatRequest, FinishReason, FunctionCall, ResponseMessage, ToolCall, Usage};
use crate::config::{ModelConfig, ProviderConfig, Secret};
use crate::error::{GatewayError, UpstreamError};
pub use stream::GeminiStreamDecoder;

/// The header Gemini reads the key from.
const KEY_HEADER: &str = "x-goog-api-key";

/// The Gemini adapter.
#[derive(Debug)]
pub struct Gemini;

/// The `gemini` kind.
pub static GEMINI: Gemini = Gemini;

impl Adapter for Gemini {
    fn build_request(
        &self,
        req: &ChatRequest,
        model: &ModelConfig,
        key: &Secret,
    ) -> Result<UpstreamRequest, GatewayError> {
        let body = to_json(&request::wire_request(req, &model.upstream)?)?;
        let upstream = model.upstream.trim_start_matches("models/");
        let method = if req.stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        Ok(UpstreamRequest {
            url: format!("{}/models/{upstream}:{method}", model.provider.base_url),
            headers: vec![key_header(KEY_HEADER, key)],
            body,
        })
    }

    fn parse_response(&self, body: &[u8]) -> Result<Completion, UpstreamError> {
        parse_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(GeminiStreamDecoder::default())
    }

    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        error::map_error(status, headers, body)
    }

    fn heartbeat_request(&self, provider: &ProviderConfig, key: &Secret) -> UpstreamRequest {
        UpstreamRequest {
            url: format!("{}/models?pageSize=1", provider.base_url),
            headers: vec![key_header(KEY_HEADER, key)],
            body: Vec::new(),
        }
    }

    fn accepts(&self) -> &Accepts {
        &request::ACCEPTS
    }
}

// === response ===

/// A `GenerateContentResponse`: the non-streamed answer, and every stream chunk.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    #[serde(default)]
    prompt_feedback: Option<WirePromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    /// A 200 stream can still carry an error event.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl WireResponse {
    /// Whether the prompt itself was blocked (no candidates, a block reason).
    fn prompt_blocked(&self) -> bool {
        self.candidates.is_empty()
            && self
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    /// Absent on a candidate blocked mid-generation.
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireContent {
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    /// Marks a thought summary (only with `includeThoughts`).
    #[serde(default)]
    thought: bool,
    #[serde(default)]
    function_call: Option<WireFunctionCall>,
    #[serde(default)]
    thought_signature: Option<String>,
}

#[derive(Deserialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    args: Option<Box<RawValue>>,
}

impl WireFunctionCall {
    /// The call with a fresh id that carries the part's signature.
    fn into_tool_call(self, signature: Option<&str>) -> ToolCall {
        ToolCall {
            id: call_id::encode(signature),
            kind: "function".to_owned(),
            function: FunctionCall {
                name: self.name,
                arguments: self
                    .args
                    .map_or_else(|| "{}".to_owned(), |a| a.get().to_owned()),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u64,
    /// Absent when 0.
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_token_count + u.tool_use_prompt_token_count,
            completion_tokens: u.candidates_token_count + u.thoughts_token_count,
            cached_tokens: u.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: u.thoughts_token_count,
            estimated: false,
        }
    }
}

/// Maps a Gemini `finishReason` (§8.1). There is no tool-call reason: `STOP` after a
/// function call means `tool_calls`. Tool-call failures are upstream errors (retryable:
/// another attempt usually succeeds); reasons without an OpenAI peer are `stop`.
fn finish_reason(value: &str, saw_call: bool) -> Result<FinishReason, UpstreamError> {
    Ok(match value {
        "STOP" if saw_call => FinishReason::ToolCalls,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" => {
            return Err(UpstreamError::bad_response(format!(
                "the model ended with {value}"
            )));
        }
        _ => FinishReason::Stop,
    })
}

/// Parses a non-streamed `generateContent` answer.
fn parse_response(body: &[u8]) -> Result<Completion, UpstreamError> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::bad_response(format!("unparseable response: {e}")))?;
    if let Some(err) = &wire.error {
        return Err(error::error_from_value(None, err));
    }
    let usage = wire.usage_metadata.map(Usage::from).unwrap_or_default();
    if wire.prompt_blocked() {
        return Ok(Completion {
            message: ResponseMessage {
                content: Some(String::new()),
                reasoning_content: None,
                tool_calls: Vec::new(),
                refusal: None,
                logprobs: None,
            },
            finish_reason: FinishReason::ContentFilter,
            usage,
        });
    }
    let candidate = wire
        .candidates
        .into_iter()
        .next()
        .ok_or_else(|| UpstreamError::bad_response("response has no candidates"))?;
    let (mut text, mut reasoning, mut tool_calls) = (String::new(), String::new(), Vec::new());
    for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(call) = part.function_call {
            tool_calls.push(call.into_tool_call(part.thought_signature.as_deref()));
        } else if let Some(t) = part.text {
            if part.thought {
                reasoning.push_str(&t);
            } else {
                text.push_str(&t);
            }
        }
    }
    let finish = match candidate.finish_reason.as_deref() {
        Some(r) => finish_reason(r, !tool_calls.is_empty())?,
        None if !tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    Ok(Completion {
        message: ResponseMessage {
            content,
            reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            tool_calls,
            refusal: None,
            logprobs: None,
        },
        finish_reason: finish,
        usage,
    })
}

#[cfg(test)]
mod tests;
