//! Canonical request → Anthropic Messages request (providers.md §3.2). The decisions
//! this translation makes (temperature clamping, `json_object` emulation, the thinking
//! budget, the placeholder user turn) are listed in the parent module's docs.

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::{JSON_OBJECT_INSTRUCTION, MIN_THINKING_BUDGET, PLACEHOLDER_USER_TURN};
use crate::canonical::params::{Accepts, ExtraParams};
use crate::canonical::request::{ImageUrl, JsonSchemaFormat};
use crate::canonical::{
    ChatRequest, Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, Tool,
    ToolChoice,
};
use crate::config::ModelConfig;
use crate::error::GatewayError;

/// The `POST /v1/messages` body, borrowing from the canonical request.
#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Cow<'a, str>>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<WireOutputConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<WireMetadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// A lone text block is sent as a plain string, as Anthropic's own examples do.
    #[serde(serialize_with = "content_as_string_when_plain")]
    content: Vec<WireBlock<'a>>,
}

fn content_as_string_when_plain<S: Serializer>(
    blocks: &[WireBlock<'_>],
    s: S,
) -> Result<S::Ok, S::Error> {
    match blocks {
        [WireBlock::Text { text }] => s.serialize_str(text),
        _ => blocks.serialize(s),
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock<'a> {
    Text {
        text: Cow<'a, str>,
    },
    Image {
        source: WireImageSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: WireInput<'a>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Cow<'a, str>,
    },
}

/// A JSON object as the client wrote it, or `{}`.
#[derive(Serialize)]
#[serde(untagged)]
enum WireInput<'a> {
    Raw(&'a RawValue),
    Empty(EmptyObject),
}

/// Serialises as `{}`.
#[derive(Serialize)]
struct EmptyObject {}

/// The schema of a tool declared without parameters.
#[derive(Serialize)]
struct EmptySchema {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: EmptyObject,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireSchema<'a> {
    Raw(&'a RawValue),
    Empty(EmptySchema),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: WireSchema<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
struct WireToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_parallel_tool_use: bool,
}

#[derive(Serialize)]
struct WireOutputConfig<'a> {
    format: WireFormat<'a>,
}

#[derive(Serialize)]
struct WireFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: &'a serde_json::Value,
}

#[derive(Serialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

#[derive(Serialize)]
struct WireMetadata<'a> {
    user_id: &'a str,
}

pub(super) fn wire_request<'a>(
    req: &'a ChatRequest,
    model: &'a ModelConfig,
) -> Result<WireRequest<'a>, GatewayError> {
    let max_tokens = req.max_output_tokens().unwrap_or(model.max_output_tokens);
    let json_schema = match &req.response_format {
        Some(ResponseFormat::JsonSchema {
            json_schema:
                JsonSchemaFormat {
                    schema: Some(schema),
                    ..
                },
        }) => Some(schema),
        _ => None,
    };
    // A json_schema without a schema is no more than a request for JSON.
    let json_instruction = match &req.response_format {
        Some(ResponseFormat::JsonObject) => true,
        Some(ResponseFormat::JsonSchema { .. }) => json_schema.is_none(),
        _ => false,
    };
    let tools: Vec<WireTool<'a>> = req.tools.iter().flatten().map(wire_tool).collect();
    let forced_tool = matches!(
        req.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Function(_))
    );
    let thinking = thinking(req.reasoning_effort.as_deref(), max_tokens)
        .filter(|_| !forced_tool || tools.is_empty());
    let sampling = thinking.is_none();
    Ok(WireRequest {
        model: &model.upstream,
        max_tokens,
        system: system(&req.messages, json_instruction),
        messages: messages(&req.messages)?,
        stop_sequences: req
            .stop
            .as_ref()
            .map(|s| s.as_slice())
            .filter(|s| !s.is_empty()),
        temperature: req
            .temperature
            .map(|t| t.clamp(0.0, 1.0))
            .filter(|_| sampling),
        top_p: req.top_p.filter(|_| sampling),
        top_k: req.top_k.filter(|_| sampling),
        tool_choice: tool_choice(req, !tools.is_empty()),
        tools,
        output_config: json_schema.map(|schema| WireOutputConfig {
            format: WireFormat {
                kind: "json_schema",
                schema,
            },
        }),
        thinking,
        metadata: req.user.as_deref().map(|user_id| WireMetadata { user_id }),
        stream: req.stream,
    })
}

/// `system` and `developer` messages, wherever they appear, joined in order.
fn system(messages: &[Message], json_instruction: bool) -> Option<Cow<'_, str>> {
    let mut parts: Vec<Cow<'_, str>> = messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .map(|m| match &m.content {
            Some(Content::Text(t)) => Cow::Borrowed(t.as_str()),
            _ => Cow::Owned(m.text()),
        })
        .filter(|t| !t.is_empty())
        .collect();
    if json_instruction {
        parts.push(Cow::Borrowed(JSON_OBJECT_INSTRUCTION));
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Cow::Owned(parts.join("\n\n"))),
    }
}

/// The conversation as strictly alternating user/assistant turns, starting with user.
fn messages(messages: &[Message]) -> Result<Vec<WireMessage<'_>>, GatewayError> {
    let mut out: Vec<WireMessage<'_>> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => continue,
            Role::User => ("user", user_blocks(i, m)?),
            Role::Assistant => ("assistant", assistant_blocks(i, m)?),
            Role::Tool => (
                "user",
                vec![WireBlock::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: match &m.content {
                        Some(Content::Text(t)) => Cow::Borrowed(t.as_str()),
                        _ => Cow::Owned(m.text()),
                    },
                }],
            ),
        };
        if blocks.is_empty() {
            continue; // Anthropic rejects empty turns; dropping one keeps the meaning.
        }
        match out.last_mut() {
            Some(last) if last.role == role => merge(&mut last.content, blocks),
            _ => out.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    if out.first().is_none_or(|m| m.role != "user") {
        out.insert(
            0,
            WireMessage {
                role: "user",
                content: vec![WireBlock::Text {
                    text: Cow::Borrowed(PLACEHOLDER_USER_TURN),
                }],
            },
        );
    }
    Ok(out)
}

/// Appends `blocks` to a turn, keeping `tool_result` blocks ahead of everything else
/// (Anthropic wants a turn's tool results first).
fn merge<'a>(turn: &mut Vec<WireBlock<'a>>, blocks: Vec<WireBlock<'a>>) {
    for b in blocks {
        if matches!(b, WireBlock::ToolResult { .. }) {
            let at = turn
                .iter()
                .position(|x| !matches!(x, WireBlock::ToolResult { .. }))
                .unwrap_or(turn.len());
            turn.insert(at, b);
        } else {
            turn.push(b);
        }
    }
}

fn user_blocks(i: usize, m: &Message) -> Result<Vec<WireBlock<'_>>, GatewayError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(text_block(t).into_iter().collect()),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => out.extend(text_block(text)),
                    ContentPart::ImageUrl { image_url } => {
                        out.push(image_block(image_url, i, j)?);
                    }
                }
            }
            Ok(out)
        }
    }
}

/// A text block, or nothing for empty text (which Anthropic rejects).
fn text_block(text: &str) -> Option<WireBlock<'_>> {
    (!text.is_empty()).then_some(WireBlock::Text {
        text: Cow::Borrowed(text),
    })
}

fn image_block(image: &ImageUrl, i: usize, j: usize) -> Result<WireBlock<'_>, GatewayError> {
    let source = if let Some((media_type, data)) = image.as_data() {
        WireImageSource::Base64 { media_type, data }
    } else if image.url.starts_with("https://") || image.url.starts_with("http://") {
        WireImageSource::Url { url: &image.url }
    } else {
        return Err(GatewayError::invalid(
            format!(
                "messages[{i}].content[{j}]: an image must be an http(s) URL or a base64 data URL"
            ),
            format!("messages[{i}].content[{j}].image_url.url"),
        ));
    };
    Ok(WireBlock::Image { source })
}

fn assistant_blocks(i: usize, m: &Message) -> Result<Vec<WireBlock<'_>>, GatewayError> {
    let mut out = Vec::new();
    match &m.content {
        Some(Content::Text(t)) => out.extend(text_block(t)),
        Some(Content::Parts(_)) => {
            let text = m.text();
            if !text.is_empty() {
                out.push(WireBlock::Text {
                    text: Cow::Owned(text),
                });
            }
        }
        None => {}
    }
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        out.push(WireBlock::ToolUse {
            id: &call.id,
            name: &call.function.name,
            input: tool_input(&call.function, i, j)?,
        });
    }
    Ok(out)
}

/// The arguments string as a JSON object; empty arguments mean `{}`.
fn tool_input(f: &FunctionCall, i: usize, j: usize) -> Result<WireInput<'_>, GatewayError> {
    let args = f.arguments.trim();
    if args.is_empty() {
        return Ok(WireInput::Empty(EmptyObject {}));
    }
    let param = format!("messages[{i}].tool_calls[{j}].function.arguments");
    match serde_json::from_str::<&RawValue>(args) {
        Ok(raw) if raw.get().starts_with('{') => Ok(WireInput::Raw(raw)),
        Ok(_) => Err(GatewayError::invalid(
            format!("{param} must be a JSON object"),
            param,
        )),
        Err(e) => Err(GatewayError::invalid(
            format!("{param} is not valid JSON: {e}"),
            param,
        )),
    }
}

fn wire_tool(t: &Tool) -> WireTool<'_> {
    let input_schema = match &t.function.parameters {
        Some(schema) => WireSchema::Raw(schema),
        None => WireSchema::Empty(EmptySchema {
            kind: "object",
            properties: EmptyObject {},
        }),
    };
    WireTool {
        name: &t.function.name,
        description: t.function.description.as_deref(),
        input_schema,
        strict: t.function.strict,
    }
}

/// `tool_choice`, with `disable_parallel_tool_use` for `parallel_tool_calls: false`.
/// Sent only when tools are: Anthropic rejects a tool choice without tools.
fn tool_choice(req: &ChatRequest, has_tools: bool) -> Option<WireToolChoice<'_>> {
    if !has_tools {
        return None;
    }
    let disable_parallel_tool_use = req.parallel_tool_calls == Some(false);
    let (kind, name) = match &req.tool_choice {
        None if !disable_parallel_tool_use => return None,
        None | Some(ToolChoice::Auto) => ("auto", None),
        Some(ToolChoice::None) => ("none", None),
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Function(name)) => ("tool", Some(name.as_str())),
    };
    Some(WireToolChoice {
        kind,
        name,
        // Meaningless when no tool may be called.
        disable_parallel_tool_use: disable_parallel_tool_use && kind != "none",
    })
}

/// Thinking budget per `reasoning_effort`, capped at half of `max_tokens` so the answer
/// keeps room; `None` when thinking is off or the cap leaves less than Anthropic's minimum.
fn thinking(effort: Option<&str>, max_tokens: u32) -> Option<WireThinking> {
    let budget = match effort? {
        "low" => 1024,
        "medium" => 4096,
        "high" => 16_384,
        "xhigh" | "max" => 32_768,
        _ => return None, // none, minimal, and efforts we do not know
    };
    let budget = budget.min(max_tokens / 2);
    (budget >= MIN_THINKING_BUDGET).then_some(WireThinking {
        kind: "enabled",
        budget_tokens: budget,
    })
}

/// The optional OpenAI parameters the Messages API has a place for: `user` becomes
/// `metadata.user_id`, `parallel_tool_calls: false` `disable_parallel_tool_use`,
/// `reasoning_effort` a thinking budget. No seed, penalties, logprobs or logit bias;
/// Anthropic's `service_tier` takes other values than OpenAI's.
pub(super) const ACCEPTS: Accepts = Accepts {
    seed: false,
    penalties: false,
    logprobs: false,
    logit_bias: false,
    service_tier: false,
    user: true,
    parallel_tool_calls: true,
    reasoning_effort: true,
    top_k: true,
    extra: ExtraParams::None,
};
