//! A canonical answer written as Anthropic's non-streamed `message` (providers.md
//! §3.3): `msg_` id, content blocks (thinking, text, tool use), `stop_reason` from
//! whichever provider's finish reason, and usage in Anthropic's convention, where
//! `input_tokens` excludes the prompt-cache reads and writes counted beside it.

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::value::RawValue;

use crate::adapters::anthropic::stop_reason;
use crate::canonical::{ChatResponse, ToolCall, Usage};

/// Serialises `response` as a `message` with id `id`.
pub struct MessageBody<'a> {
    pub id: &'a str,
    pub response: &'a ChatResponse,
}

impl Serialize for MessageBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.response;
        let mut m = s.serialize_struct("Message", 8)?;
        m.serialize_field("id", self.id)?;
        m.serialize_field("type", "message")?;
        m.serialize_field("role", "assistant")?;
        m.serialize_field("model", &*r.model)?;
        m.serialize_field("content", &Blocks(r))?;
        m.serialize_field("stop_reason", stop_reason(r.finish_reason))?;
        m.serialize_field("stop_sequence", &None::<()>)?;
        m.serialize_field("usage", &AnthropicUsage(r.usage))?;
        m.end()
    }
}

/// The content blocks in Anthropic's order: thinking, text, tool calls.
struct Blocks<'a>(&'a ChatResponse);

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let m = &self.0.message;
        let mut seq = s.serialize_seq(None)?;
        if let Some(t) = m.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
            seq.serialize_element(&Block::Thinking(t))?;
        }
        if let Some(t) = m.content.as_deref().filter(|t| !t.is_empty()) {
            seq.serialize_element(&Block::Text(t))?;
        }
        for call in &m.tool_calls {
            seq.serialize_element(&Block::ToolUse(call))?;
        }
        seq.end()
    }
}

enum Block<'a> {
    Thinking(&'a str),
    Text(&'a str),
    ToolUse(&'a ToolCall),
}

impl Serialize for Block<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Self::Thinking(t) => {
                m.serialize_entry("type", "thinking")?;
                m.serialize_entry("thinking", t)?;
                // Only Anthropic signs thinking; the signature cannot be carried over.
                m.serialize_entry("signature", "")?;
            }
            Self::Text(t) => {
                m.serialize_entry("type", "text")?;
                m.serialize_entry("text", t)?;
            }
            Self::ToolUse(call) => {
                m.serialize_entry("type", "tool_use")?;
                m.serialize_entry("id", &call.id)?;
                m.serialize_entry("name", &call.function.name)?;
                m.serialize_entry("input", &ToolInput(&call.function.arguments))?;
            }
        }
        m.end()
    }
}

/// A call's arguments as the JSON object `input` must be: as the model wrote them
/// when they are one, else `{}` (a model that wrote none, or broken JSON).
pub struct ToolInput<'a>(pub &'a str);

impl Serialize for ToolInput<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(self.0) {
            Ok(raw) if raw.get().starts_with('{') => raw.serialize(s),
            _ => s.serialize_map(Some(0))?.end(),
        }
    }
}

/// Canonical usage in Anthropic's fields.
pub struct AnthropicUsage(pub Usage);

impl Serialize for AnthropicUsage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = &self.0;
        let mut m = s.serialize_struct("Usage", 4)?;
        // The inverse of `From<WireUsage> for Usage` in `crate::adapters::anthropic`.
        let uncached = u
            .prompt_tokens
            .saturating_sub(u.cached_tokens + u.cache_write_tokens);
        m.serialize_field("input_tokens", &uncached)?;
        m.serialize_field("cache_creation_input_tokens", &u.cache_write_tokens)?;
        m.serialize_field("cache_read_input_tokens", &u.cached_tokens)?;
        m.serialize_field("output_tokens", &u.completion_tokens)?;
        m.end()
    }
}
