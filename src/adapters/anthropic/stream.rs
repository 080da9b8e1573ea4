//! The Anthropic stream decoder: a small state machine over the shared SSE reader.
//!
//! Event order (providers.md §3.4): `message_start` (input usage), then per content
//! block `content_block_start` / `content_block_delta`… / `content_block_stop`, then
//! `message_delta` (stop reason, cumulative usage) and `message_stop`; `ping` and
//! unknown events anywhere. Block indexes count text, thinking and tool blocks together,
//! so tool blocks are renumbered from 0 for OpenAI's `tool_calls[].index`.
//!
//! A tool block whose input stays empty (only `partial_json: ""` deltas, or none at all)
//! is a call without arguments: it gets `{}` when the block stops (or, should the stop
//! be missing, with the stop reason), since OpenAI clients parse `arguments` as JSON.
//!
//! Usage is reported with each `message_delta`: `message_start`'s numbers overwritten
//! field by field (the values are cumulative, never added). An `error` event is an
//! [`UpstreamError`] of its type's class; EOF before a stop reason is a truncated
//! stream (`BadResponse`), while EOF after one but before `message_stop` is accepted,
//! as providers.md §1 rule 6 asks.

use serde::Deserialize;

use super::{WireError, WireUsage, finish_reason};
use crate::adapters::StreamDecoder;
use crate::adapters::sse::SseParser;
use crate::canonical::StreamEvent;
use crate::error::UpstreamError;

/// Decodes one Anthropic `text/event-stream` body into canonical events.
#[derive(Debug, Default)]
pub struct AnthropicStreamDecoder {
    sse: SseParser,
    /// Each tool block seen, in order; a handful at most.
    tools: Vec<ToolBlock>,
    /// Usage so far: `message_start`'s, overwritten field by field by `message_delta`.
    usage: WireUsage,
    /// A `message_delta` carried the stop reason.
    finished: bool,
    /// `message_stop` arrived; anything after it is ignored.
    stopped: bool,
}

/// A `tool_use` content block of the stream.
#[derive(Debug)]
struct ToolBlock {
    /// Anthropic's content block index.
    block: u32,
    /// Our tool-call index (OpenAI's `tool_calls[].index`).
    call: u32,
    /// Some argument bytes were emitted, or `{}` was.
    has_args: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: WireStartBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {
        error: WireError,
    },
    /// `ping` and event types added after this was written.
    #[serde(other)]
    Ignored,
}

#[derive(Deserialize)]
struct WireStartMessage {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireStartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    /// Its `input: {}` is a placeholder; the arguments arrive as `input_json_delta`s.
    ToolUse { id: String, name: String },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    /// Recorded without `partial_json` at all for a tool's first delta.
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    /// `signature_delta`, `citations_delta` and newer kinds.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

impl AnthropicStreamDecoder {
    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        let event: WireEvent = serde_json::from_str(data)
            .map_err(|e| UpstreamError::bad_response(format!("unparseable stream event: {e}")))?;
        match event {
            WireEvent::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.usage.merge(u);
                }
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                WireStartBlock::Text { text } if !text.is_empty() => {
                    out.push(StreamEvent::Text(text));
                }
                WireStartBlock::Thinking { thinking } if !thinking.is_empty() => {
                    out.push(StreamEvent::Reasoning(thinking));
                }
                WireStartBlock::ToolUse { id, name } => {
                    let ours = self.tools.len() as u32;
                    self.tools.push(ToolBlock {
                        block: index,
                        call: ours,
                        has_args: false,
                    });
                    out.push(StreamEvent::ToolCallStart {
                        index: ours,
                        id,
                        name,
                    });
                }
                _ => {}
            },
            WireEvent::ContentBlockDelta { index, delta } => match delta {
                WireDelta::TextDelta { text } if !text.is_empty() => {
                    out.push(StreamEvent::Text(text));
                }
                WireDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                    out.push(StreamEvent::Reasoning(thinking));
                }
                WireDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    // A delta for a block that never started cannot be placed: drop it.
                    if let Some(tool) = self.tools.iter_mut().find(|t| t.block == index) {
                        tool.has_args = true;
                        out.push(StreamEvent::ToolCallArgs {
                            index: tool.call,
                            arguments: partial_json,
                        });
                    }
                }
                _ => {}
            },
            WireEvent::ContentBlockStop { index } => {
                if let Some(tool) = self.tools.iter_mut().find(|t| t.block == index) {
                    tool.no_arguments(out);
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.usage.merge(u);
                }
                if let Some(reason) = delta.stop_reason.as_deref() {
                    for tool in &mut self.tools {
                        tool.no_arguments(out);
                    }
                    out.push(StreamEvent::Finish(finish_reason(reason)));
                    self.finished = true;
                }
                out.push(StreamEvent::Usage(self.usage.into()));
            }
            WireEvent::MessageStop => self.stopped = true,
            WireEvent::Error { error } => return Err(error.into_upstream(None)),
            WireEvent::Ignored => {}
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        while let Some(ev) = self.sse.next_event() {
            if self.stopped {
                break;
            }
            if ev.data.trim().is_empty() {
                continue; // an `event:` line without data says nothing
            }
            self.event(&ev.data, out)?;
        }
        Ok(())
    }
}

impl ToolBlock {
    /// The block ended: a call that got no argument bytes gets `{}`.
    fn no_arguments(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.has_args {
            self.has_args = true;
            out.push(StreamEvent::ToolCallArgs {
                index: self.call,
                arguments: "{}".to_owned(),
            });
        }
    }
}

impl StreamDecoder for AnthropicStreamDecoder {
    fn decode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.push(bytes);
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.close();
        self.drain(out)?;
        if self.finished {
            Ok(())
        } else {
            Err(UpstreamError::bad_response(
                "stream ended before the model finished",
            ))
        }
    }
}

#[cfg(test)]
mod tests;
