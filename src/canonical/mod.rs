//! The contract: OpenAI-shaped chat types that every adapter translates to and from.
//!
//! `request` is what clients send and its parsing (`nesting` bounds how deep the body
//! may nest before it is parsed, `validate` checks what serde cannot), `response` and
//! `chunk` are what they receive, `usage` is the normalised token count, `stream` is
//! the provider-neutral stream event and the encoder that turns those events back into
//! OpenAI SSE chunks, `params` which optional parameters each provider takes and which
//! ones a request would lose.

pub mod chunk;
pub mod ids;
mod nesting;
pub mod params;
pub mod request;
pub mod response;
pub mod stream;
pub mod usage;
mod validate;

pub use request::{
    ChatRequest, Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, Stop, Tool,
    ToolCall, ToolChoice,
};
pub use response::{ChatResponse, Choice, FinishReason, ResponseMessage};
pub use stream::{ChunkEncoder, StreamEvent};
pub use usage::Usage;
