//! The OpenAI Chat Completions adapter, and the helpers every OpenAI-family adapter
//! (DeepSeek, Qwen, Mistral, generic openai-compatible) reuses.
//!
//! The family shares one request builder and one tolerant stream decoder; each kind
//! only states its [`Quirks`]: which max-tokens and seed fields it takes, which
//! message fields it accepts, how it switches thinking on, how tool-call ids must look.

use std::borrow::Cow;
use std::collections::HashMap;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::sse::SseParser;
use super::{Adapter, Completion, StreamDecoder, UpstreamRequest, bearer, retry_after, to_json};
use crate::canonical::request::StreamOptions;
use crate::canonical::{
    ChatRequest, Content, FinishReason, Message, ResponseFormat, ResponseMessage, Role,
    StreamEvent, Tool, ToolCall, ToolChoice, Usage, ids,
};
use crate::config::{ModelConfig, ProviderConfig, Secret};
use crate::error::{ErrorClass, GatewayError, UpstreamError};

/// Where the output cap goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens` (OpenAI; `max_tokens` is rejected by reasoning models).
    MaxCompletionTokens,
    /// `max_tokens` (everyone else).
    MaxTokens,
}

/// How a provider switches thinking on from `reasoning_effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    /// Forward `reasoning_effort` as is (OpenAI, Mistral).
    ReasoningEffort,
    /// DeepSeek: `thinking: {"type": "enabled"|"disabled"}` plus `reasoning_effort` high|max.
    DeepSeek,
    /// Qwen: `enable_thinking: bool`.
    Qwen,
    /// Not forwarded.
    Ignore,
}

/// What distinguishes one OpenAI-family provider from another.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    pub max_tokens: MaxTokensField,
    /// `seed` or Mistral's `random_seed`.
    pub seed_field: SeedField,
    /// Whether `stream_options` is accepted (Mistral rejects unknown fields and sends
    /// usage anyway).
    pub stream_options: bool,
    /// Whether `user` and message `name` are accepted.
    pub names: bool,
    /// Whether `developer` is a role (else sent as `system`).
    pub developer_role: bool,
    /// Whether assistant `reasoning_content` is replayed (DeepSeek needs it on tool turns).
    pub replay_reasoning: bool,
    pub thinking: Thinking,
    /// How `tool_choice: "required"` is spelled.
    pub required_tool_choice: &'static str,
    /// Rewrites tool-call ids the provider would reject (Mistral: 9 alphanumerics).
    pub tool_call_id: fn(&str) -> Cow<'_, str>,
    /// Path appended to the base URL for chat.
    pub chat_path: &'static str,
    /// Path appended to the base URL for the model list.
    pub models_path: &'static str,
}

/// Which seed field the provider takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedField {
    Seed,
    RandomSeed,
}

/// Ids pass through unchanged.
pub fn same_id(id: &str) -> Cow<'_, str> {
    Cow::Borrowed(id)
}

/// OpenAI's own quirks.
pub const OPENAI_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxCompletionTokens,
    seed_field: SeedField::Seed,
    stream_options: true,
    names: true,
    developer_role: true,
    replay_reasoning: false,
    thinking: Thinking::ReasoningEffort,
    required_tool_choice: "required",
    tool_call_id: same_id,
    chat_path: "/chat/completions",
    models_path: "/models",
};

/// Any server that claims OpenAI compatibility: the most widely accepted fields only.
pub const COMPATIBLE_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxTokens,
    developer_role: false,
    thinking: Thinking::Ignore,
    ..OPENAI_QUIRKS
};

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
}

// === request ===

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    random_seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_thinking: Option<bool>,
}

#[derive(Serialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'a str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: WireName<'a>,
    },
}

#[derive(Serialize)]
struct WireName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` is meaningful for an assistant message that only calls tools.
    content: Option<&'a Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a crate::canonical::FunctionCall,
}

fn wire_request<'a>(q: &Quirks, req: &'a ChatRequest, upstream_model: &'a str) -> WireRequest<'a> {
    let messages = req.messages.iter().map(|m| wire_message(q, m)).collect();
    let max = req.max_output_tokens();
    let (max_tokens, max_completion_tokens) = match q.max_tokens {
        MaxTokensField::MaxTokens => (max, None),
        MaxTokensField::MaxCompletionTokens => (None, max),
    };
    let (seed, random_seed) = match q.seed_field {
        SeedField::Seed => (req.seed, None),
        SeedField::RandomSeed => (None, req.seed),
    };
    let effort = req.reasoning_effort.as_deref();
    let thinking_off = matches!(effort, Some("none" | "minimal"));
    let (reasoning_effort, thinking, enable_thinking) = match (q.thinking, effort) {
        (_, None) | (Thinking::Ignore, _) => (None, None, None),
        (Thinking::ReasoningEffort, e) => (e, None, None),
        (Thinking::DeepSeek, Some(_)) if thinking_off => {
            (None, Some(WireThinking { kind: "disabled" }), None)
        }
        (Thinking::DeepSeek, Some(e)) => (
            Some(if matches!(e, "xhigh" | "max") {
                "max"
            } else {
                "high"
            }),
            Some(WireThinking { kind: "enabled" }),
            None,
        ),
        (Thinking::Qwen, Some(_)) => (None, None, Some(!thinking_off)),
    };
    let tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::None => WireToolChoice::Mode("none"),
        ToolChoice::Auto => WireToolChoice::Mode("auto"),
        ToolChoice::Required => WireToolChoice::Mode(q.required_tool_choice),
        ToolChoice::Function(name) => WireToolChoice::Named {
            kind: "function",
            function: WireName { name },
        },
    });
    WireRequest {
        model: upstream_model,
        messages,
        stream: req.stream,
        // Always ask for usage upstream: the gateway accounts every stream.
        stream_options: (req.stream && q.stream_options).then_some(StreamOptions {
            include_usage: Some(true),
        }),
        temperature: req.temperature,
        top_p: req.top_p,
        seed,
        random_seed,
        stop: req.stop.as_ref().map(|s| s.as_slice()),
        max_tokens,
        max_completion_tokens,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        tools: req.tools.as_deref().filter(|t| !t.is_empty()),
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.response_format.as_ref(),
        user: req.user.as_deref().filter(|_| q.names),
        reasoning_effort,
        thinking,
        enable_thinking,
    }
}

fn wire_message<'a>(q: &Quirks, m: &'a Message) -> WireMessage<'a> {
    let role = match m.role {
        Role::System => "system",
        Role::Developer if q.developer_role => "developer",
        Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let tool_calls = m
        .tool_calls
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|calls| {
            calls
                .iter()
                .map(|c| WireToolCall {
                    id: (q.tool_call_id)(&c.id),
                    kind: "function",
                    function: &c.function,
                })
                .collect()
        });
    // Tool messages may carry `name` everywhere in the family; other roles only where accepted.
    let name = m
        .name
        .as_deref()
        .filter(|_| q.names || m.role == Role::Tool);
    WireMessage {
        role,
        content: m.content.as_ref(),
        name,
        tool_calls,
        tool_call_id: m.tool_call_id.as_deref().map(q.tool_call_id),
        reasoning_content: m
            .reasoning_content
            .as_deref()
            .filter(|_| q.replay_reasoning && m.role == Role::Assistant),
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
        },
        finish_reason: finish,
        usage,
    })
}

// === stream ===

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

/// Decodes an OpenAI-family SSE stream. Tolerates every family quirk: usage on the
/// finish chunk or a separate one, `: keep-alive` comments, continuation deltas with
/// `"id":""`, whole tool calls without `index`, and content as an array of chunks.
#[derive(Default)]
pub struct OpenAiStreamDecoder {
    sse: SseParser,
    /// Upstream `index` → our tool-call index.
    calls: HashMap<u32, u32>,
    /// Our index for the next new call.
    next_call: u32,
    /// Our index of the most recent call, for deltas that name none.
    last_call: Option<u32>,
    finished: bool,
    done: bool,
}

impl OpenAiStreamDecoder {
    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: WireChunk = serde_json::from_str(data)
            .map_err(|e| UpstreamError::bad_response(format!("unparseable stream chunk: {e}")))?;
        if let Some(err) = chunk.error {
            return Err(error_from_value(None, &err));
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                out.push(StreamEvent::Finish(finish_reason(reason)?));
                self.finished = true;
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage(usage.into()));
        }
        Ok(())
    }

    fn delta(&mut self, delta: WireDelta, out: &mut Vec<StreamEvent>) {
        if let Some(r) = delta.reasoning_content.filter(|r| !r.is_empty()) {
            out.push(StreamEvent::Reasoning(r));
        }
        if let Some(content) = delta.content {
            let (text, thinking) = content.split();
            if !thinking.is_empty() {
                out.push(StreamEvent::Reasoning(thinking));
            }
            if !text.is_empty() {
                out.push(StreamEvent::Text(text));
            }
        }
        for call in delta.tool_calls.into_iter().flatten() {
            let id = call.id.filter(|id| !id.is_empty());
            let (name, args) = match call.function {
                Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments),
                None => (None, None),
            };
            // A call is new when its index is unseen, or (no index) when it brings a name.
            let known = match call.index {
                Some(i) => self.calls.get(&i).copied(),
                None if name.is_some() => None,
                None => self.last_call,
            };
            let ours = match known {
                Some(ours) => ours,
                None => {
                    let ours = self.next_call;
                    self.next_call += 1;
                    if let Some(i) = call.index {
                        self.calls.insert(i, ours);
                    }
                    out.push(StreamEvent::ToolCallStart {
                        index: ours,
                        id: id.unwrap_or_else(ids::tool_call_id),
                        name: name.unwrap_or_default(),
                    });
                    ours
                }
            };
            self.last_call = Some(ours);
            let args = match args {
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            if !args.is_empty() {
                out.push(StreamEvent::ToolCallArgs {
                    index: ours,
                    arguments: args,
                });
            }
        }
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn decode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.push(bytes);
        while let Some(ev) = self.sse.next_event() {
            if self.done {
                break;
            }
            self.event(&ev.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.close();
        while let Some(ev) = self.sse.next_event() {
            if self.done {
                break;
            }
            self.event(&ev.data, out)?;
        }
        if self.finished {
            Ok(())
        } else {
            Err(UpstreamError::bad_response(
                "stream ended before the model finished",
            ))
        }
    }
}

// === errors ===

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
    UpstreamError::new(class, truncate(message, 500))
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests;
