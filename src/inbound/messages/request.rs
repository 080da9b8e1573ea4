//! An Anthropic `POST /v1/messages` body as clients send it, and its translation into
//! the canonical request (the inverse of `crate::adapters::anthropic`'s request
//! translation, providers.md §3.2). Unknown fields (`cache_control`, `service_tier`,
//! `container`) are ignored, as serde ignores them; what the canonical form cannot
//! carry is listed in the parent module's docs.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::canonical::request::{FunctionDef, ImageUrl, JsonSchemaFormat};
use crate::canonical::{
    ChatRequest, Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, Stop, Tool,
    ToolCall, ToolChoice,
};

/// `POST /v1/messages` (and, without `max_tokens`, `/v1/messages/count_tokens`).
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub messages: Vec<InMessage>,
    /// Required by `/v1/messages` ([`super::validate`] says so), not by `count_tokens`.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub system: Option<System>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub tools: Option<Vec<InTool>>,
    #[serde(default)]
    pub tool_choice: Option<InToolChoice>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    /// Structured output and effort.
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
}

/// `output_config`.
#[derive(Debug, Deserialize)]
pub struct OutputConfig {
    #[serde(default)]
    pub format: Option<OutputFormat>,
    /// `low|medium|high|xhigh|max`: the canonical `reasoning_effort` as it is.
    #[serde(default)]
    pub effort: Option<String>,
}

/// `output_config.format`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputFormat {
    JsonSchema { schema: serde_json::Value },
}

/// A string or a list of blocks: `system`, a turn's `content`, a `tool_result`'s
/// `content`. Read by hand rather than as an untagged enum, so that a bad block is
/// reported as what it is (`unknown variant `document``, with its path) instead of
/// "data did not match any variant".
#[derive(Debug)]
pub enum TextOr<T> {
    Text(String),
    Blocks(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOr<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = TextOr<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                let de = serde::de::value::SeqAccessDeserializer::new(seq);
                Vec::deserialize(de).map(TextOr::Blocks)
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// `system`: a string or text blocks.
pub type System = TextOr<SystemBlock>;

/// A block of `system`: text only.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SystemBlock {
    Text { text: String },
}

/// One turn.
#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: InRole,
    pub content: InContent,
}

/// Anthropic has no system role: `system` is a top-level field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InRole {
    User,
    Assistant,
}

/// A turn's content: a string or blocks.
pub type InContent = TextOr<InBlock>;

/// A content block of a request.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InBlock {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        /// A `Value`: internally tagged enums buffer their fields, which `RawValue`
        /// cannot be read from.
        #[serde(default)]
        input: Option<serde_json::Value>,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<ToolResultContent>,
        /// Not carried: the canonical (OpenAI) tool message has no error flag.
        #[serde(default)]
        is_error: Option<bool>,
    },
    /// Replayed thinking: its text becomes the turn's `reasoning_content`; the
    /// signature cannot be carried and is dropped.
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    /// Encrypted thinking no other provider can read: dropped.
    RedactedThinking {},
}

/// An image: base64 data or a URL.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// What a `tool_result` carries: a string or text and image blocks.
pub type ToolResultContent = TextOr<ResultBlock>;

/// A block of a `tool_result`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResultBlock {
    Text { text: String },
    Image { source: ImageSource },
}

/// A tool declaration. Server tools (with a `type` such as `web_search_20250305`) are
/// refused by [`super::validate`]; `custom` is the type of a client tool.
#[derive(Debug, Deserialize)]
pub struct InTool {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Box<RawValue>>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InToolChoice {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: bool,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: bool,
    },
    Tool {
        name: String,
        #[serde(default)]
        disable_parallel_tool_use: bool,
    },
    None {},
}

/// `metadata`.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `thinking`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled { budget_tokens: u32 },
    Adaptive {},
    Disabled {},
}

impl Thinking {
    /// The canonical `reasoning_effort`: the largest effort whose budget in the
    /// outbound Anthropic translation (1024, 4096, 16384) the client's budget reaches,
    /// so a Claude model thinks about as long as asked and other providers get their
    /// nearest switch. Adaptive thinking reads as `medium`.
    pub fn effort(self) -> Option<&'static str> {
        match self {
            Self::Enabled { budget_tokens } if budget_tokens >= 16_384 => Some("high"),
            Self::Enabled { budget_tokens } if budget_tokens >= 4096 => Some("medium"),
            Self::Enabled { .. } => Some("low"),
            Self::Adaptive {} => Some("medium"),
            Self::Disabled {} => None,
        }
    }
}

// === into canonical ===

impl MessagesRequest {
    /// The canonical request: `system` as system messages, each turn as one or more
    /// canonical messages (a user turn's `tool_result` blocks become `tool` messages
    /// ahead of the rest), tools and choices in OpenAI terms. Call after
    /// [`super::validate`].
    pub fn into_canonical(self) -> ChatRequest {
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        match self.system {
            Some(TextOr::Text(text)) if !text.is_empty() => messages.push(system(text)),
            Some(TextOr::Text(_)) | None => {}
            Some(TextOr::Blocks(blocks)) => messages.extend(
                blocks
                    .into_iter()
                    .map(|SystemBlock::Text { text }| system(text)),
            ),
        }
        for m in self.messages {
            match m.role {
                InRole::User => user_turn(m.content, &mut messages),
                InRole::Assistant => messages.push(assistant_turn(m.content)),
            }
        }
        let (tool_choice, parallel_tool_calls) = match self.tool_choice {
            Some(choice) => tool_choice(choice),
            None => (None, None),
        };
        let (response_format, effort) = match self.output_config {
            Some(OutputConfig { format, effort }) => (format.map(response_format), effort),
            None => (None, None),
        };
        let reasoning_effort =
            effort.or_else(|| self.thinking.and_then(Thinking::effort).map(str::to_owned));
        ChatRequest {
            model: self.model,
            messages,
            stream: self.stream,
            stream_options: None,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            n: None,
            seed: None,
            stop: self.stop_sequences.map(Stop::Many),
            max_tokens: self.max_tokens,
            max_completion_tokens: None,
            presence_penalty: None,
            frequency_penalty: None,
            tools: self
                .tools
                .map(|tools| tools.into_iter().map(tool).collect()),
            tool_choice,
            parallel_tool_calls,
            response_format,
            user: self.metadata.and_then(|m| m.user_id),
            reasoning_effort,
            logprobs: None,
            top_logprobs: None,
            logit_bias: None,
            service_tier: None,
            extra: serde_json::Map::new(),
        }
    }
}

fn message(role: Role, content: Option<Content>) -> Message {
    Message {
        role,
        content,
        name: None,
        tool_calls: None,
        tool_call_id: None,
        reasoning_content: None,
    }
}

fn system(text: String) -> Message {
    message(Role::System, Some(Content::Text(text)))
}

/// A user turn: its tool results as `tool` messages first (they must follow the
/// assistant's calls), then its text and images as one user message.
fn user_turn(content: InContent, out: &mut Vec<Message>) {
    let blocks = match content {
        TextOr::Text(text) => return out.push(message(Role::User, Some(Content::Text(text)))),
        TextOr::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            InBlock::Text { text } => parts.push(ContentPart::Text { text }),
            InBlock::Image { source } => parts.push(image(source)),
            InBlock::ToolResult {
                tool_use_id,
                content,
                ..
            } => out.push(Message {
                tool_call_id: Some(tool_use_id),
                ..message(Role::Tool, Some(tool_result(content)))
            }),
            // A user turn carries no calls or thinking; validation refused them.
            InBlock::ToolUse { .. } | InBlock::Thinking { .. } | InBlock::RedactedThinking {} => {}
        }
    }
    if !parts.is_empty() {
        out.push(message(Role::User, Some(content_of(parts))));
    }
}

/// An assistant turn: text joined, calls as tool calls, thinking as reasoning.
fn assistant_turn(content: InContent) -> Message {
    let blocks = match content {
        TextOr::Text(text) => return message(Role::Assistant, Some(Content::Text(text))),
        TextOr::Blocks(blocks) => blocks,
    };
    let (mut text, mut thinking, mut calls) = (None::<String>, None::<String>, Vec::new());
    for block in blocks {
        match block {
            InBlock::Text { text: t } => text.get_or_insert_with(String::new).push_str(&t),
            InBlock::Thinking { thinking: t } => {
                thinking.get_or_insert_with(String::new).push_str(&t);
            }
            InBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: input.map_or_else(|| "{}".to_owned(), |v| v.to_string()),
                },
            }),
            InBlock::Image { .. } | InBlock::ToolResult { .. } | InBlock::RedactedThinking {} => {}
        }
    }
    Message {
        tool_calls: (!calls.is_empty()).then_some(calls),
        reasoning_content: thinking,
        ..message(Role::Assistant, text.map(Content::Text))
    }
}

/// One text part reads as plain text; anything else stays in parts.
fn content_of(mut parts: Vec<ContentPart>) -> Content {
    if let [ContentPart::Text { .. }] = parts.as_slice()
        && let Some(ContentPart::Text { text }) = parts.pop()
    {
        return Content::Text(text);
    }
    Content::Parts(parts)
}

fn tool_result(content: Option<ToolResultContent>) -> Content {
    match content {
        None => Content::Text(String::new()),
        Some(TextOr::Text(text)) => Content::Text(text),
        Some(TextOr::Blocks(blocks)) => content_of(
            blocks
                .into_iter()
                .map(|b| match b {
                    ResultBlock::Text { text } => ContentPart::Text { text },
                    ResultBlock::Image { source } => image(source),
                })
                .collect(),
        ),
    }
}

/// An image part: base64 data as a `data:` URL, which every adapter reads back.
fn image(source: ImageSource) -> ContentPart {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url,
    };
    ContentPart::ImageUrl {
        image_url: ImageUrl { url, detail: None },
    }
}

/// The name the canonical `json_schema` format needs; Anthropic's has none.
const SCHEMA_NAME: &str = "output";

fn response_format(format: OutputFormat) -> ResponseFormat {
    let OutputFormat::JsonSchema { schema } = format;
    ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: SCHEMA_NAME.to_owned(),
            description: None,
            schema: Some(schema),
            strict: None,
        },
    }
}

fn tool(t: InTool) -> Tool {
    Tool {
        kind: "function".to_owned(),
        function: FunctionDef {
            name: t.name,
            description: t.description,
            parameters: t.input_schema,
            strict: t.strict,
        },
    }
}

/// `(tool_choice, parallel_tool_calls)`.
fn tool_choice(choice: InToolChoice) -> (Option<ToolChoice>, Option<bool>) {
    let parallel = |disable: bool| disable.then_some(false);
    match choice {
        InToolChoice::Auto {
            disable_parallel_tool_use,
        } => (Some(ToolChoice::Auto), parallel(disable_parallel_tool_use)),
        InToolChoice::Any {
            disable_parallel_tool_use,
        } => (
            Some(ToolChoice::Required),
            parallel(disable_parallel_tool_use),
        ),
        InToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        } => (
            Some(ToolChoice::Function(name)),
            parallel(disable_parallel_tool_use),
        ),
        InToolChoice::None {} => (Some(ToolChoice::None), None),
    }
}
