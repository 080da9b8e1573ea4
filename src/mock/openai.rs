//! Simulated OpenAI-family providers: OpenAI, DeepSeek, Qwen (compatible mode) and
//! Mistral, each with the quirks shared/reference/providers.md records for it:
//! DeepSeek's `: keep-alive` comments, `reasoning_content` and usage on the finish
//! chunk; Qwen's `"id":""` continuation deltas and separate usage chunk; Mistral's
//! strict schema (422 `extra_forbidden`), nine-character tool ids, whole tool calls
//! without `index`, `"p"` padding and usage on the finish chunk.
//!
//! Routes, after `/{name}`: `POST {base}/chat/completions` and `GET {base}/models`
//! (the heartbeat), `{base}` being `/v1`, Qwen's `/compatible-mode/v1`, or DeepSeek's
//! empty or `/v1`. The answer is rendered in [`render`].

mod render;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::brain::{self, Finish, Prompt, ToolMode, ToolSpec};
use super::reply::{garbage, insert_headers, pause_whole};
use super::{Format, Injected, MockProvider, head_delay, pause, sse_response};
use render::Render;

/// Routes one request to a simulated OpenAI-family provider.
pub async fn handle(
    p: Arc<MockProvider>,
    req: &HttpRequest,
    tail: &str,
    body: &[u8],
) -> HttpResponse {
    let f = p.format;
    let (chat, models) = paths(f, tail);
    if !has_bearer_key(req) {
        return error(
            f,
            401,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    if tail == models && req.method() == Method::GET {
        return list_models(&p);
    }
    if tail != chat || req.method() != Method::POST {
        return error(
            f,
            404,
            "invalid_request_error",
            "unknown_url",
            &format!("Unknown request URL: {} {tail}", req.method()),
        );
    }
    chat_completion(p, body).await
}

/// `(chat, models)` paths after `/{name}`.
fn paths(f: Format, tail: &str) -> (&'static str, &'static str) {
    match f {
        Format::Qwen => (
            "/compatible-mode/v1/chat/completions",
            "/compatible-mode/v1/models",
        ),
        Format::DeepSeek if !tail.starts_with("/v1/") => ("/chat/completions", "/models"),
        _ => ("/v1/chat/completions", "/v1/models"),
    }
}

/// Whether the request carries a non-blank `Authorization: Bearer` key.
fn has_bearer_key(req: &HttpRequest) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty())
}

/// The heartbeat: a one-model list, or a 503 while the knobs fail heartbeats.
fn list_models(p: &MockProvider) -> HttpResponse {
    if p.on_heartbeat() {
        return error(
            p.format,
            503,
            "server_error",
            "service_unavailable",
            "The service is temporarily unavailable.",
        );
    }
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": [{"id": format!("{}-mock", p.name), "object": "model", "created": 1_700_000_000, "owned_by": p.name}]
    }))
}

/// A chat call: counted, validated as the provider would, then failed as the knobs
/// say or answered (streamed or whole) after the knobs' delays.
async fn chat_completion(p: Arc<MockProvider>, body: &[u8]) -> HttpResponse {
    let f = p.format;
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
        logprobs: parsed.logprobs,
        per_event: k.tokens_per_event,
    };
    if parsed.stream {
        pause(head_delay(&k)).await;
        return sse_response(p.clone(), &k, r.stream());
    }
    pause_whole(&k, &answer).await;
    let mut out = Vec::new();
    if f == Format::DeepSeek {
        out.extend_from_slice(b"\n\n"); // DeepSeek pads while a request is queued
    }
    out.extend_from_slice(r.completion().to_string().as_bytes());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(out)
}

struct Parsed {
    prompt: Prompt,
    stream: bool,
    include_usage: bool,
    /// `logprobs: true` (Mistral's strict schema refuses the field before this).
    logprobs: bool,
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

/// Validates the body like the provider and turns it into a prompt.
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
    read_messages(&mut p, messages)?;
    p.tools = tools(body);
    p.tool_mode = tool_mode(f, body)?;
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
    p.json_schema = body
        .pointer("/response_format/json_schema/schema")
        .filter(|_| {
            body.pointer("/response_format/type")
                .and_then(Value::as_str)
                == Some("json_schema")
        })
        .cloned();
    p.thinking = thinking(f, model, body);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let logprobs = body.get("logprobs").and_then(Value::as_bool) == Some(true);
    Ok(Parsed {
        prompt: p,
        stream,
        include_usage,
        logprobs,
    })
}

/// Counts the messages' text and finds the last user text and the trailing tool
/// results; an unknown role is an error.
fn read_messages(p: &mut Prompt, messages: &[Value]) -> Result<(), String> {
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
    Ok(())
}

/// The declared functions.
fn tools(body: &Value) -> Vec<ToolSpec> {
    body.get("tools")
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
        .unwrap_or_default()
}

/// `tool_choice`: a mode (Mistral also spells `required` as `any`) or a named function.
fn tool_mode(f: Format, body: &Value) -> Result<ToolMode, String> {
    Ok(match body.get("tool_choice") {
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
    })
}

/// Whether thinking is on: DeepSeek's `thinking` switch or a reasoner model, Qwen's
/// `enable_thinking`; the others never think.
fn thinking(f: Format, model: &str, body: &Value) -> bool {
    match f {
        Format::DeepSeek => {
            body.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled")
                || model.contains("reasoner")
        }
        Format::Qwen => body
            .get("enable_thinking")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        _ => false,
    }
}

/// The top-level fields Mistral accepts.
const MISTRAL_FIELDS: &[&str] = &[
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

/// Mistral rejects fields it does not know and tool ids that are not 9 alphanumerics.
fn mistral_schema_check(body: &Value) -> Option<HttpResponse> {
    let extra = |loc: Vec<Value>| {
        Some(HttpResponse::UnprocessableEntity().json(json!({
            "object": "error",
            "message": {"detail": [{"type": "extra_forbidden", "loc": loc, "msg": "Extra inputs are not permitted"}]},
            "type": "invalid_request_error", "param": null, "code": null
        })))
    };
    for key in body.as_object()?.keys() {
        if !MISTRAL_FIELDS.contains(&key.as_str()) {
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

/// An error in the provider's body shape (Mistral's and Qwen's differ from OpenAI's).
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

/// The provider's answer to a failure the knobs inject.
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
            insert_headers(
                &mut resp,
                [
                    ("retry-after", retry_after_s.to_string()),
                    ("x-ratelimit-remaining-requests", "0".to_owned()),
                    ("x-ratelimit-reset-requests", format!("{retry_after_s}s")),
                ],
            );
            resp
        }
        Injected::Garbage => garbage(),
    }
}
