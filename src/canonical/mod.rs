//! The contract: OpenAI-shaped chat types that every adapter translates to and from.
//!
//! `request` is what clients send, `response` and `chunk` are what they receive,
//! `usage` is the normalised token count, `stream` is the provider-neutral stream
//! event and the encoder that turns those events back into OpenAI SSE chunks.

pub mod chunk;
pub mod ids;
pub mod request;
pub mod response;
pub mod stream;
pub mod usage;

pub use request::{
    ChatRequest, Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, Stop, Tool,
    ToolCall, ToolChoice,
};
pub use response::{ChatResponse, Choice, FinishReason, ResponseMessage};
pub use stream::{ChunkEncoder, StreamEvent};
pub use usage::Usage;
