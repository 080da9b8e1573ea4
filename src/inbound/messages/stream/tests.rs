//! The encoder's event sequence for text, thinking and tool calls, and the stop
//! reason and usage it ends with.

use super::*;

/// `(event name, data)` of every event written.
fn events(out: &BytesMut) -> Vec<(String, serde_json::Value)> {
    std::str::from_utf8(out)
        .unwrap()
        .split_terminator("\n\n")
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            let data = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            (name, data)
        })
        .collect()
}

fn names(out: &BytesMut) -> Vec<String> {
    events(out).into_iter().map(|(n, _)| n).collect()
}

#[test]
fn thinking_then_text_are_two_blocks_and_usage_waits_for_the_end() {
    let mut enc = MessagesEncoder::new("m", 7);
    let mut out = BytesMut::new();
    for ev in [
        StreamEvent::Reasoning("hm".into()),
        StreamEvent::Text("Hi".into()),
        StreamEvent::Finish(FinishReason::Length),
        StreamEvent::Usage(Usage {
            prompt_tokens: 9,
            completion_tokens: 3,
            ..Usage::default()
        }),
    ] {
        enc.push(&ev, &mut out);
    }
    enc.finish(Usage::default(), &mut out);
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let ev = events(&out);
    assert_eq!(ev[0].1["message"]["usage"]["input_tokens"], 7);
    assert_eq!(ev[1].1["content_block"]["type"], "thinking");
    assert_eq!(ev[3].1["delta"]["thinking"], "hm");
    assert_eq!(ev[5].1["index"], 1);
    assert_eq!(ev[8].1["delta"]["stop_reason"], "max_tokens");
    assert_eq!(ev[8].1["usage"]["input_tokens"], 9);
    assert_eq!(ev[8].1["usage"]["output_tokens"], 3);
}

#[test]
fn interleaved_tool_arguments_go_to_their_own_block() {
    let mut enc = MessagesEncoder::new("m", 0);
    let mut out = BytesMut::new();
    let start = |index: u32, id: &str| StreamEvent::ToolCallStart {
        index,
        id: id.into(),
        name: "f".into(),
    };
    let args = |index: u32, a: &str| StreamEvent::ToolCallArgs {
        index,
        arguments: a.into(),
    };
    for ev in [start(0, "a"), start(1, "b"), args(0, "{}"), args(1, "{}")] {
        enc.push(&ev, &mut out);
    }
    enc.finish(Usage::default(), &mut out);
    let ev = events(&out);
    let deltas: Vec<_> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(deltas, [0, 1]);
    let last = &ev[ev.len() - 2].1;
    assert_eq!(last["delta"]["stop_reason"], "tool_use");
}

#[test]
fn an_empty_answer_still_starts_and_stops_the_message() {
    let mut enc = MessagesEncoder::new("m", 1);
    let mut out = BytesMut::new();
    enc.finish(Usage::default(), &mut out);
    assert_eq!(
        names(&out),
        ["message_start", "message_delta", "message_stop"]
    );
}
