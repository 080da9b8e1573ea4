//! Gemini stream transcripts (modelled on shared/reference/providers.md §4.4): provider
//! SSE in, fed in pieces that split `\r\n\r\n` every possible way, OpenAI SSE out.

use bytes::BytesMut;
use serde_json::Value;

use super::super::{GEMINI, call_id};
use crate::adapters::Adapter;
use crate::canonical::{ChunkEncoder, FinishReason, StreamEvent, Usage};
use crate::error::{ErrorClass, UpstreamError};

/// Joins events the way Gemini frames them.
fn sse(events: &[&str]) -> String {
    events
        .iter()
        .map(|e| format!("data: {e}\r\n\r\n"))
        .collect()
}

/// Decodes a transcript fed `piece` bytes at a time.
fn decode(transcript: &str, piece: usize) -> Result<Vec<StreamEvent>, UpstreamError> {
    let mut d = GEMINI.stream_decoder();
    let mut out = Vec::new();
    for p in transcript.as_bytes().chunks(piece) {
        d.decode(p, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

/// Tool-call ids are random: keep only the signature they carry.
fn normalized(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events
        .into_iter()
        .map(|e| match e {
            StreamEvent::ToolCallStart { index, id, name } => StreamEvent::ToolCallStart {
                index,
                id: call_id::signature(&id).unwrap_or_else(|| "-".into()),
                name,
            },
            other => other,
        })
        .collect()
}

/// Decodes with every piece size from 1 to 9 bytes (so each `\r\n\r\n` is split at
/// every offset) and whole; all must agree.
fn decode_all(transcript: &str) -> Result<Vec<StreamEvent>, UpstreamError> {
    let whole = decode(transcript, transcript.len().max(1)).map(normalized);
    for piece in 1..10 {
        let split = decode(transcript, piece).map(normalized);
        match (&whole, &split) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "piece {piece}"),
            (Err(a), Err(b)) => assert_eq!(a.class, b.class, "piece {piece}"),
            _ => panic!("piece {piece} disagrees with the whole transcript"),
        }
    }
    whole
}

/// The OpenAI SSE chunks the gateway would send for a transcript.
fn openai_chunks(transcript: &str) -> Vec<Value> {
    let events = decode(transcript, 5).unwrap();
    let mut enc = ChunkEncoder::new("gemini-2.5-flash", true);
    let mut out = BytesMut::new();
    for e in &events {
        enc.push(e, &mut out);
    }
    enc.finish(Usage::default(), &mut out);
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
    chunks
}

const TEXT_1: &str = r#"{"candidates": [{"content": {"parts": [{"text": "The capital of Mexico"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 55,"candidatesTokenCount": 4,"totalTokenCount": 59},"modelVersion": "gemini-3-pro-preview","responseId": "S1V8"}"#;
const TEXT_2: &str = r#"{"candidates": [{"content": {"parts": [{"text": " is Mexico City."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 55,"candidatesTokenCount": 8,"totalTokenCount": 63},"modelVersion": "gemini-3-pro-preview","responseId": "S1V8"}"#;
const TEXT_END: &str = r#"{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 165,"candidatesTokenCount": 8,"totalTokenCount": 173},"modelVersion": "gemini-3-pro-preview","responseId": "S1V8"}"#;

#[test]
fn plain_text_keeps_the_last_usage() {
    let t = sse(&[TEXT_1, TEXT_2, TEXT_END]);
    let usage = Usage {
        prompt_tokens: 165,
        completion_tokens: 8,
        ..Usage::default()
    };
    assert_eq!(
        decode_all(&t).unwrap(),
        vec![
            StreamEvent::Text("The capital of Mexico".into()),
            StreamEvent::Text(" is Mexico City.".into()),
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Usage(usage),
        ]
    );
    let c = openai_chunks(&t);
    assert_eq!(c.len(), 5);
    assert_eq!(
        c[1]["choices"][0]["delta"]["content"],
        "The capital of Mexico"
    );
    assert_eq!(c[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(c[4]["choices"], Value::Array(vec![]));
    assert_eq!(c[4]["usage"]["prompt_tokens"], 165);
    assert_eq!(c[4]["usage"]["total_tokens"], 173);
}

#[test]
fn thought_parts_stream_as_reasoning() {
    let thought = r#"{"candidates": [{"content": {"parts": [{"text": "Hmm, capitals.","thought": true}],"role": "model"},"index": 0}]}"#;
    let ev = decode_all(&sse(&[thought, TEXT_1, TEXT_END])).unwrap();
    assert_eq!(ev[0], StreamEvent::Reasoning("Hmm, capitals.".into()));
    assert_eq!(ev[1], StreamEvent::Text("The capital of Mexico".into()));
}

#[test]
fn a_tool_call_arrives_whole_and_finishes_as_tool_calls() {
    let t = sse(&[
        r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_country","args": {}},"thoughtSignature": "Et8E+a/b=="}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 29,"candidatesTokenCount": 10,"totalTokenCount": 149,"thoughtsTokenCount": 110}}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 29,"candidatesTokenCount": 10,"totalTokenCount": 149,"thoughtsTokenCount": 110}}"#,
    ]);
    assert_eq!(
        decode_all(&t).unwrap(),
        vec![
            StreamEvent::ToolCallStart {
                index: 0,
                id: "Et8E+a/b==".into(),
                name: "get_country".into()
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                arguments: "{}".into()
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                prompt_tokens: 29,
                completion_tokens: 120,
                reasoning_tokens: 110,
                ..Usage::default()
            }),
        ]
    );
    let c = openai_chunks(&t);
    let start = &c[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(start["function"]["name"], "get_country");
    let id = start["id"].as_str().unwrap();
    assert_eq!(call_id::signature(id).as_deref(), Some("Et8E+a/b=="));
    assert_eq!(
        c[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
    assert_eq!(c[3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        c[4]["usage"]["completion_tokens_details"]["reasoning_tokens"],
        110
    );
}

#[test]
fn two_parallel_calls_get_their_own_indexes() {
    let t = sse(&[
        r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": "c2ln"},{"functionCall": {"name": "get_weather","args": {"city": "Rome"}}}],"role": "model"},"index": 0}]}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}]}"#,
    ]);
    let ev = decode_all(&t).unwrap();
    assert_eq!(ev.len(), 5, "no usage reported, none invented: {ev:?}");
    assert_eq!(
        ev[2],
        StreamEvent::ToolCallStart {
            index: 1,
            id: "-".into(),
            name: "get_weather".into()
        }
    );
    assert_eq!(
        ev[3],
        StreamEvent::ToolCallArgs {
            index: 1,
            arguments: r#"{"city": "Rome"}"#.into()
        }
    );
    let c = openai_chunks(&t);
    let ids: Vec<&str> = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(c[5]["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn max_tokens_cuts_with_length() {
    let end = r#"{"candidates": [{"content": {"parts": [{"text": " is"}],"role": "model"},"finishReason": "MAX_TOKENS","index": 0}],"usageMetadata": {"promptTokenCount": 55,"candidatesTokenCount": 5,"totalTokenCount": 60}}"#;
    let ev = decode_all(&sse(&[TEXT_1, end])).unwrap();
    assert_eq!(ev[1], StreamEvent::Text(" is".into()));
    assert_eq!(ev[2], StreamEvent::Finish(FinishReason::Length));
    let c = openai_chunks(&sse(&[TEXT_1, end]));
    assert_eq!(c[3]["choices"][0]["finish_reason"], "length");
}

#[test]
fn safety_finish_and_prompt_block_are_content_filter() {
    let safety = r#"{"candidates": [{"finishReason": "SAFETY","index": 0,"safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT","probability": "HIGH","blocked": true}]}],"usageMetadata": {"promptTokenCount": 55,"candidatesTokenCount": 4,"totalTokenCount": 59}}"#;
    let ev = decode_all(&sse(&[TEXT_1, safety])).unwrap();
    assert_eq!(ev[1], StreamEvent::Finish(FinishReason::ContentFilter));
    let block = r#"{"promptFeedback": {"blockReason": "SAFETY","safetyRatings": []},"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "b1"}"#;
    let ev = decode_all(&sse(&[block])).unwrap();
    assert_eq!(
        ev,
        vec![
            StreamEvent::Finish(FinishReason::ContentFilter),
            StreamEvent::Usage(Usage {
                prompt_tokens: 9,
                ..Usage::default()
            })
        ]
    );
    let c = openai_chunks(&sse(&[block]));
    assert_eq!(c.len(), 3);
    assert_eq!(c[1]["choices"][0]["finish_reason"], "content_filter");
}

#[test]
fn a_mid_stream_error_event_is_an_upstream_error() {
    let error = r#"{"error": {"code": 503,"message": "The model is overloaded. Please try again later.","status": "UNAVAILABLE"}}"#;
    let e = decode_all(&sse(&[TEXT_1, error])).unwrap_err();
    assert_eq!(e.class, ErrorClass::Overloaded);
    assert!(e.is_retryable());
    assert!(e.message.contains("overloaded"));
    let quota = r#"{"error": {"code": 429,"message": "Quota exceeded.","status": "RESOURCE_EXHAUSTED","details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo","retryDelay": "2s"}]}}"#;
    let e = decode_all(&sse(&[quota])).unwrap_err();
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(2)));
}

#[test]
fn a_truncated_stream_is_a_bad_response() {
    // Cut after a whole chunk, and cut inside a chunk's JSON.
    let e = decode_all(&sse(&[TEXT_1, TEXT_2])).unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    let cut = sse(&[TEXT_1, TEXT_END]);
    let e = decode_all(&cut[..cut.len() - 40]).unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    let e = decode_all(&sse(&[
        TEXT_1,
        r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "f","args": {}}}],"role": "model"},"finishReason": "MALFORMED_FUNCTION_CALL","index": 0}]}"#,
    ]))
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
}

/// `tests/fixtures/gemini/{name}`.
fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Tool arguments pass through as the provider spaced them: compare them compacted.
fn compact(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events
        .into_iter()
        .map(|e| match e {
            StreamEvent::ToolCallArgs { index, arguments } => StreamEvent::ToolCallArgs {
                index,
                arguments: serde_json::from_str::<Value>(&arguments)
                    .unwrap()
                    .to_string(),
            },
            other => other,
        })
        .collect()
}

/// Issue 22: `streamGenerateContent` without `alt=sse` answers one JSON array of
/// chunks; it decodes to the same events as the SSE form of those chunks, however the
/// bytes are cut (braces and quotes inside strings included).
#[test]
fn the_json_array_form_decodes_like_sse() {
    let array = fixture("stream_array.json");
    let chunks: Vec<Value> = serde_json::from_str(&array).unwrap();
    let as_sse: Vec<String> = chunks.iter().map(Value::to_string).collect();
    let as_sse = sse(&as_sse.iter().map(String::as_str).collect::<Vec<_>>());
    let expected = compact(decode_all(&as_sse).unwrap());
    assert_eq!(compact(decode_all(&array).unwrap()), expected);
    assert_eq!(
        compact(decode_all(&format!(" \r\n{array}\r\n")).unwrap()),
        expected
    );
    assert_eq!(
        expected[0],
        StreamEvent::Text("Here is a brace } and a quote \" in text, then".into())
    );
    let args = expected.iter().find_map(|e| match e {
        StreamEvent::ToolCallArgs { arguments, .. } => Some(arguments.as_str()),
        _ => None,
    });
    assert_eq!(
        serde_json::from_str::<Value>(args.unwrap()).unwrap(),
        serde_json::json!({"city": "Zürich", "units": ["c", "{f}"]})
    );
    assert!(expected.contains(&StreamEvent::Finish(FinishReason::ToolCalls)));
    let c = openai_chunks(&array);
    assert_eq!(c.last().unwrap()["usage"]["completion_tokens"], 24);
}

#[test]
fn the_json_array_form_errors_and_truncation_are_classified() {
    // An error element (the array form of a mid-stream error).
    let error = r#"[{"error": {"code": 503,"message": "The model is overloaded.","status": "UNAVAILABLE"}}]"#;
    let e = decode_all(&format!("[{TEXT_1},\n{}", &error[1..])).unwrap_err();
    assert_eq!(e.class, ErrorClass::Overloaded);
    // Cut inside an element, or after whole elements but before the finish.
    let array = format!("[{TEXT_1}\n,\r\n{TEXT_END}\n]");
    let e = decode_all(&array[..array.len() - 40]).unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    let e = decode_all(&format!("[{TEXT_1}\n,\r\n{TEXT_2}")).unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    // Finished, then cut before the closing `]`: accepted, like SSE's EOF.
    let ev = decode_all(&format!("[{TEXT_1}\n,\r\n{TEXT_END}\n")).unwrap();
    assert!(ev.contains(&StreamEvent::Finish(FinishReason::Stop)));
    // Not an array of objects.
    let e = decode_all("[1, 2]").unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
}
