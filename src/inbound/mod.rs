//! Client APIs other than OpenAI Chat Completions, translated at the edge.
//!
//! Every request, whichever API it arrived in, becomes the one canonical
//! [`crate::canonical::ChatRequest`], so the scheduler, failover, limits, cache and usage
//! records treat them alike; only the first and last step differ. [`Api`] names the
//! client API a request spoke (for the stream encoder, metrics and logs);
//! [`messages`] is Anthropic's Messages API: its request read into canonical form, the
//! answer, its event stream and its errors written back in Anthropic's shape.

pub mod messages;

/// The client API a request arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// `POST /v1/chat/completions`.
    #[default]
    ChatCompletions,
    /// `POST /v1/messages` (Anthropic).
    Messages,
}

impl Api {
    /// The metric label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletions => "openai-chat",
            Self::Messages => "anthropic-messages",
        }
    }
}
