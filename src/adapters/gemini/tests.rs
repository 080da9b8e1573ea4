//! Gemini adapter tests: golden request mapping against tests/fixtures/gemini, response
//! and usage mapping, the thoughtSignature round trip, and every error class. Stream
//! transcripts are in `tests/stream.rs`.

mod stream;

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::*;
use crate::canonical::request::parse_request;
use crate::config::ProviderKind;
use crate::error::ErrorClass;

const BASE: &str = "https://generativelanguage.googleapis.com/v1beta";

fn model(upstream: &str) -> ModelConfig {
    ModelConfig::standalone(ProviderKind::Gemini, BASE, upstream, 8192)
}

/// Builds the upstream request; checks the key is in the header and nowhere else.
fn build(req: &Value) -> (String, Value) {
    let parsed = parse_request(req.to_string().as_bytes()).unwrap();
    let upstream = req["model"].as_str().unwrap();
    let up = GEMINI
        .build_request(&parsed, &model(upstream), &Secret::new("AIza-test-key"))
        .unwrap();
    assert_eq!(up.headers.len(), 1);
    assert_eq!(up.headers[0].0.as_str(), "x-goog-api-key");
    assert_eq!(up.headers[0].1.to_str().unwrap(), "AIza-test-key");
    assert!(up.headers[0].1.is_sensitive());
    assert!(!up.url.contains("AIza-test-key"));
    (up.url, serde_json::from_slice(&up.body).unwrap())
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "conversation.request" => {
            include_str!("../../../tests/fixtures/gemini/conversation.request.json")
        }
        "conversation.gemini" => {
            include_str!("../../../tests/fixtures/gemini/conversation.gemini.json")
        }
        "minimal.request" => include_str!("../../../tests/fixtures/gemini/minimal.request.json"),
        "minimal.gemini" => include_str!("../../../tests/fixtures/gemini/minimal.gemini.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

#[test]
fn golden_conversation_request() {
    let (url, body) = build(&fixture("conversation.request"));
    assert_eq!(
        url,
        format!("{BASE}/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    );
    assert_eq!(body, fixture("conversation.gemini"));
}

#[test]
fn golden_minimal_request_has_no_empty_sections() {
    let (url, body) = build(&fixture("minimal.request"));
    assert_eq!(url, format!("{BASE}/models/gemini-2.5-pro:generateContent"));
    assert_eq!(body, fixture("minimal.gemini"));
}

fn with(extra: Value) -> Value {
    let mut req = json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    });
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    req
}

#[test]
fn tool_choice_maps_to_function_calling_modes() {
    for (choice, expected) in [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "get_weather"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ),
    ] {
        let (_, body) = build(&with(json!({ "tool_choice": choice })));
        assert_eq!(body["toolConfig"]["functionCallingConfig"], expected);
    }
    let (_, body) = build(&with(json!({})));
    assert!(body.get("toolConfig").is_none());
}

#[test]
fn json_object_and_reasoning_effort_per_model_generation() {
    let (_, body) = build(&with(json!({"response_format": {"type": "json_object"}})));
    assert_eq!(
        body["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
    let cases = [
        (
            "gemini-2.5-flash",
            "none",
            json!({"thinkingBudget": 0, "includeThoughts": false}),
        ),
        (
            "gemini-2.5-pro",
            "minimal",
            json!({"thinkingBudget": 128, "includeThoughts": false}),
        ),
        (
            "gemini-2.5-flash",
            "high",
            json!({"thinkingBudget": 24576, "includeThoughts": true}),
        ),
        (
            "gemini-3-pro-preview",
            "medium",
            json!({"thinkingLevel": "HIGH", "includeThoughts": true}),
        ),
        (
            "gemini-3-flash-preview",
            "minimal",
            json!({"thinkingLevel": "MINIMAL", "includeThoughts": false}),
        ),
    ];
    for (m, effort, expected) in cases {
        let (_, body) = build(&with(json!({"model": m, "reasoning_effort": effort})));
        assert_eq!(
            body["generationConfig"]["thinkingConfig"], expected,
            "{m} {effort}"
        );
    }
    let (_, body) = build(&with(json!({"reasoning_effort": "turbo"})));
    assert!(body.get("generationConfig").is_none());
}

#[test]
fn history_gemini_cannot_express_is_a_client_error() {
    let orphan = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "tool", "tool_call_id": "call_nowhere", "content": "x"}
    ]});
    let bad_args = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}
    ]});
    let ftp = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}
    ]});
    for (req, param) in [
        (orphan, "messages[1].tool_call_id"),
        (bad_args, "messages[1].tool_calls[0].function.arguments"),
        (ftp, "messages[0].content[0].image_url.url"),
    ] {
        let parsed = parse_request(req.to_string().as_bytes()).unwrap();
        let err = GEMINI
            .build_request(&parsed, &model("gemini-2.5-flash"), &Secret::new("k"))
            .unwrap_err();
        match err {
            GatewayError::InvalidRequest { param: p, .. } => assert_eq!(p.as_deref(), Some(param)),
            other => panic!("expected a 400, got {other:?}"),
        }
    }
}

#[test]
fn heartbeat_lists_one_model_with_the_header_key() {
    let m = model("gemini-2.5-flash");
    let up = GEMINI.heartbeat_request(&m.provider, &Secret::new("AIza-k"));
    assert_eq!(up.url, format!("{BASE}/models?pageSize=1"));
    assert!(up.body.is_empty());
    assert_eq!(up.headers[0].0.as_str(), "x-goog-api-key");
}

#[test]
fn text_thoughts_and_usage_map_to_the_openai_shape() {
    let body = br#"{"candidates": [{"content": {"parts": [{"text": "Let me think.","thought": true},{"text": "Mexico City."}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 57,"candidatesTokenCount": 15,"thoughtsTokenCount": 111,"cachedContentTokenCount": 20,"toolUsePromptTokenCount": 3,"totalTokenCount": 186},"modelVersion": "gemini-2.5-pro","responseId": "SVd8"}"#;
    let c = GEMINI.parse_response(body).unwrap();
    assert_eq!(c.message.content.as_deref(), Some("Mexico City."));
    assert_eq!(
        c.message.reasoning_content.as_deref(),
        Some("Let me think.")
    );
    assert_eq!(c.finish_reason, FinishReason::Stop);
    assert_eq!(
        c.usage,
        Usage {
            prompt_tokens: 60,
            completion_tokens: 126,
            cached_tokens: 20,
            reasoning_tokens: 111,
            ..Usage::default()
        }
    );
}

#[test]
fn function_calls_become_tool_calls_with_synthesized_ids() {
    let body = br#"{"candidates": [{"content": {"role": "model","parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": "Ct8D+x/y=="},{"functionCall": {"name": "get_weather","args": {"city": "Rome"}}}]},"finishReason": "STOP","finishMessage": "Model generated function call(s).","index": 0}],"usageMetadata": {"promptTokenCount": 29,"totalTokenCount": 29}}"#;
    let c = GEMINI.parse_response(body).unwrap();
    assert_eq!(c.finish_reason, FinishReason::ToolCalls);
    assert_eq!(c.message.content, None);
    let calls = &c.message.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].function.arguments, r#"{"city": "Paris"}"#);
    assert_ne!(calls[0].id, calls[1].id);
    assert_eq!(
        call_id::signature(&calls[0].id).as_deref(),
        Some("Ct8D+x/y==")
    );
    assert_eq!(call_id::signature(&calls[1].id), None);
    assert_eq!(c.usage.completion_tokens, 0);
}

#[test]
fn thought_signature_round_trips_through_a_stateless_client() {
    let sig = "EuYDCuMDAdHtim9+/long/signature==";
    let first = format!(
        r#"{{"candidates": [{{"content": {{"parts": [{{"functionCall": {{"name": "get_country","args": {{}}}},"thoughtSignature": "{sig}"}}],"role": "model"}},"finishReason": "STOP","index": 0}}]}}"#
    );
    let c = GEMINI.parse_response(first.as_bytes()).unwrap();
    let call = &c.message.tool_calls[0];
    // The client echoes the call and answers it, knowing nothing but the id.
    let next = json!({"model": "gemini-3-pro-preview", "messages": [
        {"role": "user", "content": "Which country?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call.id, "content": "France"}
    ]});
    let (_, body) = build(&next);
    let model_part = &body["contents"][1]["parts"][0];
    assert_eq!(model_part["thoughtSignature"], sig);
    assert_eq!(
        model_part["functionCall"],
        json!({"name": "get_country", "args": {}})
    );
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "get_country", "response": {"result": "France"}})
    );
}

#[test]
fn finish_reasons_blocks_and_broken_answers() {
    let finish = |reason: &str| {
        let body = format!(
            r#"{{"candidates": [{{"content": {{"parts": [{{"text": "abc"}}],"role": "model"}},"finishReason": "{reason}","index": 0}}]}}"#
        );
        GEMINI.parse_response(body.as_bytes())
    };
    assert_eq!(
        finish("MAX_TOKENS").unwrap().finish_reason,
        FinishReason::Length
    );
    for r in [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
    ] {
        assert_eq!(
            finish(r).unwrap().finish_reason,
            FinishReason::ContentFilter,
            "{r}"
        );
    }
    for r in ["LANGUAGE", "OTHER", "FINISH_REASON_UNSPECIFIED", "NO_IMAGE"] {
        assert_eq!(finish(r).unwrap().finish_reason, FinishReason::Stop, "{r}");
    }
    let e = finish("MALFORMED_FUNCTION_CALL").unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    // A candidate blocked mid-generation may have no content at all.
    let c = GEMINI
        .parse_response(br#"{"candidates": [{"finishReason": "SAFETY","index": 0}]}"#)
        .unwrap();
    assert_eq!(
        (c.finish_reason, c.message.content.as_deref()),
        (FinishReason::ContentFilter, Some(""))
    );
    // A blocked prompt has no candidates at all.
    let c = GEMINI
        .parse_response(br#"{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 12}}"#)
        .unwrap();
    assert_eq!(c.finish_reason, FinishReason::ContentFilter);
    assert_eq!(c.message.content.as_deref(), Some(""));
    assert_eq!(c.usage.prompt_tokens, 12);
    for garbage in [&b"<html>502</html>"[..], b"{}"] {
        assert_eq!(
            GEMINI.parse_response(garbage).unwrap_err().class,
            ErrorClass::BadResponse
        );
    }
}

fn err(status: u16, body: &str) -> UpstreamError {
    GEMINI.map_error(status, &HeaderMap::new(), body.as_bytes())
}

#[test]
fn error_bodies_map_to_classes() {
    let key = r#"{"error": {"code": 400,"message": "API key not valid. Please pass a valid API key.","status": "INVALID_ARGUMENT","details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo","reason": "API_KEY_INVALID","domain": "googleapis.com"}]}}"#;
    let cases = [
        (
            400,
            r#"{"error": {"code": 400,"message": "Penalty is not enabled for models/gemini-2.5-flash","status": "INVALID_ARGUMENT"}}"#,
            ErrorClass::InvalidRequest,
        ),
        (400, key, ErrorClass::Auth),
        (
            400,
            r#"{"error": {"code": 400,"message": "API key not valid.","status": "INVALID_ARGUMENT"}}"#,
            ErrorClass::Auth,
        ),
        (
            400,
            r#"{"error": {"code": 400,"message": "User location is not supported for the API use without a billing account linked.","status": "FAILED_PRECONDITION"}}"#,
            ErrorClass::Billing,
        ),
        (
            400,
            r#"{"error": {"code": 400,"message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status": "INVALID_ARGUMENT"}}"#,
            ErrorClass::ContextLength,
        ),
        (
            403,
            r#"{"error": {"code": 403,"message": "Method doesn't allow unregistered callers.","status": "PERMISSION_DENIED"}}"#,
            ErrorClass::Auth,
        ),
        (
            404,
            r#"{"error": {"code": 404,"message": "models/gemini-9 is not found for API version v1beta","status": "NOT_FOUND"}}"#,
            ErrorClass::NotFound,
        ),
        (
            500,
            r#"{"error": {"code": 500,"message": "An internal error has occurred.","status": "INTERNAL"}}"#,
            ErrorClass::Server,
        ),
        (
            503,
            r#"{"error": {"code": 503,"message": "The model is overloaded. Please try again later.","status": "UNAVAILABLE"}}"#,
            ErrorClass::Overloaded,
        ),
        (
            504,
            r#"{"error": {"code": 504,"message": "Deadline exceeded","status": "DEADLINE_EXCEEDED"}}"#,
            ErrorClass::Timeout,
        ),
        // `streamGenerateContent` without `alt=sse` wraps its error in an array.
        (
            503,
            r#"[{"error": {"code": 503,"message": "overloaded","status": "UNAVAILABLE"}}]"#,
            ErrorClass::Overloaded,
        ),
    ];
    for (status, body, class) in cases {
        let e = err(status, body);
        assert_eq!(e.class, class, "{body}");
        assert_eq!(e.status, Some(status));
        assert!(!e.message.is_empty());
    }
    assert!(!err(400, key).is_retryable());
    let e = err(502, "<html>bad gateway</html>");
    assert_eq!(
        (e.class, e.message.as_str()),
        (ErrorClass::Server, "HTTP 502")
    );
}

#[test]
fn rate_limits_take_the_wait_from_retry_info_or_the_header() {
    let body = r#"{"error": {"code": 429,"message": "You exceeded your current quota.","status": "RESOURCE_EXHAUSTED","details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure","violations": []},{"@type": "type.googleapis.com/google.rpc.RetryInfo","retryDelay": "34.4s"}]}}"#;
    let e = err(429, body);
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.retry_after, Some(Duration::from_millis(34_400)));
    let mut h = HeaderMap::new();
    h.insert("retry-after", "7".parse().unwrap());
    let e = GEMINI.map_error(
        429,
        &h,
        br#"{"error": {"code": 429,"message": "Resource exhausted.","status": "RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
}

/// Issue 22: the recorded 429 carries its wait only in `RetryInfo.retryDelay`; it
/// becomes the error's `retry_after`, and the client's `Retry-After`.
#[test]
fn a_recorded_429_takes_its_wait_from_retry_info() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gemini/error_429_retry_info.json"
    );
    let body = std::fs::read(path).unwrap();
    let e = GEMINI.map_error(429, &HeaderMap::new(), &body);
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert!(e.is_retryable());
    assert_eq!(e.retry_after, Some(Duration::from_secs(34)));
    let resp = actix_web::ResponseError::error_response(&GatewayError::Upstream(e));
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "34");
}
