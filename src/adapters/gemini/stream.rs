//! Decodes Gemini's `streamGenerateContent?alt=sse` stream (shared/reference/providers.md §4.4).
//!
//! Each SSE event (separated by `\r\n\r\n`) is a whole `GenerateContentResponse`: text
//! parts are deltas, `functionCall` parts arrive whole (one start plus one arguments
//! event each), `usageMetadata` rides on every chunk and only the last one counts, the
//! finish reason is on the last chunk. There is no terminator: the stream ends at EOF,
//! and EOF before a finish reason means the upstream cut it short.

use super::{WireResponse, error, finish_reason};
use crate::adapters::StreamDecoder;
use crate::adapters::sse::SseParser;
use crate::canonical::{FinishReason, StreamEvent, Usage};
use crate::error::UpstreamError;

/// Stream state: the SSE buffer, calls seen so far, the latest usage.
#[derive(Default)]
pub struct GeminiStreamDecoder {
    sse: SseParser,
    /// Tool calls emitted so far; the next call's index.
    calls: u32,
    finished: bool,
    /// The last `usageMetadata`, emitted once the stream ends.
    usage: Option<Usage>,
}

impl GeminiStreamDecoder {
    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let chunk: WireResponse = serde_json::from_str(data)
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

impl StreamDecoder for GeminiStreamDecoder {
    fn decode(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.push(bytes);
        while let Some(ev) = self.sse.next_event() {
            self.event(&ev.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), UpstreamError> {
        self.sse.close();
        while let Some(ev) = self.sse.next_event() {
            self.event(&ev.data, out)?;
        }
        if !self.finished {
            return Err(UpstreamError::bad_response(
                "stream ended before the model finished",
            ));
        }
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        Ok(())
    }
}
