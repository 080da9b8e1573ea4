//! Decodes Gemini's `streamGenerateContent` stream (shared/reference/providers.md §4.4).
//!
//! Two framings carry the same chunks: SSE with `alt=sse` (events separated by
//! `\r\n\r\n`), and without it one JSON array of chunks (`content-type:
//! application/json`). The first byte that is not whitespace tells them apart: `[`
//! opens an array (read by [`JsonArray`]), anything else is SSE.
//!
//! Each chunk is a whole `GenerateContentResponse`: text parts are deltas,
//! `functionCall` parts arrive whole (one start plus one arguments event each),
//! `usageMetadata` rides on every chunk and only the last one counts, the finish
//! reason is on the last chunk. There is no terminator: the stream ends at EOF, and
//! EOF before a finish reason means the upstream cut it short.

use super::array::JsonArray;
use super::{WireResponse, error, finish_reason};
use crate::adapters::StreamDecoder;
use crate::adapters::sse::SseParser;
use crate::canonical::{FinishReason, StreamEvent, Usage};
use crate::error::UpstreamError;

/// Stream state: the framing's buffer, calls seen so far, the latest usage.
#[derive(Default)]
pub struct GeminiStreamDecoder {
    framing: Framing,
    chunks: Chunks,
}

/// How the body frames its chunks; known from its first byte that is not whitespace.
#[derive(Default)]
enum Framing {
    /// Nothing but whitespace so far (dropped: it carries nothing in either framing).
    #[default]
    Unknown,
    Sse(SseParser),
    Array(JsonArray),
}

/// What the chunks so far said.
#[derive(Default)]
struct Chunks {
    /// Tool calls emitted so far; the next call's index.
    calls: u32,
    finished: bool,
    /// The last `usageMetadata`, emitted once the stream ends.
    usage: Option<Usage>,
}

impl Chunks {
    fn chunk(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        if data.trim_ascii().is_empty() {
            return Ok(());
        }
        let chunk: WireResponse = serde_json::from_slice(data)
            .map_err(|e| UpstreamError::bad_response(format!("unparseable stream chunk: {e}")))?;
        if let Some(err) = &chunk.error {
            return Err(error::error_from_value(None, err));
        }
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(u.into());
        }
        if self.finished {
            return Ok(()); // only usage may still change after the finish
        }
        if chunk.prompt_blocked() {
            self.finished = true;
            out.push(StreamEvent::Finish(FinishReason::ContentFilter));
            return Ok(());
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            return Ok(());
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                let call = call.into_tool_call(part.thought_signature.as_deref());
                let index = self.calls;
                self.calls += 1;
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: call.id,
                    name: call.function.name,
                });
                out.push(StreamEvent::ToolCallArgs {
                    index,
                    arguments: call.function.arguments,
                });
            } else if let Some(t) = part.text.filter(|t| !t.is_empty()) {
                out.push(if part.thought {
                    StreamEvent::Reasoning(t)
                } else {
                    StreamEvent::Text(t)
                });
            }
        }
        if let Some(reason) = candidate.finish_reason.as_deref() {
            out.push(StreamEvent::Finish(finish_reason(reason, self.calls > 0)?));
            self.finished = true;
        }
        Ok(())
    }
}

impl GeminiStreamDecoder {
    /// Hands every complete chunk buffered so far to [`Chunks::chunk`].
    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        match &mut self.framing {
            Framing::Unknown => {}
            Framing::Sse(sse) => {
                while let Some(ev) = sse.next_event() {
                    self.chunks.chunk(ev.data.as_bytes(), out)?;
                }
            }
            Framing::Array(array) => {
                while let Some(element) = array.next_element()? {
                    self.chunks.chunk(&element, out)?;
                }
            }
        }
        Ok(())
    }
}

impl StreamDecoder for GeminiStreamDecoder {
    fn decode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        match &mut self.framing {
            Framing::Unknown => {
                let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
                    return Ok(());
                };
                let bytes = &bytes[start..];
                self.framing = if bytes[0] == b'[' {
                    let mut array = JsonArray::default();
                    array.push(bytes);
                    Framing::Array(array)
                } else {
                    let mut sse = SseParser::new();
                    sse.push(bytes);
                    Framing::Sse(sse)
                };
            }
            Framing::Sse(sse) => sse.push(bytes),
            Framing::Array(array) => array.push(bytes),
        }
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        if let Framing::Sse(sse) = &mut self.framing {
            sse.close();
        }
        self.drain(out)?;
        // An array cut off after the last chunk (no `]`) is accepted like SSE's EOF.
        if !self.chunks.finished {
            return Err(UpstreamError::bad_response(
                "stream ended before the model finished",
            ));
        }
        if let Some(u) = self.chunks.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        Ok(())
    }
}
