//! DeepSeek: OpenAI-compatible, with `reasoning_content`, the `thinking` switch,
//! cache hit/miss usage and `: keep-alive` comments (all handled by the family code).
//! Tool-call turns must replay the assistant's `reasoning_content`, so it is forwarded.

use super::openai::{MaxTokensField, OPENAI_QUIRKS, OpenAiFamily, Quirks, Thinking};
use crate::canonical::params::{Accepts, ExtraParams};

/// DeepSeek's quirks.
pub const DEEPSEEK_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxTokens,
    developer_role: false,
    replay_reasoning: true,
    thinking: Thinking::DeepSeek,
    // `logprobs`/`top_logprobs` are documented (not in thinking mode); no logit bias.
    accepts: Accepts {
        logit_bias: false,
        service_tier: false,
        extra: ExtraParams::None,
        ..Accepts::OPENAI
    },
    ..OPENAI_QUIRKS
};

/// The `deepseek` kind. Base URL `https://api.deepseek.com`.
pub static DEEPSEEK: OpenAiFamily = OpenAiFamily {
    quirks: DEEPSEEK_QUIRKS,
};
