//! What distinguishes one OpenAI-family provider from another, as data: the
//! [`Quirks`] each kind states (which max-tokens and seed fields it takes, which message
//! fields it accepts, how it switches thinking on, how tool-call ids must look, which
//! optional parameters it takes), and the quirk sets of OpenAI itself and of a generic
//! openai-compatible server.

use std::borrow::Cow;

use crate::canonical::params::{Accepts, ExtraParams};

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
    /// The optional parameters forwarded (`logprobs`, `logit_bias`, extra keys, …);
    /// the others are dropped and reported. `user` also needs [`Self::names`].
    pub accepts: Accepts,
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
    accepts: Accepts::OPENAI,
};

/// Any server that claims OpenAI compatibility: the most widely accepted fields only
/// (vLLM, llama.cpp and Ollama take `logprobs`; the first two `logit_bias`), plus
/// every unknown key, as `extra_body` is how clients address such servers.
pub const COMPATIBLE_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxTokens,
    developer_role: false,
    thinking: Thinking::Ignore,
    accepts: Accepts {
        service_tier: false,
        reasoning_effort: false,
        top_k: true,
        extra: ExtraParams::All,
        ..Accepts::OPENAI
    },
    ..OPENAI_QUIRKS
};
