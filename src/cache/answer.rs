//! Converting one canonical answer between its two shapes, so a streamed answer can
//! serve a non-stream client and the other way round, and sizing it for the memory
//! bound.
//!
//! [`assemble`] folds stream events into the message a `chat.completion` carries;
//! [`disassemble`] splits a complete answer into the events a stream replays. The round
//! trip keeps text, reasoning, tool calls, finish reason, usage and log probabilities
//! (the chunks' `logprobs.content` lists joined into one); a `refusal` has no stream
//! event and is dropped when a complete answer is replayed as a stream.

use std::mem::size_of;

use crate::canonical::{
    ChatResponse, FinishReason, FunctionCall, ResponseMessage, StreamEvent, ToolCall, Usage,
};

/// The message, finish reason and usage the events add up to. `usage` stands in when
/// the events carry none.
pub fn assemble(events: &[StreamEvent], usage: Usage) -> (ResponseMessage, FinishReason, Usage) {
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut calls: Vec<ToolCall> = Vec::new();
    let mut finish = FinishReason::Stop;
    let mut reported = None;
    let mut logprobs: Option<Box<serde_json::Value>> = None;
    for ev in events {
        match ev {
            StreamEvent::Text(t) => text.get_or_insert_with(String::new).push_str(t),
            StreamEvent::Reasoning(t) => reasoning.get_or_insert_with(String::new).push_str(t),
            StreamEvent::ToolCallStart { index, id, name } => {
                let i = *index as usize;
                if calls.len() <= i {
                    calls.resize_with(i + 1, || ToolCall {
                        id: String::new(),
                        kind: "function".to_owned(),
                        function: FunctionCall {
                            name: String::new(),
                            arguments: String::new(),
                        },
                    });
                }
                calls[i].id.clone_from(id);
                calls[i].function.name.clone_from(name);
            }
            StreamEvent::ToolCallArgs { index, arguments } => {
                if let Some(call) = calls.get_mut(*index as usize) {
                    call.function.arguments.push_str(arguments);
                }
            }
            StreamEvent::Finish(r) => finish = *r,
            StreamEvent::Usage(u) => reported = Some(*u),
            StreamEvent::Logprobs(l) => join_logprobs(&mut logprobs, l),
        }
    }
    // OpenAI sends `content: null` for a message that only calls tools.
    let content = match text {
        Some(t) => Some(t),
        None if calls.is_empty() => Some(String::new()),
        None => None,
    };
    let message = ResponseMessage {
        content,
        reasoning_content: reasoning,
        tool_calls: calls,
        refusal: None,
        logprobs,
    };
    (message, finish, reported.unwrap_or(usage))
}

/// Appends one chunk's `logprobs` lists (`content`, `refusal`) to those so far.
fn join_logprobs(into: &mut Option<Box<serde_json::Value>>, chunk: &serde_json::Value) {
    let Some(so_far) = into.as_mut().and_then(|v| v.as_object_mut()) else {
        *into = Some(Box::new(chunk.clone()));
        return;
    };
    for (key, list) in chunk.as_object().into_iter().flatten() {
        match (so_far.get_mut(key), list.as_array()) {
            (Some(serde_json::Value::Array(have)), Some(more)) => have.extend_from_slice(more),
            _ => {
                so_far.insert(key.clone(), list.clone());
            }
        }
    }
}

/// The events a stream of `r` would have carried.
pub fn disassemble(r: &ChatResponse) -> Vec<StreamEvent> {
    let m = &r.message;
    let mut out = Vec::with_capacity(4 + 2 * m.tool_calls.len());
    if let Some(t) = &m.reasoning_content {
        out.push(StreamEvent::Reasoning(t.clone()));
    }
    if let Some(t) = &m.content {
        out.push(StreamEvent::Text(t.clone()));
    }
    for (i, call) in m.tool_calls.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        out.push(StreamEvent::ToolCallStart {
            index,
            id: call.id.clone(),
            name: call.function.name.clone(),
        });
        out.push(StreamEvent::ToolCallArgs {
            index,
            arguments: call.function.arguments.clone(),
        });
    }
    if let Some(l) = &m.logprobs {
        out.push(StreamEvent::Logprobs((**l).clone()));
    }
    out.push(StreamEvent::Finish(r.finish_reason));
    out.push(StreamEvent::Usage(r.usage));
    out
}

/// Bytes `events` hold: each event's inline size plus the text it owns.
pub fn events_bytes(events: &[StreamEvent]) -> usize {
    events
        .iter()
        .map(|ev| {
            size_of::<StreamEvent>()
                + match ev {
                    StreamEvent::Text(t) | StreamEvent::Reasoning(t) => t.len(),
                    StreamEvent::ToolCallStart { id, name, .. } => id.len() + name.len(),
                    StreamEvent::ToolCallArgs { arguments, .. } => arguments.len(),
                    StreamEvent::Logprobs(l) => l.to_string().len(),
                    StreamEvent::Finish(_) | StreamEvent::Usage(_) => 0,
                }
        })
        .sum()
}

/// Bytes a complete answer holds.
pub fn response_bytes(r: &ChatResponse) -> usize {
    let m = &r.message;
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    size_of::<ChatResponse>()
        + r.id.len()
        + r.model.len()
        + opt(&m.content)
        + opt(&m.reasoning_content)
        + opt(&m.refusal)
        + m.tool_calls
            .iter()
            .map(|c| {
                size_of::<ToolCall>()
                    + c.id.len()
                    + c.kind.len()
                    + c.function.name.len()
                    + c.function.arguments.len()
            })
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(message: ResponseMessage, finish_reason: FinishReason) -> ChatResponse {
        ChatResponse {
            id: "chatcmpl-1".into(),
            created: 1,
            model: "m".into(),
            message,
            finish_reason,
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
                ..Usage::default()
            },
        }
    }

    #[test]
    fn text_answer_round_trips() {
        let r = response(
            ResponseMessage {
                content: Some("Hello".into()),
                reasoning_content: Some("think".into()),
                ..ResponseMessage::default()
            },
            FinishReason::Stop,
        );
        let (m, f, u) = assemble(&disassemble(&r), Usage::default());
        assert_eq!((m, f, u), (r.message, r.finish_reason, r.usage));
    }

    #[test]
    fn logprobs_of_chunks_join_and_round_trip() {
        let tok = |t: &str| serde_json::json!({"token": t, "logprob": -0.5, "bytes": null, "top_logprobs": []});
        let events = [
            StreamEvent::Text("Hi".into()),
            StreamEvent::Logprobs(serde_json::json!({"content": [tok("Hi")], "refusal": null})),
            StreamEvent::Text(" there".into()),
            StreamEvent::Logprobs(serde_json::json!({"content": [tok(" there")], "refusal": null})),
            StreamEvent::Finish(FinishReason::Stop),
        ];
        let (m, _, _) = assemble(&events, Usage::default());
        let joined = serde_json::json!({"content": [tok("Hi"), tok(" there")], "refusal": null});
        assert_eq!(m.logprobs.as_deref(), Some(&joined));
        let r = response(m, FinishReason::Stop);
        let (again, _, _) = assemble(&disassemble(&r), Usage::default());
        assert_eq!(again, r.message);
    }

    #[test]
    fn tool_calls_round_trip_with_null_content() {
        let call = |i: u32| ToolCall {
            id: format!("call_{i}"),
            kind: "function".into(),
            function: FunctionCall {
                name: format!("f{i}"),
                arguments: format!("{{\"x\":{i}}}"),
            },
        };
        let r = response(
            ResponseMessage {
                content: None,
                tool_calls: vec![call(0), call(1)],
                ..ResponseMessage::default()
            },
            FinishReason::ToolCalls,
        );
        let (m, f, u) = assemble(&disassemble(&r), Usage::default());
        assert_eq!((m, f, u), (r.message, r.finish_reason, r.usage));
    }

    #[test]
    fn streamed_fragments_assemble_and_fallback_usage_applies() {
        let events = [
            StreamEvent::Text("Hel".into()),
            StreamEvent::Text("lo".into()),
            StreamEvent::Finish(FinishReason::Length),
        ];
        let fallback = Usage {
            completion_tokens: 2,
            estimated: true,
            ..Usage::default()
        };
        let (m, f, u) = assemble(&events, fallback);
        assert_eq!(m.content.as_deref(), Some("Hello"));
        assert_eq!(f, FinishReason::Length);
        assert_eq!(u, fallback);
        assert!(events_bytes(&events) >= 5 + 3 * size_of::<StreamEvent>());
    }
}
