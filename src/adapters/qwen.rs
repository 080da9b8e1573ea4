//! Qwen through DashScope's OpenAI-compatible mode: `enable_thinking`,
//! `reasoning_content`, continuation tool deltas with `"id":""` (the family decoder never
//! lets an empty id replace a real one), usage in a separate final chunk.

use super::openai::{MaxTokensField, OPENAI_QUIRKS, OpenAiFamily, Quirks, Thinking};

/// Qwen's quirks.
pub const QWEN_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxTokens,
    developer_role: false,
    replay_reasoning: true,
    thinking: Thinking::Qwen,
    ..OPENAI_QUIRKS
};

/// The `qwen` kind. Base URL `https://dashscope-intl.aliyuncs.com/compatible-mode/v1`.
pub static QWEN: OpenAiFamily = OpenAiFamily {
    quirks: QWEN_QUIRKS,
};
