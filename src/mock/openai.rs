//! Simulated OpenAI-family providers: OpenAI, DeepSeek, Qwen (compatible mode) and
//! Mistral, each with the quirks shared/reference/providers.md records for it:
//! DeepSeek's `: keep-alive` comments, `reasoning_content` and usage on the finish
//! chunk; Qwen's `"id":""` continuation deltas and separate usage chunk; Mistral's
//! strict schema (422 `extra_forbidden`), nine-character tool ids, whole tool calls
//! without `index`, `"p"` padding and usage on the finish chunk.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{Value, json};

use super::brain::{self, Answer, Finish, Prompt, ToolMode, ToolSpec};
use super::{Format, Injected, MockProvider, batch, head_delay, pause, sse_response, total_delay};

/// Routes one request to a simulated OpenAI-family provider.
pub async fn handle(
    p: Arc<MockProvider>,
    req: &HttpRequest,
    tail: &str,
    body: &[u8],
) -> HttpResponse {
    let f = p.format;
    let (chat, models) = match f {
        Format::Qwen => (
            "/compatible-mode/v1/chat/completions",
            "/compatible-mode/v1/models",
        ),
        Format::DeepSeek if !tail.starts_with("/v1/") => ("/chat/completions", "/models"),
        _ => ("/v1/chat/completions", "/v1/models"),
    };
    let authed = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty());
    if !authed {
        return error(
            f,
            401,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    if tail == models && req.method() == actix_web::http::Method::GET {
        if p.on_heartbeat() {
            return error(
                f,
                503,
                "server_error",
                "service_unavailable",
                "The service is temporarily unavailable.",
            );
        }
        return HttpResponse::Ok().json(json!({
            "object": "list",
            "data": [{"id": format!("{}-mock", p.name), "object": "model", "created": 1_700_000_000, "owned_by": p.name}]
        }));
    }
    if tail != chat || req.method() != actix_web::http::Method::POST {
        return error(
            f,
            404,
            "invalid_request_error",
            "unknown_url",
            &format!("Unknown request URL: {} {tail}", req.method()),
        );
    }
    let (k, injected) = p.on_chat();
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                f,
                400,
                "invalid_request_error",
                "invalid_json",
                &format!("We could not parse the JSON body of your request: {e}"),
            );
        }
    };
    if f == Format::Mistral
        && let Some(resp) = mistral_schema_check(&body)
    {
        return resp;
    }
    let parsed = match parse(f, &body) {
        Ok(v) => v,
        Err(msg) => return error(f, 400, "invalid_request_error", "invalid_request", &msg),
    };
    if let Some(inj) = injected {
        pause(head_delay(&k)).await;
        return injected_error(f, inj);
    }
    let answer = brain::answer(&parsed.prompt);
    if answer.finish == Finish::Blocked && f == Format::Qwen {
        return HttpResponse::BadRequest().json(json!({"error": {"code": "data_inspection_failed", "param": null, "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed"}, "id": "chatcmpl-blocked"}));
    }
    let r = Render {
        f,
        model: &parsed.prompt.model,
        a: &answer,
        include_usage: parsed.include_usage,
        per_event: k.tokens_per_event,
    };
    if parsed.stream {
        pause(head_delay(&k)).await;
        sse_response(p.clone(), &k, r.stream())
    } else {
        let events = answer.tokens.len().div_ceil(k.tokens_per_event.max(1));
        pause(total_delay(&k, events)).await;
        let mut out = Vec::new();
        if f == Format::DeepSeek {
            out.extend_from_slice(b"\n\n"); // DeepSeek pads while a request is queued
        }
        out.extend_from_slice(r.completion().to_string().as_bytes());
        HttpResponse::Ok()
            .content_type("application/json")
            .body(out)
    }
}

struct Parsed {
    prompt: Prompt,
    stream: bool,
    include_usage: bool,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn parse(f: Format, body: &Value) -> Result<Parsed, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("you must provide a model parameter")?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("missing required parameter: 'messages'")?;
    if messages.is_empty() {
        return Err("'messages' must not be empty".into());
    }
    let mut p = Prompt::new(model, "");
    p.messages = messages.len();
    p.text_chars = 0;
    for m in messages {
        let text = m.get("content").map(text_of).unwrap_or_default();
        p.text_chars += text.len();
        match m.get("role").and_then(Value::as_str) {
            Some("user") => {
                p.last_user = text;
                p.tool_results.clear();
            }
            Some("tool") => p.tool_results.push(text),
            Some("assistant") => p.tool_results.clear(),
            Some("system" | "developer") => {}
            other => return Err(format!("invalid role {other:?}")),
        }
    }
    p.tools = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    let func = t.get("function")?;
                    Some(ToolSpec {
                        name: func.get("name")?.as_str()?.to_owned(),
                        parameters: func.get("parameters").cloned().unwrap_or(json!({})),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    p.tool_mode = match body.get("tool_choice") {
        None | Some(Value::Null) => ToolMode::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolMode::None,
            "auto" => ToolMode::Auto,
            "any" if f == Format::Mistral => ToolMode::Required,
            "required" => ToolMode::Required,
            other => return Err(format!("invalid tool_choice '{other}'")),
        },
        Some(v) => ToolMode::Named(
            v.pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or("tool_choice object needs function.name")?
                .to_owned(),
        ),
    };
    p.parallel_tool_calls = body
        .get("parallel_tool_calls")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    p.max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok());
    p.json_mode = matches!(
        body.pointer("/response_format/type")
            .and_then(Value::as_str),
        Some("json_object" | "json_schema")
    );
    p.thinking = match f {
        Format::DeepSeek => {
            body.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled")
                || model.contains("reasoner")
        }
        Format::Qwen => body
            .get("enable_thinking")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        _ => false,
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Parsed {
        prompt: p,
        stream,
        include_usage,
    })
}

/// Mistral rejects fields it does not know and tool ids that are not 9 alphanumerics.
fn mistral_schema_check(body: &Value) -> Option<HttpResponse> {
    const TOP: &[&str] = &[
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "reasoning_effort",
        "prompt_mode",
        "safe_prompt",
        "metadata",
    ];
    let extra = |loc: Vec<Value>| {
        Some(HttpResponse::UnprocessableEntity().json(json!({
            "object": "error",
            "message": {"detail": [{"type": "extra_forbidden", "loc": loc, "msg": "Extra inputs are not permitted"}]},
            "type": "invalid_request_error", "param": null, "code": null
        })))
    };
    for key in body.as_object()?.keys() {
        if !TOP.contains(&key.as_str()) {
            return extra(vec![json!("body"), json!(key)]);
        }
    }
    for (i, m) in body.get("messages")?.as_array()?.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let allowed: &[&str] = match role {
            "system" | "user" => &["role", "content"],
            "assistant" => &["role", "content", "tool_calls", "prefix"],
            "tool" => &["role", "content", "tool_call_id", "name"],
            _ => &[],
        };
        for key in m.as_object()?.keys() {
            if !allowed.contains(&key.as_str()) {
                return extra(vec![
                    json!("body"),
                    json!("messages"),
                    json!(i),
                    json!(role),
                    json!(key),
                ]);
            }
        }
        let ids = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("id").and_then(Value::as_str))
            .chain(m.get("tool_call_id").and_then(Value::as_str));
        for id in ids {
            if id.len() != 9 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Some(HttpResponse::BadRequest().json(json!({
                    "object": "error",
                    "message": format!("Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."),
                    "type": "invalid_request_error", "param": null, "code": "3280"
                })));
            }
        }
    }
    None
}

struct Render<'a> {
    f: Format,
    model: &'a str,
    a: &'a Answer,
    include_usage: bool,
    per_event: usize,
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

    fn completion(&self) -> Value {
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
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.finish()}],
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

    fn stream(&self) -> Vec<Bytes> {
        let f = self.f;
        let mut ev: Vec<Value> = Vec::new();
        let thinking = !self.a.reasoning.is_empty();
        let first = match f {
            Format::DeepSeek | Format::Qwen if thinking => {
                json!({"role": "assistant", "content": null, "reasoning_content": ""})
            }
            Format::OpenAi => json!({"role": "assistant", "content": "", "refusal": null}),
            _ => json!({"role": "assistant", "content": ""}),
        };
        ev.push(self.chunk(first, None, None));
        for r in batch(&self.a.reasoning, self.per_event) {
            ev.push(self.chunk(json!({"content": null, "reasoning_content": r}), None, None));
        }
        let texts = batch(&self.a.tokens, self.per_event);
        // DeepSeek and Mistral put usage on the finish chunk; OpenAI and Qwen send it apart.
        let usage_on_finish = matches!(f, Format::DeepSeek | Format::Mistral);
        let finish_usage = || {
            (usage_on_finish && (self.include_usage || f == Format::Mistral)).then(|| self.usage())
        };
        if f == Format::Mistral && !self.a.calls.is_empty() {
            ev.push(self.chunk(
                json!({"content": null, "tool_calls": self.tool_calls()}),
                Some("tool_calls"),
                finish_usage(),
            ));
        } else if f == Format::Mistral && !texts.is_empty() {
            // Mistral's last content chunk carries the finish reason and usage.
            let (last, rest) = texts.split_last().unwrap_or((&texts[0], &[]));
            for t in rest {
                ev.push(self.chunk(json!({"content": t}), None, None));
            }
            ev.push(self.chunk(
                json!({"content": last}),
                Some(self.finish()),
                finish_usage(),
            ));
        } else {
            for t in &texts {
                let delta = if thinking {
                    json!({"content": t, "reasoning_content": null})
                } else {
                    json!({"content": t})
                };
                ev.push(self.chunk(delta, None, None));
            }
            for (i, c) in self.a.calls.iter().enumerate() {
                let args = c.arguments.to_string();
                let start = json!({"index": i, "id": self.call_id(i), "type": "function", "function": {"name": c.name, "arguments": ""}});
                ev.push(self.chunk(json!({"tool_calls": [start]}), None, None));
                for frag in split3(&args) {
                    let cont = if f == Format::Qwen {
                        json!({"index": i, "id": "", "type": "function", "function": {"arguments": frag}})
                    } else {
                        json!({"index": i, "function": {"arguments": frag}})
                    };
                    ev.push(self.chunk(json!({"tool_calls": [cont]}), None, None));
                }
            }
            let end_delta = match f {
                Format::DeepSeek => json!({"content": "", "reasoning_content": null}),
                _ => json!({}),
            };
            ev.push(self.chunk(end_delta, Some(self.finish()), finish_usage()));
        }
        if self.include_usage && !usage_on_finish {
            let mut u = self.chunk(json!({}), None, Some(self.usage()));
            u["choices"] = json!([]);
            ev.push(u);
        }
        let mut out: Vec<Bytes> = Vec::with_capacity(ev.len() + 2);
        if f == Format::DeepSeek {
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

fn error(f: Format, status: u16, kind: &str, code: &str, message: &str) -> HttpResponse {
    let status_code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = match f {
        Format::Mistral => {
            json!({"object": "error", "message": message, "type": kind, "param": null, "code": code, "raw_status_code": status})
        }
        Format::Qwen => {
            json!({"error": {"code": code, "param": null, "message": message, "type": kind}, "request_id": "mock-req"})
        }
        _ => json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    };
    HttpResponse::build(status_code).json(body)
}

fn injected_error(f: Format, inj: Injected) -> HttpResponse {
    match inj {
        Injected::Outage => error(
            f,
            503,
            "server_error",
            "service_unavailable",
            "The server is overloaded or not ready yet.",
        ),
        Injected::Overloaded => error(
            f,
            503,
            "server_error",
            "overloaded",
            "The engine is currently overloaded, please try again later.",
        ),
        Injected::Server(status) => error(
            f,
            status,
            "server_error",
            "server_error",
            "The server had an error while processing your request.",
        ),
        Injected::RateLimited { retry_after_s } => {
            let mut resp = error(
                f,
                429,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached for requests. Please try again later.",
            );
            let headers = resp.headers_mut();
            let pairs = [
                ("retry-after", retry_after_s.to_string()),
                ("x-ratelimit-remaining-requests", "0".to_owned()),
                ("x-ratelimit-reset-requests", format!("{retry_after_s}s")),
            ];
            for (name, value) in pairs {
                if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
                    headers.insert(actix_web::http::header::HeaderName::from_static(name), v);
                }
            }
            resp
        }
        Injected::Garbage => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body><h1>502 Bad Gateway</h1></body></html>"),
    }
}
