//! Normalised token usage: one shape whatever the provider reported.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Token counts of one answer. `prompt_tokens` includes cached and cache-write tokens,
/// `completion_tokens` includes reasoning tokens (OpenAI's convention).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (Anthropic).
    pub cache_write_tokens: u64,
    /// Completion tokens spent thinking.
    pub reasoning_tokens: u64,
    /// The provider reported nothing (stream cut short) and the gateway estimated.
    pub estimated: bool,
}

impl Usage {
    /// Prompt plus completion.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Serialises in OpenAI's `usage` shape.
impl Serialize for Usage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct PromptDetails<'a>(&'a Usage);
        impl Serialize for PromptDetails<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("cached_tokens", &self.0.cached_tokens)?;
                if self.0.cache_write_tokens > 0 {
                    m.serialize_entry("cache_write_tokens", &self.0.cache_write_tokens)?;
                }
                m.end()
            }
        }
        struct CompletionDetails<'a>(&'a Usage);
        impl Serialize for CompletionDetails<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("reasoning_tokens", &self.0.reasoning_tokens)?;
                m.end()
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("prompt_tokens", &self.prompt_tokens)?;
        m.serialize_entry("completion_tokens", &self.completion_tokens)?;
        m.serialize_entry("total_tokens", &self.total_tokens())?;
        m.serialize_entry("prompt_tokens_details", &PromptDetails(self))?;
        m.serialize_entry("completion_tokens_details", &CompletionDetails(self))?;
        m.end()
    }
}

/// A rough token count for text, used when a provider reports none: about four
/// characters per token, the rule of thumb OpenAI documents for English.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}
