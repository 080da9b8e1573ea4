//! Simulated Gemini tests, checked against shared/reference/providers.md §4 (not
//! against our adapter): routes and auth, request parsing, the recorded rendering.

use std::sync::Arc;

use actix_web::body::to_bytes;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use super::*;
use crate::mock::{Format, MockState};

fn provider() -> Arc<MockProvider> {
    MockState::new(&[("gemini", Format::Gemini)])
        .provider("gemini")
        .cloned()
        .unwrap()
}

async fn call(method: &str, uri: &str, key: Option<&str>, body: Value) -> (u16, String, String) {
    let mut req = TestRequest::default()
        .method(method.parse().unwrap())
        .uri(uri);
    if let Some(k) = key {
        req = req.insert_header(("x-goog-api-key", k));
    }
    let req = req.to_http_request();
    let path = req.path().strip_prefix("/gemini").unwrap().to_owned();
    let resp = handle(provider(), &req, &path, body.to_string().as_bytes()).await;
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = to_bytes(resp.into_body()).await.unwrap_or_default();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "Hi there"}]}]})
}

#[actix_web::test]
async fn a_missing_key_is_a_400_api_key_invalid() {
    let (status, _, body) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        None,
        hello(),
    )
    .await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
    // `?key=` works too.
    let (status, _, _) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=AIza",
        None,
        hello(),
    )
    .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn non_stream_answer_has_the_recorded_shape_and_spacing() {
    let (status, ctype, body) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        Some("AIza"),
        hello(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"));
    assert!(body.starts_with(r#"{"candidates": [{"content": {"parts": [{"text": "Hello from gemini-2.5-flash. You said: Hi there"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": "#), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert!(v["responseId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        v["usageMetadata"]["promptTokensDetails"][0]["modality"],
        "TEXT"
    );
}

#[actix_web::test]
async fn sse_stream_uses_crlf_no_terminator_and_last_usage_differs() {
    let (status, ctype, body) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        Some("AIza"),
        hello(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"));
    assert!(body.ends_with("}\r\n\r\n"));
    assert!(!body.contains("[DONE]"));
    let chunks: Vec<Value> = body
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(chunks.len() > 2);
    let last = chunks.last().unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"],
        json!([{"text": ""}])
    );
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(chunks.iter().all(|c| c.get("usageMetadata").is_some()));
    assert_ne!(
        chunks[0]["usageMetadata"]["promptTokenCount"],
        last["usageMetadata"]["promptTokenCount"]
    );
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
}

#[actix_web::test]
async fn without_alt_sse_the_stream_is_one_json_array() {
    let (_, ctype, body) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        Some("AIza"),
        hello(),
    )
    .await;
    assert!(ctype.starts_with("application/json"));
    assert!(body.starts_with("[{") && body.ends_with("}\n]") && body.contains("}\n,\r\n{"));
    let chunks: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(chunks.len() > 2);
}

fn weather_request(extra: Value) -> Value {
    let mut req = json!({
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]
    });
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    req
}

#[actix_web::test]
async fn function_calls_have_no_id_and_a_signature_on_the_first() {
    let (_, _, body) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        Some("AIza"),
        weather_request(json!({})),
    )
    .await;
    let events: Vec<&str> = body.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 2, "{body}");
    assert!(events[0].contains(r#"{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": ""#));
    let v: Value = serde_json::from_str(events[0].strip_prefix("data: ").unwrap()).unwrap();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p["functionCall"].get("id").is_none()));
    assert!(parts[1].get("thoughtSignature").is_none());
    assert!(events[1].contains(r#""finishReason": "STOP""#));
}

#[test]
fn parsing_follows_the_reference() {
    let named = weather_request(
        json!({"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {"maxOutputTokens": 5, "responseMimeType": "application/json", "thinkingConfig": {"includeThoughts": true}}}),
    );
    let p = parse("gemini-2.5-pro", &named).unwrap();
    assert_eq!(p.tool_mode, ToolMode::Named("get_weather".into()));
    assert_eq!(
        (p.max_tokens, p.json_mode, p.thinking),
        (Some(5), true, true)
    );
    assert_eq!(p.tools[0].parameters["required"], json!(["city"]));
    let results = json!({"contents": [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}},
                                   {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}]}
    ]});
    let p = parse("gemini-3-pro-preview", &results).unwrap();
    assert_eq!(
        p.tool_results,
        vec!["18C".to_owned(), r#"{"temp":20}"#.to_owned()]
    );
    assert_eq!(p.last_user, "Weather in Paris?");
}

#[test]
fn parsing_rejects_what_gemini_rejects() {
    let cases = [
        (
            "gemini-2.5-flash",
            json!({"contents": []}),
            "contents is not specified",
        ),
        (
            "gemini-2.5-flash",
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "valid role",
        ),
        (
            "gemini-2.5-flash",
            json!({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "17C"}}]}]}),
            "function_response.response",
        ),
        (
            "gemini-3-pro-preview",
            json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}]}),
            "missing a thought_signature",
        ),
        (
            "gemini-2.5-flash",
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"frequencyPenalty": 0.5}}),
            "Penalty is not enabled",
        ),
        (
            "gemini-2.5-flash",
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
            "function_calling_config.mode",
        ),
    ];
    for (model, body, needle) in cases {
        let err = parse(model, &body).unwrap_err();
        assert!(err.contains(needle), "{err}");
    }
}

#[actix_web::test]
async fn blocked_prompts_have_no_candidates() {
    let req = json!({"contents": [{"role": "user", "parts": [{"text": "Tell me [[blocked]]"}]}]});
    let (status, _, body) = call(
        "POST",
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        Some("AIza"),
        req,
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("candidates").is_none());
    assert_eq!(v["promptFeedback"]["blockReason"], "SAFETY");
    assert!(v["usageMetadata"].get("candidatesTokenCount").is_none());
}

#[actix_web::test]
async fn heartbeat_pages_and_injected_failures_speak_gemini() {
    let (status, _, body) = call(
        "GET",
        "/gemini/v1beta/models?pageSize=1",
        Some("AIza"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["models"].as_array().unwrap().len(), 1);
    assert!(
        v["models"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("models/")
    );
    assert!(v.get("nextPageToken").is_some());
    let resp = injected_error(Injected::RateLimited { retry_after_s: 3 });
    assert_eq!(resp.status().as_u16(), 429);
    let v: Value = serde_json::from_slice(&to_bytes(resp.into_body()).await.unwrap()).unwrap();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(v["error"]["details"][2]["retryDelay"], "3s");
    for (inj, status, rpc) in [
        (Injected::Overloaded, 503, "UNAVAILABLE"),
        (Injected::Server(500), 500, "INTERNAL"),
        (Injected::Outage, 503, "UNAVAILABLE"),
    ] {
        let resp = injected_error(inj);
        assert_eq!(resp.status().as_u16(), status);
        let v: Value = serde_json::from_slice(&to_bytes(resp.into_body()).await.unwrap()).unwrap();
        assert_eq!(v["error"]["status"], rpc);
    }
    let resp = injected_error(Injected::Garbage);
    assert_eq!(resp.status().as_u16(), 200);
}
