//! The simulated Anthropic Messages API, written from shared/reference/providers.md §3
//! rather than from our adapter, so adapter bugs show up as test failures.
//!
//! It checks what the real API checks and answers with its messages: `x-api-key`
//! (401 `authentication_error`), `anthropic-version` and `max_tokens` (400
//! `invalid_request_error`), no `system` role inside `messages`, every `tool_result`
//! matching a `tool_use` of the previous assistant turn. Answers render as §3.3 (ids
//! `msg_…`/`toolu_…` from the answer's seed, usage with cache fields) and stream as §3.4:
//! `message_start`, per block `content_block_start`/`ping`/deltas/`content_block_stop`,
//! `message_delta` with cumulative usage, `message_stop` (padded with whitespace, like
//! the real one). `[[blocked]]` is refused with `stop_reason: "refusal"` and no blocks.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{Value, json};

use super::brain::{self, Answer, Finish, Prompt, ToolMode, ToolSpec};
use super::{Injected, MockProvider, batch, head_delay, pause, sse_response, total_delay};

/// Routes one request to a simulated Anthropic provider.
pub async fn handle(
    p: Arc<MockProvider>,
    req: &HttpRequest,
    tail: &str,
    body: &[u8],
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
    };
    if header("x-api-key").is_none() {
        return error(401, "authentication_error", "x-api-key header is required");
    }
    if header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    if tail == "/v1/models" && req.method() == Method::GET {
        if p.on_heartbeat() {
            return error(503, "api_error", "Service unavailable");
        }
        let id = "claude-mock-4-5";
        return HttpResponse::Ok().json(json!({
            "data": [{"type": "model", "id": id, "display_name": "Claude Mock 4.5", "created_at": "2025-09-29T00:00:00Z"}],
            "has_more": false, "first_id": id, "last_id": id
        }));
    }
    if tail != "/v1/messages" || req.method() != Method::POST {
        return error(404, "not_found_error", "Not found");
    }
    let (k, injected) = p.on_chat();
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                400,
                "invalid_request_error",
                &format!("There was an issue with the JSON body of your request: {e}"),
            );
        }
    };
    let parsed = match parse(&body) {
        Ok(v) => v,
        Err(msg) => return error(400, "invalid_request_error", &msg),
    };
    if let Some(inj) = injected {
        pause(head_delay(&k)).await;
        return injected_error(inj);
    }
    let answer = brain::answer(&parsed.prompt);
    let r = Render {
        model: &parsed.prompt.model,
        a: &answer,
        per_event: k.tokens_per_event,
    };
    if parsed.stream {
        pause(head_delay(&k)).await;
        sse_response(p.clone(), &k, r.stream())
    } else {
        let events = answer.tokens.len().div_ceil(k.tokens_per_event.max(1));
        pause(total_delay(&k, events)).await;
        HttpResponse::Ok().json(r.message())
    }
}

struct Parsed {
    prompt: Prompt,
    stream: bool,
}

/// Text of a `content` (string or blocks) or a `tool_result`'s content.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn blocks(content: &Value) -> &[Value] {
    content.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn block_type(b: &Value) -> Option<&str> {
    b.get("type").and_then(Value::as_str)
}

/// Validates the body like the real API and turns it into a prompt.
fn parse(body: &Value) -> Result<Parsed, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    let max_tokens = body
        .get("max_tokens")
        .ok_or("max_tokens: Field required")?
        .as_u64()
        .ok_or("max_tokens: Input should be a valid integer")?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let mut p = Prompt::new(model, "");
    p.messages = messages.len();
    p.text_chars = body.get("system").map(text_of).unwrap_or_default().len();
    p.max_tokens = Some(u32::try_from(max_tokens).unwrap_or(u32::MAX));
    let mut previous_tool_uses: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let content = m.get("content").unwrap_or(&Value::Null);
        let empty = match content {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => true,
        };
        let last = i + 1 == messages.len();
        let role = m.get("role").and_then(Value::as_str);
        if empty && !(last && role == Some("assistant")) {
            return Err(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            ));
        }
        let text = text_of(content);
        p.text_chars += text.len();
        match role {
            Some("user") => {
                p.tool_results.clear();
                for (j, b) in blocks(content).iter().enumerate() {
                    if block_type(b) != Some("tool_result") {
                        continue;
                    }
                    let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                    if !previous_tool_uses.contains(&id) {
                        return Err(format!(
                            "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        ));
                    }
                    let result = b.get("content").map(text_of).unwrap_or_default();
                    p.text_chars += result.len();
                    p.tool_results.push(result);
                }
                if p.tool_results.is_empty() {
                    p.last_user = text;
                }
                previous_tool_uses.clear();
            }
            Some("assistant") => {
                p.tool_results.clear();
                previous_tool_uses = blocks(content)
                    .iter()
                    .filter(|b| block_type(b) == Some("tool_use"))
                    .filter_map(|b| b.get("id").and_then(Value::as_str))
                    .collect();
            }
            Some("system") => {
                return Err("messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.".to_owned());
            }
            _ => {
                return Err(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                ));
            }
        }
    }
    p.tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        // Server tools (web search, …) carry a `type` and no input_schema.
        .filter_map(|t| {
            Some(ToolSpec {
                name: t.get("name")?.as_str()?.to_owned(),
                parameters: t.get("input_schema")?.clone(),
            })
        })
        .collect();
    if let Some(choice) = body.get("tool_choice") {
        p.tool_mode = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => ToolMode::Auto,
            Some("any") => ToolMode::Required,
            Some("none") => ToolMode::None,
            Some("tool") => ToolMode::Named(
                choice
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("tool_choice.tool.name: Field required")?
                    .to_owned(),
            ),
            _ => return Err("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'".to_owned()),
        };
        p.parallel_tool_calls = choice
            .get("disable_parallel_tool_use")
            .and_then(Value::as_bool)
            != Some(true);
    }
    let format = body
        .pointer("/output_config/format/type")
        .or_else(|| body.pointer("/output_format/type"));
    p.json_mode = format.and_then(Value::as_str) == Some("json_schema");
    p.thinking = matches!(
        body.pointer("/thinking/type").and_then(Value::as_str),
        Some("enabled" | "adaptive")
    );
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(Parsed { prompt: p, stream })
}

struct Render<'a> {
    model: &'a str,
    a: &'a Answer,
    per_event: usize,
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
    fn message(&self) -> Value {
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
    fn stream(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut start = self.message();
        start["content"] = json!([]);
        start["stop_reason"] = Value::Null;
        start["usage"] = self.usage(1);
        if let Some(m) = start.as_object_mut() {
            m.remove("stop_details");
        }
        out.push(event(
            "message_start",
            &json!({"type": "message_start", "message": start}),
        ));
        let mut index = 0usize;
        let mut block = |out: &mut Vec<Bytes>, start: Value, deltas: Vec<Value>| {
            out.push(event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": start}),
            ));
            if index == 0 {
                // The real API pings once, right after the first block opens.
                out.push(Bytes::from_static(
                    b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
                ));
            }
            for d in deltas {
                out.push(event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index, "delta": d}),
                ));
            }
            out.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
            index += 1;
        };
        if !self.a.reasoning.is_empty() {
            let mut deltas: Vec<Value> = batch(&self.a.reasoning, self.per_event)
                .into_iter()
                .map(|t| json!({"type": "thinking_delta", "thinking": t}))
                .collect();
            deltas.push(json!({"type": "signature_delta", "signature": self.signature()}));
            block(
                &mut out,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                deltas,
            );
        }
        if !self.a.tokens.is_empty() {
            let deltas = batch(&self.a.tokens, self.per_event)
                .into_iter()
                .map(|t| json!({"type": "text_delta", "text": t}))
                .collect();
            block(&mut out, json!({"type": "text", "text": ""}), deltas);
        }
        for (i, c) in self.a.calls.iter().enumerate() {
            let deltas = fragments(&c.arguments.to_string())
                .into_iter()
                .map(|f| json!({"type": "input_json_delta", "partial_json": f}))
                .collect();
            block(
                &mut out,
                json!({"type": "tool_use", "id": self.tool_id(i), "name": c.name, "input": {}}),
                deltas,
            );
        }
        let mut delta = json!({"stop_reason": self.stop_reason(), "stop_sequence": null});
        if self.a.finish == Finish::Blocked {
            delta["stop_details"] = self.stop_details();
        }
        let mut usage = self.usage(self.a.completion_tokens);
        if let Some(u) = usage.as_object_mut() {
            u.remove("cache_creation");
            u.remove("service_tier");
        }
        out.push(event(
            "message_delta",
            &json!({"type": "message_delta", "delta": delta, "usage": usage}),
        ));
        out.push(Bytes::from_static(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"     }\n\n",
        ));
        out
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

/// An Anthropic error answer: `{"type":"error","error":{type,message},"request_id"}`.
fn error(status: u16, kind: &str, message: &str) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_mock"
    }))
}

fn injected_error(inj: Injected) -> HttpResponse {
    match inj {
        Injected::Outage => error(503, "api_error", "Service unavailable"),
        Injected::Overloaded => error(529, "overloaded_error", "Overloaded"),
        Injected::Server(status) => error(status, "api_error", "Internal server error"),
        Injected::RateLimited { retry_after_s } => {
            let mut resp = error(
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute. Please try again later.",
            );
            let reset = rfc3339(SystemTime::now() + Duration::from_secs(retry_after_s));
            let pairs = [
                ("retry-after", retry_after_s.to_string()),
                ("anthropic-ratelimit-requests-limit", "50".to_owned()),
                ("anthropic-ratelimit-requests-remaining", "0".to_owned()),
                ("anthropic-ratelimit-requests-reset", reset),
            ];
            let headers = resp.headers_mut();
            for (name, value) in pairs {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static(name), v);
                }
            }
            resp
        }
        Injected::Garbage => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body><h1>502 Bad Gateway</h1></body></html>"),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (civil-from-days, H. Hinnant's algorithm).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199); // leap year, Feb 29
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn tool_result_must_answer_the_previous_turn() {
        let body = json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_A", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_B", "content": "18C"}]}
        ]});
        let err = parse(&body).err().unwrap();
        assert!(err.starts_with("messages.2.content.0: unexpected `tool_use_id`"));
        let mut ok = body.clone();
        ok["messages"][2]["content"][0]["tool_use_id"] = json!("toolu_A");
        assert_eq!(parse(&ok).unwrap().prompt.tool_results, vec!["18C"]);
    }

    #[test]
    fn refusal_streams_no_blocks() {
        let mut p = Prompt::new("m", "[[blocked]]");
        p.max_tokens = Some(10);
        let a = brain::answer(&p);
        let r = Render {
            model: "m",
            a: &a,
            per_event: 1,
        };
        let names: Vec<String> = r
            .stream()
            .iter()
            .map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "event: message_start",
                "event: message_delta",
                "event: message_stop"
            ]
        );
        assert_eq!(r.message()["content"], json!([]));
        assert_eq!(r.message()["stop_reason"], "refusal");
    }
}
