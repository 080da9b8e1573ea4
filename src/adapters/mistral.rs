//! Mistral La Plateforme: a strict schema (unknown fields are a 422), `random_seed`,
//! `tool_choice: "any"`, tool-call ids of exactly nine alphanumerics, whole tool calls
//! in one stream delta without `index`, content arrays with `thinking` chunks, and its
//! own error body (`{"object":"error","message":…}`), all parsed by the family code.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::openai::{MaxTokensField, OPENAI_QUIRKS, OpenAiFamily, Quirks, SeedField};
use crate::canonical::params::{Accepts, ExtraParams};

/// Mistral's quirks.
pub const MISTRAL_QUIRKS: Quirks = Quirks {
    max_tokens: MaxTokensField::MaxTokens,
    seed_field: SeedField::RandomSeed,
    stream_options: false,
    names: false,
    developer_role: false,
    required_tool_choice: "any",
    tool_call_id: mistral_tool_call_id,
    // A strict schema: only what `ChatCompletionRequest` declares.
    accepts: Accepts {
        logprobs: false,
        logit_bias: false,
        service_tier: false,
        user: false,
        extra: ExtraParams::Only(&["prediction", "prompt_mode", "safe_prompt", "metadata"]),
        ..Accepts::OPENAI
    },
    ..OPENAI_QUIRKS
};

/// The `mistral` kind. Base URL `https://api.mistral.ai/v1`.
pub static MISTRAL: OpenAiFamily = OpenAiFamily {
    quirks: MISTRAL_QUIRKS,
};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Mistral accepts only ids of nine alphanumerics. Its own ids pass unchanged; any
/// other id maps to nine base-62 characters of its SHA-256, so the assistant's call
/// and the tool result that answers it map to the same id without stored state.
pub fn mistral_tool_call_id(id: &str) -> Cow<'_, str> {
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Cow::Borrowed(id);
    }
    let digest = Sha256::digest(id.as_bytes());
    Cow::Owned(
        digest
            .iter()
            .take(9)
            .map(|b| BASE62[usize::from(*b) % 62] as char)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_nine_alphanumerics_deterministically() {
        assert_eq!(mistral_tool_call_id("gSIMJiOkT"), "gSIMJiOkT");
        let a = mistral_tool_call_id("call_0fypS1hVX");
        assert_eq!(a.len(), 9);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a, mistral_tool_call_id("call_0fypS1hVX"));
        assert_ne!(a, mistral_tool_call_id("call_other"));
    }
}
