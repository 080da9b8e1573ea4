//! Renders the simulated model's answer as the Messages API does (shared/reference/
//! providers.md §3.3, §3.4): ids `msg_…`/`toolu_…` from the answer's seed, usage with
//! cache fields, a refusal with `stop_details` and no blocks; a stream of
//! `message_start`, per block `content_block_start`/`ping`/deltas/`content_block_stop`,
//! `message_delta` with cumulative usage and a whitespace-padded `message_stop`.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::mock::batch;
use crate::mock::brain::{self, Answer, Finish};

pub(super) struct Render<'a> {
    pub(super) model: &'a str,
    pub(super) a: &'a Answer,
    pub(super) per_event: usize,
}

impl Render<'_> {
    fn id(&self) -> String {
        format!("msg_01{}", brain::stable_id(self.a.seed, 0, 22))
    }

    fn tool_id(&self, i: usize) -> String {
        format!(
            "toolu_01{}",
            brain::stable_id(self.a.seed, i as u64 + 1, 22)
        )
    }

    fn stop_reason(&self) -> &'static str {
        match self.a.finish {
            Finish::Stop => "end_turn",
            Finish::Length => "max_tokens",
            Finish::ToolCalls => "tool_use",
            Finish::Blocked => "refusal",
        }
    }

    fn stop_details(&self) -> Value {
        match self.a.finish {
            Finish::Blocked => json!({"type": "refusal", "category": null, "explanation": null}),
            _ => Value::Null,
        }
    }

    fn usage(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.a.prompt_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens, "service_tier": "standard"
        })
    }

    fn signature(&self) -> String {
        format!("Eq{}", brain::stable_id(self.a.seed, 99, 40))
    }

    /// The non-stream `message` (§3.3).
    pub(super) fn message(&self) -> Value {
        let mut content = Vec::new();
        if !self.a.reasoning.is_empty() {
            content.push(json!({"type": "thinking", "thinking": self.a.reasoning.concat(), "signature": self.signature()}));
        }
        if !self.a.tokens.is_empty() {
            content.push(json!({"type": "text", "text": self.a.text()}));
        }
        for (i, c) in self.a.calls.iter().enumerate() {
            content.push(json!({"type": "tool_use", "id": self.tool_id(i), "name": c.name, "input": c.arguments}));
        }
        let mut m = json!({
            "id": self.id(), "type": "message", "role": "assistant", "model": self.model,
            "content": content, "stop_reason": self.stop_reason(), "stop_sequence": null,
            "usage": self.usage(self.a.completion_tokens),
        });
        if self.a.finish == Finish::Blocked {
            m["stop_details"] = self.stop_details();
        }
        m
    }

    /// The §3.4 event sequence, one `Bytes` per SSE event.
    pub(super) fn stream(&self) -> Vec<Bytes> {
        let mut blocks = Blocks {
            out: vec![self.message_start()],
            index: 0,
        };
        if !self.a.reasoning.is_empty() {
            let mut deltas: Vec<Value> = batch(&self.a.reasoning, self.per_event)
                .into_iter()
                .map(|t| json!({"type": "thinking_delta", "thinking": t}))
                .collect();
            deltas.push(json!({"type": "signature_delta", "signature": self.signature()}));
            blocks.push(
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                deltas,
            );
        }
        if !self.a.tokens.is_empty() {
            let deltas = batch(&self.a.tokens, self.per_event)
                .into_iter()
                .map(|t| json!({"type": "text_delta", "text": t}))
                .collect();
            blocks.push(json!({"type": "text", "text": ""}), deltas);
        }
        for (i, c) in self.a.calls.iter().enumerate() {
            let deltas = fragments(&c.arguments.to_string())
                .into_iter()
                .map(|f| json!({"type": "input_json_delta", "partial_json": f}))
                .collect();
            blocks.push(
                json!({"type": "tool_use", "id": self.tool_id(i), "name": c.name, "input": {}}),
                deltas,
            );
        }
        let mut out = blocks.out;
        out.push(self.message_delta());
        out.push(Bytes::from_static(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"     }\n\n",
        ));
        out
    }

    /// `message_start`: the message without content, stop reason or final usage.
    fn message_start(&self) -> Bytes {
        let mut start = self.message();
        start["content"] = json!([]);
        start["stop_reason"] = Value::Null;
        start["usage"] = self.usage(1);
        if let Some(m) = start.as_object_mut() {
            m.remove("stop_details");
        }
        event(
            "message_start",
            &json!({"type": "message_start", "message": start}),
        )
    }

    /// `message_delta`: the stop reason and the cumulative usage.
    fn message_delta(&self) -> Bytes {
        let mut delta = json!({"stop_reason": self.stop_reason(), "stop_sequence": null});
        if self.a.finish == Finish::Blocked {
            delta["stop_details"] = self.stop_details();
        }
        let mut usage = self.usage(self.a.completion_tokens);
        if let Some(u) = usage.as_object_mut() {
            u.remove("cache_creation");
            u.remove("service_tier");
        }
        event(
            "message_delta",
            &json!({"type": "message_delta", "delta": delta, "usage": usage}),
        )
    }
}

/// The content-block events of a stream, numbering the blocks as they come.
struct Blocks {
    out: Vec<Bytes>,
    index: usize,
}

impl Blocks {
    /// One block: its start, a ping after the first block opens, its deltas, its stop.
    fn push(&mut self, start: Value, deltas: Vec<Value>) {
        let index = self.index;
        self.out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        if index == 0 {
            // The real API pings once, right after the first block opens.
            self.out.push(Bytes::from_static(
                b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
            ));
        }
        for d in deltas {
            self.out.push(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": d}),
            ));
        }
        self.out.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        self.index += 1;
    }
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Tool input JSON as the real API streams it: an empty first fragment, then pieces of
/// a few characters (split on char boundaries).
fn fragments(json: &str) -> Vec<String> {
    const PIECE_CHARS: usize = 6;
    let chars: Vec<char> = json.chars().collect();
    let mut out = vec![String::new()];
    out.extend(chars.chunks(PIECE_CHARS).map(|c| c.iter().collect()));
    out
}
