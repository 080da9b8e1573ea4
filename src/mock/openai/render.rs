//! Renders the simulated model's answer as the OpenAI family does, each member with
//! the quirks shared/reference/providers.md records: ids and tool-call ids in each
//! provider's shape, usage with each one's detail fields, OpenAI's `refusal`,
//! `annotations` and `obfuscation`, DeepSeek's `reasoning_content` and usage on the
//! finish chunk, Qwen's `"id":""` continuation deltas and separate usage chunk,
//! Mistral's whole tool calls without `index`, `"p"` padding and finish on the last
//! content chunk.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::mock::brain::{self, Answer, Finish};
use crate::mock::{Format, batch};

pub(super) struct Render<'a> {
    pub(super) f: Format,
    pub(super) model: &'a str,
    pub(super) a: &'a Answer,
    /// Whether the request asked for a usage chunk (`stream_options.include_usage`).
    pub(super) include_usage: bool,
    /// Whether the request asked for `logprobs`: each token's then comes with the text.
    pub(super) logprobs: bool,
    pub(super) per_event: usize,
}

impl Render<'_> {
    fn id(&self) -> String {
        match self.f {
            Format::Mistral => format!("{:016x}{:016x}", self.a.seed, self.a.seed.rotate_left(17)),
            Format::DeepSeek => format!(
                "{:08x}-{:04x}",
                self.a.seed as u32,
                (self.a.seed >> 40) as u16
            ),
            _ => format!("chatcmpl-{}", brain::stable_id(self.a.seed, 0, 24)),
        }
    }

    fn call_id(&self, i: usize) -> String {
        match self.f {
            Format::Mistral => brain::stable_id(self.a.seed, i as u64 + 1, 9),
            Format::DeepSeek => format!(
                "call_{i:02}_{}",
                brain::stable_id(self.a.seed, i as u64 + 1, 24)
            ),
            _ => format!("call_{}", brain::stable_id(self.a.seed, i as u64 + 1, 24)),
        }
    }

    fn finish(&self) -> &'static str {
        match self.a.finish {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::Blocked => "content_filter",
        }
    }

    fn usage(&self) -> Value {
        let a = self.a;
        let total = a.prompt_tokens + a.completion_tokens;
        match self.f {
            Format::Mistral => {
                json!({"prompt_tokens": a.prompt_tokens, "total_tokens": total, "completion_tokens": a.completion_tokens})
            }
            Format::DeepSeek => json!({
                "prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens, "total_tokens": total,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": a.reasoning_tokens},
                "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": a.prompt_tokens
            }),
            _ => json!({
                "prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens, "total_tokens": total,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": a.reasoning_tokens, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
            }),
        }
    }

    fn tool_calls(&self) -> Vec<Value> {
        self.a
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut v = json!({"id": self.call_id(i), "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}});
                match self.f {
                    Format::Mistral => {
                        v.as_object_mut().map(|o| o.remove("type"));
                    }
                    Format::DeepSeek | Format::Qwen => v["index"] = json!(i),
                    _ => {}
                }
                v
            })
            .collect()
    }

    /// The non-stream `chat.completion`.
    pub(super) fn completion(&self) -> Value {
        let text = self.a.text();
        let mut message = json!({"role": "assistant", "content": if self.a.calls.is_empty() { json!(text) } else { Value::Null }});
        if !self.a.calls.is_empty() {
            message["tool_calls"] = json!(self.tool_calls());
        }
        if !self.a.reasoning.is_empty() {
            message["reasoning_content"] = json!(self.a.reasoning.concat());
        }
        if self.f == Format::OpenAi {
            message["refusal"] = Value::Null;
            message["annotations"] = json!([]);
        }
        let mut out = json!({
            "id": self.id(), "object": "chat.completion", "created": 1_770_000_000u64, "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": self.logprobs_of(&self.a.tokens), "finish_reason": self.finish()}],
            "usage": self.usage(),
        });
        match self.f {
            Format::OpenAi => {
                out["service_tier"] = json!("default");
                out["system_fingerprint"] = json!("fp_mock");
            }
            Format::Qwen => out["system_fingerprint"] = Value::Null,
            _ => {}
        }
        out
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Value>) -> Value {
        let mut c = json!({
            "id": self.id(), "object": "chat.completion.chunk", "created": 1_770_000_000u64, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        let usage_field = match (self.f, usage) {
            (Format::Mistral, Some(u)) => Some(u),
            (Format::Mistral, None) => None,
            (_, u) if self.include_usage => Some(u.unwrap_or(Value::Null)),
            _ => None,
        };
        if let Some(u) = usage_field {
            c["usage"] = u;
        }
        match self.f {
            Format::OpenAi => c["obfuscation"] = json!("aB3x"),
            Format::Mistral => c["p"] = json!("abcdefgh"),
            _ => {}
        }
        c
    }

    /// The `logprobs` object for `tokens` (`null` unless asked for): one entry per
    /// token with a made-up but stable log probability and the token's UTF-8 bytes.
    fn logprobs_of(&self, tokens: &[String]) -> Value {
        if !self.logprobs || tokens.is_empty() {
            return Value::Null;
        }
        let content: Vec<Value> = tokens
            .iter()
            .map(|t| {
                let logprob = -((t.len() % 7) as f64) / 8.0;
                json!({"token": t, "logprob": logprob, "bytes": t.as_bytes(), "top_logprobs": []})
            })
            .collect();
        json!({"content": content, "refusal": null})
    }

    /// Whether usage rides on the finish chunk (DeepSeek, Mistral) rather than a
    /// chunk of its own (OpenAI, Qwen).
    fn usage_on_finish(&self) -> bool {
        matches!(self.f, Format::DeepSeek | Format::Mistral)
    }

    /// The usage the finish chunk carries, if any (Mistral's always).
    fn finish_usage(&self) -> Option<Value> {
        (self.usage_on_finish() && (self.include_usage || self.f == Format::Mistral))
            .then(|| self.usage())
    }

    /// The stream's chunks, one `Bytes` per SSE event, `data: [DONE]` last.
    pub(super) fn stream(&self) -> Vec<Bytes> {
        let thinking = !self.a.reasoning.is_empty();
        let first = match self.f {
            Format::DeepSeek | Format::Qwen if thinking => {
                json!({"role": "assistant", "content": null, "reasoning_content": ""})
            }
            Format::OpenAi => json!({"role": "assistant", "content": "", "refusal": null}),
            _ => json!({"role": "assistant", "content": ""}),
        };
        let mut ev: Vec<Value> = vec![self.chunk(first, None, None)];
        for r in batch(&self.a.reasoning, self.per_event) {
            ev.push(self.chunk(json!({"content": null, "reasoning_content": r}), None, None));
        }
        let texts = batch(&self.a.tokens, self.per_event);
        if self.f == Format::Mistral && !self.a.calls.is_empty() {
            ev.push(self.chunk(
                json!({"content": null, "tool_calls": self.tool_calls()}),
                Some("tool_calls"),
                self.finish_usage(),
            ));
        } else if self.f == Format::Mistral && !texts.is_empty() {
            self.mistral_text(&texts, &mut ev);
        } else {
            self.deltas(&texts, thinking, &mut ev);
        }
        if self.include_usage && !self.usage_on_finish() {
            let mut u = self.chunk(json!({}), None, Some(self.usage()));
            u["choices"] = json!([]);
            ev.push(u);
        }
        self.frames(ev)
    }

    /// Mistral's text: its last content chunk carries the finish reason and usage.
    fn mistral_text(&self, texts: &[String], ev: &mut Vec<Value>) {
        let (last, rest) = texts.split_last().unwrap_or((&texts[0], &[]));
        for t in rest {
            ev.push(self.chunk(json!({"content": t}), None, None));
        }
        ev.push(self.chunk(
            json!({"content": last}),
            Some(self.finish()),
            self.finish_usage(),
        ));
    }

    /// Text deltas, each tool call as a start and argument fragments, then the finish
    /// chunk.
    fn deltas(&self, texts: &[String], thinking: bool, ev: &mut Vec<Value>) {
        // `texts` are these groups of tokens, joined.
        let mut groups = self.a.tokens.chunks(self.per_event.max(1));
        for t in texts {
            let delta = if thinking {
                json!({"content": t, "reasoning_content": null})
            } else {
                json!({"content": t})
            };
            let mut c = self.chunk(delta, None, None);
            if let Some(group) = groups.next().filter(|_| self.logprobs) {
                c["choices"][0]["logprobs"] = self.logprobs_of(group);
            }
            ev.push(c);
        }
        for (i, c) in self.a.calls.iter().enumerate() {
            let args = c.arguments.to_string();
            let start = json!({"index": i, "id": self.call_id(i), "type": "function", "function": {"name": c.name, "arguments": ""}});
            ev.push(self.chunk(json!({"tool_calls": [start]}), None, None));
            for frag in split3(&args) {
                let cont = if self.f == Format::Qwen {
                    json!({"index": i, "id": "", "type": "function", "function": {"arguments": frag}})
                } else {
                    json!({"index": i, "function": {"arguments": frag}})
                };
                ev.push(self.chunk(json!({"tool_calls": [cont]}), None, None));
            }
        }
        let end_delta = match self.f {
            Format::DeepSeek => json!({"content": "", "reasoning_content": null}),
            _ => json!({}),
        };
        ev.push(self.chunk(end_delta, Some(self.finish()), self.finish_usage()));
    }

    /// The chunks as SSE events, after DeepSeek's `: keep-alive` and before `[DONE]`.
    fn frames(&self, ev: Vec<Value>) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = Vec::with_capacity(ev.len() + 2);
        if self.f == Format::DeepSeek {
            out.push(Bytes::from_static(b": keep-alive\n\n"));
        }
        out.extend(
            ev.into_iter()
                .map(|v| Bytes::from(format!("data: {v}\n\n"))),
        );
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }
}

/// Splits a string into up to three fragments on char boundaries.
fn split3(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len().div_ceil(3).max(1);
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}
