//! The non-streamed answer (`chat.completion`), always exactly one choice.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

use super::request::ToolCall;
use super::usage::Usage;

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// One of the request's stop sequences matched (Anthropic says so; OpenAI-family
    /// providers report it as a plain `stop`).
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    /// The OpenAI wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop | Self::StopSequence => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }
}

/// The assistant's message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseMessage {
    pub content: Option<String>,
    /// Thinking text (DeepSeek/Qwen `reasoning_content`, Claude thinking, Gemini thoughts).
    pub reasoning_content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub refusal: Option<String>,
    /// The provider's `logprobs` object (OpenAI family, when the client asked and the
    /// provider was sent `logprobs`), as received; serialised on the choice.
    /// Boxed: most answers have none, and the answer is moved by value.
    pub logprobs: Option<Box<serde_json::Value>>,
}

/// A complete answer, translated from whichever provider produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub created: u64,
    /// The model name as the gateway's clients know it.
    pub model: Arc<str>,
    pub message: ResponseMessage,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// One choice as serialised.
pub struct Choice<'a>(&'a ChatResponse);

impl Serialize for Choice<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut c = s.serialize_struct("Choice", 4)?;
        c.serialize_field("index", &0)?;
        c.serialize_field("message", &self.0.message)?;
        c.serialize_field("logprobs", &self.0.message.logprobs)?;
        c.serialize_field("finish_reason", self.0.finish_reason.as_str())?;
        c.end()
    }
}

impl Serialize for ResponseMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("role", "assistant")?;
        m.serialize_entry("content", &self.content)?;
        if let Some(r) = &self.reasoning_content {
            m.serialize_entry("reasoning_content", r)?;
        }
        if !self.tool_calls.is_empty() {
            m.serialize_entry("tool_calls", &self.tool_calls)?;
        }
        m.serialize_entry("refusal", &self.refusal)?;
        m.serialize_entry("annotations", &[(); 0])?;
        m.end()
    }
}

/// Serialises in OpenAI's `chat.completion` shape.
impl Serialize for ChatResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("ChatResponse", 7)?;
        r.serialize_field("id", &self.id)?;
        r.serialize_field("object", "chat.completion")?;
        r.serialize_field("created", &self.created)?;
        r.serialize_field("model", &self.model)?;
        r.serialize_field("choices", &[Choice(self)])?;
        r.serialize_field("usage", &self.usage)?;
        r.serialize_field("system_fingerprint", &None::<()>)?;
        r.end()
    }
}
