//! Canonical stream events written as Anthropic's Messages event stream (providers.md
//! §3.4), whichever provider answered: `message_start`, then per content block
//! `content_block_start`, its `content_block_delta`s (`text_delta`, `thinking_delta`,
//! `input_json_delta`) and `content_block_stop`, a `ping` after the first block opens
//! as Anthropic sends it, then `message_delta` (stop reason, cumulative usage) and
//! `message_stop`. The second client encoder beside `crate::canonical::ChunkEncoder`;
//! every event is written from borrowed structs straight into the output buffer.

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::response::AnthropicUsage;
use crate::adapters::anthropic::stop_reason;
use crate::canonical::{FinishReason, StreamEvent, Usage, ids};

/// The kind of the content block being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    /// Tool call number `n` (the canonical tool index).
    Tool(u32),
}

/// Writes one client's Messages event stream.
#[derive(Debug)]
pub struct MessagesEncoder {
    id: String,
    model: Box<str>,
    /// The prompt-token estimate `message_start` reports when no usage came yet.
    prompt_estimate: u64,
    started: bool,
    /// The block being written: its index and kind.
    open: Option<(u32, Kind)>,
    next_index: u32,
    /// `(canonical tool index, block index)` of each tool call so far (a handful:
    /// searched, not indexed, so no provider's index can size an allocation).
    tool_blocks: Vec<(u32, u32)>,
    stop: Option<FinishReason>,
    usage: Option<Usage>,
}

impl MessagesEncoder {
    /// Output bytes to reserve per event: one `content_block_delta` with a token or
    /// two of text is ~110 bytes.
    pub const BYTES_PER_EVENT_HINT: usize = 192;

    /// A fresh stream answering as `model`.
    pub fn new(model: &str, prompt_estimate: u64) -> Self {
        Self {
            id: ids::message_id(),
            model: model.into(),
            prompt_estimate,
            started: false,
            open: None,
            next_index: 0,
            tool_blocks: Vec::new(),
            stop: None,
            usage: None,
        }
    }

    /// The message id every event names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The usage reported so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Whether `message_start` has been written.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Writes what `event` adds. Usage is held: `message_start` takes the latest
    /// report (an Anthropic provider's arrives first), `message_delta` the last.
    pub fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        match event {
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Text(t) if !t.is_empty() => {
                self.block(Kind::Text, Start::Text { text: "" }, out);
                self.delta(Delta::Text { text: t }, out);
            }
            StreamEvent::Reasoning(t) if !t.is_empty() => {
                let start = Start::Thinking {
                    thinking: "",
                    signature: "",
                };
                self.block(Kind::Thinking, start, out);
                self.delta(Delta::Thinking { thinking: t }, out);
            }
            StreamEvent::Text(_) | StreamEvent::Reasoning(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close(out);
                self.open(
                    Kind::Tool(*index),
                    Start::ToolUse {
                        id,
                        name,
                        input: Empty {},
                    },
                    out,
                );
            }
            StreamEvent::ToolCallArgs { index, arguments } if !arguments.is_empty() => {
                // Arguments belong to their call's block, also after another block
                // opened (a provider interleaving parallel calls).
                if let Some(&(_, block)) = self.tool_blocks.iter().find(|(t, _)| t == index) {
                    let delta = Delta::InputJson {
                        partial_json: arguments,
                    };
                    write(out, "content_block_delta", &BlockDelta::new(block, delta));
                }
            }
            StreamEvent::ToolCallArgs { .. } | StreamEvent::Logprobs(_) => {}
            StreamEvent::Finish(reason) => {
                self.stop.get_or_insert(*reason);
                self.close(out);
            }
        }
    }

    /// Ends a successful stream: the open block's stop, `message_delta` with the stop
    /// reason and the final usage (`fallback_usage` when the provider reported none),
    /// `message_stop`.
    pub fn finish(&mut self, fallback_usage: Usage, out: &mut BytesMut) {
        self.start(out);
        self.close(out);
        let reason = self.stop.unwrap_or(if self.tool_blocks.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        let usage = self.usage.unwrap_or(fallback_usage);
        write(
            out,
            "message_delta",
            &MessageDelta {
                kind: "message_delta",
                delta: StopDelta {
                    stop_reason: stop_reason(reason),
                    stop_sequence: None,
                },
                usage: AnthropicUsage(usage),
            },
        );
        write(out, "message_stop", &Typed::new("message_stop"));
    }

    /// `message_start`, once, with the prompt's tokens as far as known.
    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let usage = self.usage.unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            ..Usage::default()
        });
        let message = StartMessage {
            id: &self.id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content: [(); 0],
            stop_reason: None,
            stop_sequence: None,
            usage: AnthropicUsage(Usage {
                completion_tokens: 0,
                ..usage
            }),
        };
        write(
            out,
            "message_start",
            &MessageStart {
                kind: "message_start",
                message,
            },
        );
    }

    /// Makes a block of `kind` (text or thinking, which continue across events) the
    /// open one, closing another.
    fn block(&mut self, kind: Kind, start: Start<'_>, out: &mut BytesMut) {
        if self.open.is_some_and(|(_, k)| k == kind) {
            return;
        }
        self.close(out);
        self.open(kind, start, out);
    }

    fn open(&mut self, kind: Kind, block: Start<'_>, out: &mut BytesMut) {
        self.start(out);
        let index = self.next_index;
        self.next_index += 1;
        if let Kind::Tool(n) = kind {
            self.tool_blocks.retain(|(t, _)| *t != n);
            self.tool_blocks.push((n, index));
        }
        self.open = Some((index, kind));
        let start = BlockStart {
            kind: "content_block_start",
            index,
            content_block: block,
        };
        write(out, "content_block_start", &start);
        if index == 0 {
            write(out, "ping", &Typed::new("ping"));
        }
    }

    fn delta(&self, delta: Delta<'_>, out: &mut BytesMut) {
        if let Some((index, _)) = self.open {
            write(out, "content_block_delta", &BlockDelta::new(index, delta));
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        if let Some((index, _)) = self.open.take() {
            let stop = BlockStop {
                kind: "content_block_stop",
                index,
            };
            write(out, "content_block_stop", &stop);
        }
    }
}

/// Writes `event: <name>\ndata: <json>\n\n`.
fn write<T: Serialize>(out: &mut BytesMut, name: &str, data: &T) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serialising our own plain structs into memory cannot fail.
    let _ = serde_json::to_writer(out.writer(), data);
    out.extend_from_slice(b"\n\n");
}

// === event bodies ===

#[derive(Serialize)]
struct Typed {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl Typed {
    fn new(kind: &'static str) -> Self {
        Self { kind }
    }
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    content_block: Start<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Start<'a> {
    Text {
        text: &'static str,
    },
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        /// Always `{}`: the arguments follow as `input_json_delta`s.
        input: Empty,
    },
}

/// Serialises as `{}`.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: Delta<'a>,
}

impl<'a> BlockDelta<'a> {
    fn new(index: u32, delta: Delta<'a>) -> Self {
        Self {
            kind: "content_block_delta",
            index,
            delta,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct BlockStop {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
}

#[derive(Serialize)]
struct MessageDelta {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
}

#[cfg(test)]
mod tests;
