//! Stream decoder tests: whole transcripts from tests/fixtures/anthropic (modelled on
//! providers.md §3.4) are fed in small pieces, decoded, and re-encoded as OpenAI SSE by
//! the real [`ChunkEncoder`], so each test checks what a client would receive.

use bytes::BytesMut;
use serde_json::{Value, json};

use crate::adapters::Adapter;
use crate::adapters::anthropic::ANTHROPIC;
use crate::canonical::{ChunkEncoder, FinishReason, StreamEvent, Usage};
use crate::error::{ErrorClass, UpstreamError};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes a transcript fed in `piece`-byte slices and re-encodes it as OpenAI SSE.
fn replay(name: &str, piece: usize) -> (Result<Vec<StreamEvent>, UpstreamError>, Vec<Value>) {
    let text = fixture(name);
    let mut d = ANTHROPIC.stream_decoder();
    let mut events = Vec::new();
    let mut result = Ok(());
    for chunk in text.as_bytes().chunks(piece) {
        result = d.decode(chunk, &mut events);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = d.finish(&mut events);
    }
    let mut enc = ChunkEncoder::new("claude-sonnet-4-5", true);
    let mut out = BytesMut::new();
    for ev in &events {
        enc.push(ev, &mut out);
    }
    if result.is_ok() {
        enc.finish(Usage::default(), &mut out);
        assert!(out.ends_with(b"data: [DONE]\n\n"));
    }
    let chunks = std::str::from_utf8(&out)
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    (result.map(|()| events), chunks)
}

fn deltas(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|ch| &ch["delta"]))
        .collect()
}

fn arguments(chunks: &[Value], index: u64) -> String {
    deltas(chunks)
        .iter()
        .flat_map(|d| d["tool_calls"].as_array().into_iter().flatten())
        .filter(|t| t["index"] == index)
        .filter_map(|t| t["function"]["arguments"].as_str())
        .collect()
}

#[test]
fn plain_text_stream_with_pings_padding_unknown_events_and_cache_usage() {
    for piece in [1, 5, 64, 4096] {
        let (events, chunks) = replay("stream_text.sse", piece);
        let events = events.unwrap();
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello, world", "piece {piece}");
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
        let finish: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .filter(|c| !c["finish_reason"].is_null())
            .collect();
        assert_eq!(finish.len(), 1);
        assert_eq!(finish[0]["finish_reason"], "stop");
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(usage["prompt_tokens"], 2117);
        assert_eq!(usage["completion_tokens"], 10);
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 2000);
        assert_eq!(usage["prompt_tokens_details"]["cache_write_tokens"], 100);
    }
}

#[test]
fn tool_call_arguments_split_across_many_deltas_reassemble() {
    let (events, chunks) = replay("stream_tool_many_deltas.sse", 3);
    let events = events.unwrap();
    assert_eq!(
        events[0],
        StreamEvent::ToolCallStart {
            index: 0,
            id: "toolu_01A".into(),
            name: "get_weather".into()
        }
    );
    // The empty first fragment and the placeholder `input: {}` produce nothing.
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCallArgs { .. }))
            .count(),
        5
    );
    let args = arguments(&chunks, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris", "unit": "c"})
    );
    let start = &deltas(&chunks)[1]["tool_calls"][0];
    assert_eq!(start["id"], "toolu_01A");
    assert_eq!(start["function"]["name"], "get_weather");
    let usage = &chunks.last().unwrap()["usage"];
    // Cumulative: 118, not 16 + 118.
    assert_eq!(usage["completion_tokens"], 118);
    assert_eq!(usage["prompt_tokens"], 912);
}

#[test]
fn parallel_tool_blocks_after_text_are_renumbered_from_zero() {
    let (events, chunks) = replay("stream_parallel_tools.sse", 11);
    let events = events.unwrap();
    let starts: Vec<(u32, &str)> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, id, .. } => Some((*index, id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![(0, "toolu_01P"), (1, "toolu_01R")]);
    assert_eq!(deltas(&chunks)[1]["content"], "Let me check both.");
    assert_eq!(arguments(&chunks, 0), "{\"city\": \"Paris\"}");
    assert_eq!(arguments(&chunks, 1), "{\"city\": \"Rome\"}");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
}

/// Issue 22: parallel tools without input (`partial_json: ""` only, no delta at all,
/// a delta without `partial_json`) must still carry JSON arguments, `{}`.
#[test]
fn parallel_tool_blocks_without_input_get_empty_object_arguments() {
    for piece in [1, 7, 64, 4096] {
        let (events, chunks) = replay("stream_parallel_tools_no_input.sse", piece);
        // A coalesced non-stream client assembles these same events
        // (`cache::answer::assemble`, tested there): the arguments are the same.
        assert!(events.is_ok(), "piece {piece}: {events:?}");
        assert_eq!(arguments(&chunks, 0), "{}", "piece {piece}");
        assert_eq!(arguments(&chunks, 1), "{}", "piece {piece}");
        assert_eq!(
            arguments(&chunks, 2),
            "{\"city\": \"Oslo\"}",
            "piece {piece}"
        );
    }
}

#[test]
fn tool_block_without_input_or_stop_gets_arguments_with_the_stop_reason() {
    let (events, chunks) = replay("stream_tool_no_input_no_stop.sse", 5);
    let events = events.unwrap();
    assert_eq!(arguments(&chunks, 0), "{}");
    let args = events
        .iter()
        .position(|e| matches!(e, StreamEvent::ToolCallArgs { .. }))
        .unwrap();
    let finish = events
        .iter()
        .position(|e| matches!(e, StreamEvent::Finish(_)))
        .unwrap();
    assert!(args < finish, "{events:?}");
}

#[test]
fn max_tokens_cut_off_keeps_thinking_and_reports_length() {
    let (events, chunks) = replay("stream_max_tokens.sse", 7);
    let events = events.unwrap();
    assert_eq!(events[0], StreamEvent::Reasoning("The user wants".into()));
    assert_eq!(events[1], StreamEvent::Text("Once upon a".into()));
    assert_eq!(events[2], StreamEvent::Finish(FinishReason::Length));
    assert_eq!(deltas(&chunks)[1]["reasoning_content"], "The user wants");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 3);
}

#[test]
fn refusal_with_zero_blocks_finishes_with_content_filter() {
    let (events, chunks) = replay("stream_refusal.sse", 9);
    assert_eq!(
        events.unwrap(),
        vec![
            StreamEvent::Finish(FinishReason::ContentFilter),
            StreamEvent::Usage(Usage {
                prompt_tokens: 25,
                ..Usage::default()
            })
        ]
    );
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "content_filter");
}

#[test]
fn mid_stream_error_event_is_a_retryable_overload() {
    let (result, chunks) = replay("stream_error.sse", 13);
    let e = result.unwrap_err();
    assert_eq!(e.class, ErrorClass::Overloaded);
    assert!(e.is_retryable());
    assert_eq!(e.message, "Overloaded");
    // What was decoded before the error still reached the client.
    assert_eq!(deltas(&chunks)[1]["content"], "Partial");
}

#[test]
fn truncated_stream_is_a_bad_response() {
    let (result, _) = replay("stream_truncated.sse", 4);
    assert_eq!(result.unwrap_err().class, ErrorClass::BadResponse);
}

#[test]
fn mid_stream_error_types_map_without_a_status() {
    for (kind, class) in [
        ("overloaded_error", ErrorClass::Overloaded),
        ("rate_limit_error", ErrorClass::RateLimited),
        ("api_error", ErrorClass::Server),
        ("invalid_request_error", ErrorClass::InvalidRequest),
        ("timeout_error", ErrorClass::Timeout),
    ] {
        let t = format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{kind}\",\"message\":\"m\"}}}}\n\n"
        );
        let mut d = ANTHROPIC.stream_decoder();
        let e = d.decode(t.as_bytes(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.class, class, "{kind}");
    }
}
