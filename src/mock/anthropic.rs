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
//!
//! The answer is rendered in [`render`].

mod render;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::brain::{self, Prompt, ToolMode, ToolSpec};
use super::reply::{garbage, insert_headers, pause_whole};
use super::{Injected, MockProvider, head_delay, limits, pause, sse_response};
use render::Render;

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
        return list_models(&p);
    }
    if tail != "/v1/messages" || req.method() != Method::POST {
        return error(404, "not_found_error", "Not found");
    }
    messages(p, body).await
}

/// The heartbeat: a one-model list, or a 503 while the knobs fail heartbeats.
fn list_models(p: &MockProvider) -> HttpResponse {
    if p.on_heartbeat() {
        return error(503, "api_error", "Service unavailable");
    }
    let id = "claude-mock-4-5";
    HttpResponse::Ok().json(json!({
        "data": [{"type": "model", "id": id, "display_name": "Claude Mock 4.5", "created_at": "2025-09-29T00:00:00Z"}],
        "has_more": false, "first_id": id, "last_id": id
    }))
}

/// `POST /v1/messages`: counted, validated as the real API does, then failed as the
/// knobs say or answered (streamed or whole) after the knobs' delays.
async fn messages(p: Arc<MockProvider>, body: &[u8]) -> HttpResponse {
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
        pause_whole(&k, &answer).await;
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
    read_messages(&mut p, messages)?;
    p.tools = tools(body);
    if let Some(choice) = body.get("tool_choice") {
        read_tool_choice(&mut p, choice)?;
    }
    let format = body
        .pointer("/output_config/format/type")
        .or_else(|| body.pointer("/output_format/type"));
    p.json_mode = format.and_then(Value::as_str) == Some("json_schema");
    p.json_schema = body
        .pointer("/output_config/format/schema")
        .or_else(|| body.pointer("/output_format/schema"))
        .filter(|_| p.json_mode)
        .cloned();
    // Claude follows a system prompt that asks for JSON (the gateway's json_object).
    let system = body.get("system").map(text_of).unwrap_or_default();
    p.json_mode |= system.contains("valid JSON object");
    p.thinking = matches!(
        body.pointer("/thinking/type").and_then(Value::as_str),
        Some("enabled" | "adaptive")
    );
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(Parsed { prompt: p, stream })
}

/// Checks each turn as the real API does (non-empty content but for a final assistant
/// turn, user and assistant roles only) and reads text and tool results into `p`.
fn read_messages(p: &mut Prompt, messages: &[Value]) -> Result<(), String> {
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
                read_tool_results(p, i, content, &previous_tool_uses)?;
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
    Ok(())
}

/// A user turn's `tool_result` blocks, each of which must answer a `tool_use` of the
/// previous assistant turn, become the prompt's tool results.
fn read_tool_results(
    p: &mut Prompt,
    i: usize,
    content: &Value,
    previous_tool_uses: &[&str],
) -> Result<(), String> {
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
    Ok(())
}

/// The client tools; server tools (web search, …) carry a `type` and no input_schema.
fn tools(body: &Value) -> Vec<ToolSpec> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(ToolSpec {
                name: t.get("name")?.as_str()?.to_owned(),
                parameters: t.get("input_schema")?.clone(),
            })
        })
        .collect()
}

/// `tool_choice`: the mode, and whether parallel tool use stays on.
fn read_tool_choice(p: &mut Prompt, choice: &Value) -> Result<(), String> {
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
    Ok(())
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

/// The real API's answer to a failure the knobs inject.
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
            let reset = limits::rfc3339(
                SystemTime::now() + Duration::from_secs(retry_after_s),
                false,
            );
            insert_headers(
                &mut resp,
                [
                    ("retry-after", retry_after_s.to_string()),
                    ("anthropic-ratelimit-requests-limit", "50".to_owned()),
                    ("anthropic-ratelimit-requests-remaining", "0".to_owned()),
                    ("anthropic-ratelimit-requests-reset", reset),
                ],
            );
            resp
        }
        Injected::Garbage => garbage(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
