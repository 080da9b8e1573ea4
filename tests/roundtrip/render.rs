//! A generated answer as each provider reports it: the non-streamed response JSON and
//! the SSE stream, following the reference shapes in shared/reference/providers.md
//! (§2.3–2.4 OpenAI, §3.3–3.4 Anthropic, §4.3–4.4 Gemini, §7.3 Mistral), plus the
//! canonical usage each provider's counts stand for.

use serde_json::{Value, json};
use switchyard::canonical::{FinishReason, Usage};

use super::arb::{Answer, Counts, fragments};

/// The wire family of a provider kind, for rendering answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI, DeepSeek, Qwen: incremental tool-call deltas, a separate usage chunk.
    OpenAi,
    /// Whole tool calls in one delta without `index`, usage in the finish chunk.
    Mistral,
    Anthropic,
    Gemini,
}

impl Answer {
    pub fn finish(&self) -> FinishReason {
        if !self.calls.is_empty() {
            FinishReason::ToolCalls
        } else if self.cut {
            FinishReason::Length
        } else {
            FinishReason::Stop
        }
    }

    pub fn full_text(&self) -> String {
        self.text.concat()
    }
}

/// The canonical usage `c` stands for when `wire` reports it.
pub fn expected_usage(wire: Wire, c: Counts) -> Usage {
    let thinking = c.thinking.min(c.output);
    match wire {
        Wire::OpenAi | Wire::Mistral => Usage {
            prompt_tokens: c.input + c.cache_read,
            completion_tokens: c.output,
            cached_tokens: c.cache_read,
            reasoning_tokens: thinking,
            ..Usage::default()
        },
        Wire::Anthropic => Usage {
            prompt_tokens: c.input + c.cache_read + c.cache_write,
            completion_tokens: c.output,
            cached_tokens: c.cache_read,
            cache_write_tokens: c.cache_write,
            reasoning_tokens: thinking,
            estimated: false,
        },
        Wire::Gemini => Usage {
            prompt_tokens: c.input + c.cache_read,
            completion_tokens: c.output + c.thinking,
            cached_tokens: c.cache_read,
            reasoning_tokens: c.thinking,
            ..Usage::default()
        },
    }
}

fn openai_usage(c: Counts) -> Value {
    let u = expected_usage(Wire::OpenAi, c);
    json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens, "audio_tokens": 0}})
}

fn anthropic_usage(c: Counts) -> Value {
    json!({"input_tokens": c.input, "cache_creation_input_tokens": c.cache_write,
        "cache_read_input_tokens": c.cache_read, "output_tokens": c.output,
        "output_tokens_details": {"thinking_tokens": c.thinking.min(c.output)}})
}

fn gemini_usage(c: Counts) -> Value {
    let prompt = c.input + c.cache_read;
    json!({"promptTokenCount": prompt, "candidatesTokenCount": c.output,
        "thoughtsTokenCount": c.thinking, "cachedContentTokenCount": c.cache_read,
        "totalTokenCount": prompt + c.output + c.thinking})
}

fn openai_finish(f: FinishReason) -> &'static str {
    f.as_str()
}

/// The non-streamed response body.
pub fn response(wire: Wire, a: &Answer) -> Value {
    let text = a.full_text();
    match wire {
        Wire::OpenAi | Wire::Mistral => {
            let mut message = json!({"role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
                "refusal": null, "annotations": []});
            if !a.calls.is_empty() {
                message["tool_calls"] = a
                    .calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.args.to_string()}})
                    })
                    .collect();
            }
            json!({"id": "chatcmpl-X", "object": "chat.completion", "created": 1770933883,
                "model": "m", "choices": [{"index": 0, "message": message, "logprobs": null,
                "finish_reason": openai_finish(a.finish())}], "usage": openai_usage(a.usage),
                "system_fingerprint": "fp_1"})
        }
        Wire::Anthropic => {
            let mut content: Vec<Value> = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for c in &a.calls {
                content
                    .push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}));
            }
            json!({"id": "msg_01X", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5-20250929", "content": content,
                "stop_reason": anthropic_stop(a.finish()), "stop_sequence": null,
                "usage": anthropic_usage(a.usage)})
        }
        Wire::Gemini => {
            let mut parts: Vec<Value> = Vec::new();
            if !text.is_empty() {
                parts.push(json!({"text": text}));
            }
            for c in &a.calls {
                parts.push(json!({"functionCall": {"name": c.name, "args": c.args}}));
            }
            json!({"candidates": [{"content": {"role": "model", "parts": parts},
                "finishReason": gemini_finish(a.finish()), "index": 0}],
                "usageMetadata": gemini_usage(a.usage), "modelVersion": "gemini-2.5-flash",
                "responseId": "SVd8"})
        }
    }
}

fn anthropic_stop(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        _ => "end_turn",
    }
}

fn gemini_finish(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "MAX_TOKENS",
        _ => "STOP",
    }
}

/// The streamed body, as the provider sends it.
pub fn stream(wire: Wire, a: &Answer) -> String {
    match wire {
        Wire::OpenAi => openai_stream(a),
        Wire::Mistral => mistral_stream(a),
        Wire::Anthropic => anthropic_stream(a),
        Wire::Gemini => gemini_stream(a),
    }
}

fn data(out: &mut String, v: &Value) {
    out.push_str(&format!("data: {v}\n\n"));
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-X", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        "usage": null})
}

fn openai_stream(a: &Answer) -> String {
    let mut out = String::new();
    data(
        &mut out,
        &chunk(json!({"role": "assistant", "content": ""}), None),
    );
    for t in &a.text {
        data(&mut out, &chunk(json!({"content": t}), None));
    }
    for (i, c) in a.calls.iter().enumerate() {
        let first = json!({"tool_calls": [{"index": i, "id": c.id, "type": "function",
            "function": {"name": c.name, "arguments": ""}}]});
        data(&mut out, &chunk(first, None));
        for f in fragments(&c.args.to_string(), a.fragment_chars) {
            let frag = json!({"tool_calls": [{"index": i, "function": {"arguments": f}}]});
            data(&mut out, &chunk(frag, None));
        }
    }
    data(&mut out, &chunk(json!({}), Some(openai_finish(a.finish()))));
    data(
        &mut out,
        &json!({"id": "chatcmpl-X", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [], "usage": openai_usage(a.usage)}),
    );
    out.push_str("data: [DONE]\n\n");
    out
}

fn mistral_stream(a: &Answer) -> String {
    let mut out = String::new();
    data(
        &mut out,
        &chunk(json!({"role": "assistant", "content": ""}), None),
    );
    for t in &a.text {
        data(&mut out, &chunk(json!({"content": t}), None));
    }
    let delta = if a.calls.is_empty() {
        json!({"content": ""})
    } else {
        let calls: Vec<Value> = a
            .calls
            .iter()
            .map(|c| json!({"id": c.id, "function": {"name": c.name, "arguments": c.args.to_string()}}))
            .collect();
        json!({"content": null, "tool_calls": calls})
    };
    let mut last = chunk(delta, Some(openai_finish(a.finish())));
    last["usage"] = openai_usage(a.usage);
    last["p"] = json!("abcde");
    data(&mut out, &last);
    out.push_str("data: [DONE]\n\n");
    out
}

fn event(out: &mut String, v: &Value) {
    let name = v["type"].as_str().unwrap_or_default();
    out.push_str(&format!("event: {name}\ndata: {v}\n\n"));
}

fn anthropic_stream(a: &Answer) -> String {
    let mut out = String::new();
    let mut start_usage = anthropic_usage(a.usage);
    start_usage["output_tokens"] = json!(1);
    start_usage
        .as_object_mut()
        .map(|u| u.remove("output_tokens_details"));
    event(
        &mut out,
        &json!({"type": "message_start", "message": {"id": "msg_01X", "type": "message",
            "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    );
    out.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
    let mut index = 0;
    if !a.text.is_empty() {
        event(
            &mut out,
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        for t in &a.text {
            event(
                &mut out,
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}),
            );
        }
        event(&mut out, &json!({"type": "content_block_stop", "index": 0}));
        index = 1;
    }
    for c in &a.calls {
        event(
            &mut out,
            &json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}),
        );
        let mut parts = vec![String::new()];
        parts.extend(fragments(&c.args.to_string(), a.fragment_chars));
        for f in parts {
            event(
                &mut out,
                &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": f}}),
            );
        }
        event(
            &mut out,
            &json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    let final_usage = json!({"output_tokens": a.usage.output,
        "output_tokens_details": {"thinking_tokens": a.usage.thinking.min(a.usage.output)}});
    event(
        &mut out,
        &json!({"type": "message_delta",
            "delta": {"stop_reason": anthropic_stop(a.finish()), "stop_sequence": null},
            "usage": final_usage}),
    );
    event(&mut out, &json!({"type": "message_stop"}));
    out
}

fn gemini_stream(a: &Answer) -> String {
    let mut out = String::new();
    // Early chunks under-report; the last chunk's counts are the real ones.
    let early = json!({"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4});
    let mut send = |parts: Value, finish: Option<&str>, usage: &Value| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        let v = json!({"candidates": [candidate], "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash", "responseId": "S1V8"});
        out.push_str(&format!("data: {v}\r\n\r\n"));
    };
    for t in &a.text {
        send(json!([{"text": t}]), None, &early);
    }
    for c in &a.calls {
        send(
            json!([{"functionCall": {"name": c.name, "args": c.args}}]),
            None,
            &early,
        );
    }
    send(
        json!([{"text": ""}]),
        Some(gemini_finish(a.finish())),
        &gemini_usage(a.usage),
    );
    out
}
