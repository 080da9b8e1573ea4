//! Qwen through DashScope's OpenAI-compatible mode: `enable_thinking`,
//! `reasoning_content`, continuation tool deltas with `"id":""` (the family decoder never
//! lets an empty id replace a real one), usage in a separate final chunk.

use super::openai::{MaxTokensField, OPENAI_QUIRKS, OpenAiFamily, Quirks, Thinking};
use crate::canonical::params::{Accepts, ExtraParams};

/// Qwen's quirks.
pub const QWEN_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxTokens,
    developer_role: false,
    replay_reasoning: true,
    thinking: Thinking::Qwen,
    // `logprobs`/`top_logprobs` (0–5) and `top_k` are documented, logit bias is not;
    // DashScope's own extensions, sent through `extra_body`, pass.
    accepts: Accepts {
        logit_bias: false,
        service_tier: false,
        top_k: true,
        extra: ExtraParams::Only(&["enable_thinking", "thinking_budget", "enable_search"]),
        ..Accepts::OPENAI
    },
    ..OPENAI_QUIRKS
};

/// The `qwen` kind. Base URL `https://dashscope-intl.aliyuncs.com/compatible-mode/v1`.
pub static QWEN: OpenAiFamily = OpenAiFamily {
    quirks: QWEN_QUIRKS,
};
