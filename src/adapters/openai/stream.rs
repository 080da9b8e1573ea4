//! Decodes an OpenAI-family SSE stream (`data: {chunk}` events, `data: [DONE]` at
//! the end) with one tolerant decoder for every family quirk: usage on the finish
//! chunk or a separate one, `: keep-alive` comments, continuation deltas with
//! `"id":""`, whole tool calls without `index`, content as an array of chunks. EOF
//! before a finish reason is a truncated stream (`BadResponse`).

use std::collections::HashMap;

use serde::Deserialize;

use super::{WireContent, WireUsage, error_from_value, finish_reason};
use crate::adapters::StreamDecoder;
use crate::adapters::sse::SseParser;
use crate::canonical::{StreamEvent, ids};
use crate::error::UpstreamError;

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

/// Decodes an OpenAI-family SSE stream. Tolerates every family quirk: usage on the
/// finish chunk or a separate one, `: keep-alive` comments, continuation deltas with
/// `"id":""`, whole tool calls without `index`, and content as an array of chunks.
#[derive(Default)]
pub struct OpenAiStreamDecoder {
    sse: SseParser,
    /// Upstream `index` → our tool-call index.
    calls: HashMap<u32, u32>,
    /// Our index for the next new call.
    next_call: u32,
    /// Our index of the most recent call, for deltas that name none.
    last_call: Option<u32>,
    finished: bool,
    done: bool,
}

impl OpenAiStreamDecoder {
    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: WireChunk = serde_json::from_str(data)
            .map_err(|e| UpstreamError::bad_response(format!("unparseable stream chunk: {e}")))?;
        if let Some(err) = chunk.error {
            return Err(error_from_value(None, &err));
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if let Some(l) = choice.logprobs {
                out.push(StreamEvent::Logprobs(l));
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                out.push(StreamEvent::Finish(finish_reason(reason)?));
                self.finished = true;
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage(usage.into()));
        }
        Ok(())
    }

    fn delta(&mut self, delta: WireDelta, out: &mut Vec<StreamEvent>) {
        if let Some(r) = delta.reasoning_content.filter(|r| !r.is_empty()) {
            out.push(StreamEvent::Reasoning(r));
        }
        if let Some(content) = delta.content {
            let (text, thinking) = content.split();
            if !thinking.is_empty() {
                out.push(StreamEvent::Reasoning(thinking));
            }
            if !text.is_empty() {
                out.push(StreamEvent::Text(text));
            }
        }
        for call in delta.tool_calls.into_iter().flatten() {
            let id = call.id.filter(|id| !id.is_empty());
            let (name, args) = match call.function {
                Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments),
                None => (None, None),
            };
            // A call is new when its index is unseen, or (no index) when it brings a name.
            let known = match call.index {
                Some(i) => self.calls.get(&i).copied(),
                None if name.is_some() => None,
                None => self.last_call,
            };
            let ours = match known {
                Some(ours) => ours,
                None => {
                    let ours = self.next_call;
                    self.next_call += 1;
                    if let Some(i) = call.index {
                        self.calls.insert(i, ours);
                    }
                    out.push(StreamEvent::ToolCallStart {
                        index: ours,
                        id: id.unwrap_or_else(ids::tool_call_id),
                        name: name.unwrap_or_default(),
                    });
                    ours
                }
            };
            self.last_call = Some(ours);
            let args = match args {
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            if !args.is_empty() {
                out.push(StreamEvent::ToolCallArgs {
                    index: ours,
                    arguments: args,
                });
            }
        }
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn decode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.push(bytes);
        while let Some(ev) = self.sse.next_event() {
            if self.done {
                break;
            }
            self.event(&ev.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.close();
        while let Some(ev) = self.sse.next_event() {
            if self.done {
                break;
            }
            self.event(&ev.data, out)?;
        }
        if self.finished {
            Ok(())
        } else {
            Err(UpstreamError::bad_response(
                "stream ended before the model finished",
            ))
        }
    }
}
