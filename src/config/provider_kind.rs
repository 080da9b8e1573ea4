//! Which wire format a provider speaks: the closed set of provider kinds. Each kind's
//! adapter is handed out by `adapters` (`ProviderKind::adapter`).

use serde::Deserialize;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Gemini,
    Deepseek,
    Qwen,
    Mistral,
    OpenaiCompatible,
}

impl ProviderKind {
    /// Every kind, for listings and tests.
    pub const ALL: [Self; 7] = [
        Self::Openai,
        Self::Anthropic,
        Self::Gemini,
        Self::Deepseek,
        Self::Qwen,
        Self::Mistral,
        Self::OpenaiCompatible,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Deepseek => "deepseek",
            Self::Qwen => "qwen",
            Self::Mistral => "mistral",
            Self::OpenaiCompatible => "openai-compatible",
        }
    }
}
