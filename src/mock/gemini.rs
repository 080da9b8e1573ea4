//! The simulated Gemini provider (Generative Language API v1beta), written from
//! shared/reference/providers.md §4 rather than from our adapter.
//!
//! Routes, after `/{name}`: `POST /v1beta/models/{model}:generateContent`,
//! `POST /v1beta/models/{model}:streamGenerateContent` (SSE with `alt=sse`, events
//! separated by `\r\n\r\n` and no terminator; without it a streamed JSON array, as the
//! real API does) and `GET /v1beta/models` (the heartbeat). The key comes in
//! `x-goog-api-key` or `?key=`; a missing one is the real API's 400 `API_KEY_INVALID`.
//! Answers copy the recordings: `"key": value,"key2"` spacing, function calls without
//! ids but with a `thoughtSignature` (on the first call of a turn, as Gemini 3 does),
//! `usageMetadata` on every chunk with `promptTokenCount` changing on the last one,
//! the last chunk `{"text": ""}` plus `finishReason`, and a blocked prompt as a 200
//! without candidates. Gemini 3 models reject a replayed call without its signature.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

mod render;

use super::brain::{self, Prompt, ToolMode, ToolSpec};
use super::reply::{garbage, pause_whole};
use super::{Injected, Knobs, MockProvider, head_delay, pause, sse_response};
use render::Render;

/// Routes one request to the simulated Gemini provider.
pub async fn handle(
    p: Arc<MockProvider>,
    req: &HttpRequest,
    tail: &str,
    body: &[u8],
) -> HttpResponse {
    let query = req.query_string();
    let key = req
        .headers()
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query_param(query, "key"))
        .unwrap_or_default();
    if key.trim().is_empty() {
        return invalid_key();
    }
    let method = req.method();
    if tail == "/v1beta/models" && method == actix_web::http::Method::GET {
        if p.on_heartbeat() {
            return error(
                503,
                "UNAVAILABLE",
                "The service is currently unavailable.",
                vec![],
            );
        }
        return list_models(query_param(query, "pageSize"));
    }
    let call = tail
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.rsplit_once(':'))
        .filter(|(model, m)| {
            !model.is_empty() && matches!(*m, "generateContent" | "streamGenerateContent")
        });
    let Some((model, rpc)) = call.filter(|_| method == actix_web::http::Method::POST) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("Method not found: {method} {tail}"),
            vec![],
        );
    };
    let sse = query_param(query, "alt") == Some("sse");
    generate(p, model, rpc == "streamGenerateContent", sse, body).await
}

/// `generateContent` or `streamGenerateContent` (as SSE with `alt=sse`): counted,
/// validated as the real API does, then failed as the knobs say or answered after the
/// knobs' delays.
async fn generate(
    p: Arc<MockProvider>,
    model: &str,
    stream: bool,
    sse: bool,
    body: &[u8],
) -> HttpResponse {
    let (k, injected) = p.on_chat();
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("Invalid JSON payload received. {e}");
            return error(400, "INVALID_ARGUMENT", &msg, vec![]);
        }
    };
    let prompt = match parse(model, &body) {
        Ok(p) => p,
        Err(msg) => return error(400, "INVALID_ARGUMENT", &msg, vec![]),
    };
    if let Some(inj) = injected {
        pause(head_delay(&k)).await;
        return injected_error(inj);
    }
    let answer = brain::answer(&prompt);
    let r = Render {
        model,
        a: &answer,
        per_event: k.tokens_per_event,
    };
    if stream {
        pause(head_delay(&k)).await;
        stream_response(p, &k, r.chunks(), sse)
    } else {
        pause_whole(&k, &answer).await;
        HttpResponse::Ok()
            .content_type("application/json; charset=UTF-8")
            .body(r.whole())
    }
}

/// A stream's chunks as SSE events separated by `\r\n\r\n`, or without `alt=sse` as
/// one JSON array, `[{…}\n,\r\n{…}\n]`, streamed element by element.
fn stream_response(
    p: Arc<MockProvider>,
    k: &Knobs,
    chunks: Vec<String>,
    sse: bool,
) -> HttpResponse {
    if sse {
        let events = chunks
            .into_iter()
            .map(|c| Bytes::from(format!("data: {c}\r\n\r\n")))
            .collect();
        return sse_response(p, k, events);
    }
    let last = chunks.len().saturating_sub(1);
    let events = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let lead = if i == 0 { "[" } else { "\n,\r\n" };
            let end = if i == last { "\n]" } else { "" };
            Bytes::from(format!("{lead}{c}{end}"))
        })
        .collect();
    let mut resp = sse_response(p, k, events);
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `camelCase` or its `snake_case` spelling (the REST API accepts both).
fn field<'v>(v: &'v Value, camel: &str, snake: &str) -> Option<&'v Value> {
    v.get(camel).or_else(|| v.get(snake))
}

/// Validates the body like the real API and turns it into a prompt.
fn parse(model: &str, body: &Value) -> Result<Prompt, String> {
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let mut p = Prompt::new(model, "");
    p.text_chars = 0;
    p.messages = contents.len();
    if let Some(sys) = field(body, "systemInstruction", "system_instruction") {
        p.messages += 1;
        for part in parts_of(sys) {
            p.text_chars += part.get("text").and_then(Value::as_str).map_or(0, str::len);
        }
    }
    let needs_signature = model.starts_with("gemini-3");
    for (i, c) in contents.iter().enumerate() {
        let parts = parts_of(c);
        if parts.is_empty() {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ));
        }
        match c.get("role").and_then(Value::as_str).unwrap_or("user") {
            "user" => read_user_turn(&mut p, i, &parts)?,
            "model" => read_model_turn(&mut p, &parts, needs_signature)?,
            _ => return Err("Please use a valid role: user, model.".into()),
        }
    }
    p.tools = tools(body);
    p.tool_mode = tool_mode(body)?;
    if let Some(g) = field(body, "generationConfig", "generation_config") {
        read_generation_config(&mut p, model, g)?;
    }
    Ok(p)
}

fn parts_of(v: &Value) -> Vec<Value> {
    v.get("parts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A user turn: its text, or function responses (which must be JSON objects) as tool
/// results.
fn read_user_turn(p: &mut Prompt, i: usize, parts: &[Value]) -> Result<(), String> {
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            p.text_chars += t.len();
            text.push_str(t);
            p.tool_results.clear();
        } else if let Some(fr) = field(part, "functionResponse", "function_response") {
            let response = fr.get("response").unwrap_or(&Value::Null);
            if !response.is_object() {
                return Err(format!(
                    "Invalid value at 'contents[{i}].parts[{j}].function_response.response' (type.googleapis.com/google.protobuf.Struct), {response}"
                ));
            }
            let result = match response.get("result") {
                Some(Value::String(s)) => s.clone(),
                _ => response.to_string(),
            };
            p.text_chars += result.len();
            p.tool_results.push(result);
        }
    }
    if !text.is_empty() {
        p.last_user = text;
    }
    Ok(())
}

/// A model turn; Gemini 3 rejects one whose first function call lost its signature.
fn read_model_turn(p: &mut Prompt, parts: &[Value], needs_signature: bool) -> Result<(), String> {
    p.tool_results.clear();
    let first_call = parts
        .iter()
        .position(|part| field(part, "functionCall", "function_call").is_some());
    if let Some(j) = first_call {
        let signed = field(&parts[j], "thoughtSignature", "thought_signature")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if needs_signature && !signed {
            let name = parts[j]
                .pointer("/functionCall/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(format!(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                j + 1
            ));
        }
    }
    for part in parts {
        p.text_chars += part.get("text").and_then(Value::as_str).map_or(0, str::len);
    }
    Ok(())
}

/// Every function declaration of every tool.
fn tools(body: &Value) -> Vec<ToolSpec> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|d| {
            let parameters = field(d, "parametersJsonSchema", "parameters_json_schema")
                .or_else(|| d.get("parameters"))
                .cloned()
                .unwrap_or(json!({}));
            Some(ToolSpec {
                name: d.get("name")?.as_str()?.to_owned(),
                parameters,
            })
        })
        .collect()
}

/// `toolConfig.functionCallingConfig`: `ANY` with one allowed name forces that function.
fn tool_mode(body: &Value) -> Result<ToolMode, String> {
    let calling = field(body, "toolConfig", "tool_config")
        .and_then(|c| field(c, "functionCallingConfig", "function_calling_config"));
    Ok(
        match calling.and_then(|c| c.get("mode")).and_then(Value::as_str) {
            None | Some("AUTO" | "VALIDATED" | "MODE_UNSPECIFIED") => ToolMode::Auto,
            Some("NONE") => ToolMode::None,
            Some("ANY") => {
                let allowed = calling
                    .and_then(|c| field(c, "allowedFunctionNames", "allowed_function_names"))
                    .and_then(Value::as_array);
                match allowed.map(Vec::as_slice) {
                    Some([Value::String(name)]) => ToolMode::Named(name.clone()),
                    _ => ToolMode::Required,
                }
            }
            Some(other) => {
                return Err(format!(
                    "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"{other}\""
                ));
            }
        },
    )
}

/// `generationConfig`: the output cap, JSON mode, thoughts; penalties where rejected.
fn read_generation_config(p: &mut Prompt, model: &str, g: &Value) -> Result<(), String> {
    let penalty = field(g, "presencePenalty", "presence_penalty")
        .or_else(|| field(g, "frequencyPenalty", "frequency_penalty"));
    if penalty.is_some() && model.starts_with("gemini-2.5-flash") {
        // Recorded: penalties are rejected by some models.
        return Err(format!("Penalty is not enabled for models/{model}"));
    }
    p.max_tokens = field(g, "maxOutputTokens", "max_output_tokens")
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok());
    p.json_mode = field(g, "responseMimeType", "response_mime_type").and_then(Value::as_str)
        == Some("application/json");
    p.json_schema = field(g, "responseJsonSchema", "response_json_schema")
        .or_else(|| field(g, "responseSchema", "response_schema"))
        .filter(|_| p.json_mode)
        .cloned();
    p.thinking = field(g, "thinkingConfig", "thinking_config")
        .and_then(|t| field(t, "includeThoughts", "include_thoughts"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(())
}

// === errors ===

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: u16,
    message: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<Value>,
}

/// A Google RPC error, pretty-printed as Google sends it.
fn error(status: u16, rpc: &str, message: &str, details: Vec<Value>) -> HttpResponse {
    let body = ErrorBody {
        error: ErrorInner {
            code: status,
            message,
            status: rpc,
            details,
        },
    };
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json; charset=UTF-8")
        .body(text)
}

/// The real API's answer to a bad key: 400, not 401.
fn invalid_key() -> HttpResponse {
    error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        vec![
            json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                   "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}),
            json!({"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                   "message": "API key not valid. Please pass a valid API key."}),
        ],
    )
}

fn list_models(page_size: Option<&str>) -> HttpResponse {
    let all = [
        ("gemini-2.5-flash", "Gemini 2.5 Flash"),
        ("gemini-2.5-pro", "Gemini 2.5 Pro"),
        ("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
    ];
    let size = page_size
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(50);
    let models: Vec<Value> = all
        .iter()
        .take(size)
        .map(|(id, display)| {
            json!({
                "name": format!("models/{id}"), "version": "001", "displayName": display,
                "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
                "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": true
            })
        })
        .collect();
    let mut body = json!({ "models": models });
    if size < all.len() {
        body["nextPageToken"] = json!(format!("page-{size}"));
    }
    HttpResponse::Ok().json(body)
}

/// The real API's answer to a failure the knobs inject.
fn injected_error(inj: Injected) -> HttpResponse {
    match inj {
        Injected::Outage => error(
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            vec![],
        ),
        Injected::Overloaded | Injected::Server(503) => error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            vec![],
        ),
        Injected::Server(504) => error(
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
            vec![],
        ),
        Injected::Server(status) => error(
            status,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            vec![],
        ),
        Injected::RateLimited { retry_after_s } => error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
            vec![
                json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                    "quotaValue": "10"}]}),
                json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}),
                json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{retry_after_s}s")}),
            ],
        ),
        Injected::Garbage => garbage(),
    }
}

#[cfg(test)]
mod tests;
