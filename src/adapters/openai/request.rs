//! Canonical request → OpenAI-family `chat/completions` body. One builder for the
//! whole family: the [`Quirks`] decide the max-tokens and seed fields, which roles and
//! names pass, how thinking is switched on and how tool-call ids are rewritten. Wire
//! structs borrow from the canonical request.

use std::borrow::Cow;

use serde::Serialize;

use super::{MaxTokensField, Quirks, SeedField, Thinking};
use crate::canonical::request::StreamOptions;
use crate::canonical::{ChatRequest, Content, Message, ResponseFormat, Role, Tool, ToolChoice};

#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
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

pub(super) fn wire_request<'a>(
    q: &Quirks,
    req: &'a ChatRequest,
    upstream_model: &'a str,
) -> WireRequest<'a> {
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
    let (reasoning_effort, thinking, enable_thinking) =
        thinking_fields(q.thinking, req.reasoning_effort.as_deref());
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

/// `(reasoning_effort, thinking, enable_thinking)`: how `effort` is spelled for a
/// provider that switches thinking on its `thinking` way.
fn thinking_fields(
    thinking: Thinking,
    effort: Option<&str>,
) -> (Option<&str>, Option<WireThinking>, Option<bool>) {
    let thinking_off = matches!(effort, Some("none" | "minimal"));
    match (thinking, effort) {
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
