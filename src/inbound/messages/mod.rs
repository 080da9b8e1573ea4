//! Anthropic's Messages API at the edge (`POST /v1/messages`, providers.md §3):
//! [`request`] reads the body and translates it into the canonical request,
//! [`validate`] checks it in the client's own field names, [`response`] writes a
//! canonical answer as a `message`, [`stream`] writes canonical stream events as
//! Anthropic's event stream, [`error`] answers failures in Anthropic's error shape.
//!
//! What the canonical (OpenAI-shaped) request cannot carry, and so no provider sees:
//! `cache_control` marks, a `tool_result`'s `is_error`, thinking signatures and
//! redacted thinking, `service_tier`, and a thinking budget's exact size (it becomes
//! the nearest `reasoning_effort`, which each adapter maps to its provider's switch).

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
pub mod validate;

pub use request::MessagesRequest;
pub use stream::MessagesEncoder;

use crate::canonical::ChatRequest;
use crate::canonical::request::parse_json;
use crate::error::GatewayError;

/// Parses and checks a `POST /v1/messages` body (`count_tokens`: `needs_max_tokens`
/// false) and translates it into the canonical request, checked as every request is.
pub fn read(body: &[u8], needs_max_tokens: bool) -> Result<ChatRequest, GatewayError> {
    let req: MessagesRequest = parse_json(body)?;
    validate::check(&req, needs_max_tokens)?;
    let chat = req.into_canonical();
    chat.validate()?;
    Ok(chat)
}
