//! Anthropic adapter tests: golden request mapping against tests/fixtures/anthropic,
//! response and usage mapping, and the error classes. Stream transcripts are tested
//! beside the decoder, in `stream/tests.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::canonical::request::parse_request;
use crate::config::ModelConfig;
use crate::config::ProviderKind;

fn model() -> ModelConfig {
    let mut m = ModelConfig::standalone(
        ProviderKind::Anthropic,
        "https://api.anthropic.com",
        "claude-sonnet-4-5-20250929",
        8192,
    );
    m.name = "claude-sonnet-4-5".into();
    m
}

fn build(req: &Value) -> Result<UpstreamRequest, GatewayError> {
    let req = parse_request(req.to_string().as_bytes()).unwrap();
    req.validate().unwrap();
    ANTHROPIC.build_request(&req, &model(), &Secret::new("sk-ant-test"))
}

fn body(req: &Value) -> Value {
    serde_json::from_slice(&build(req).unwrap().body).unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// === request ===

#[test]
fn golden_requests_match_their_fixtures() {
    for name in [
        "request_tool_round_trip.json",
        "request_images_and_alternation.json",
        "request_thinking_and_schema.json",
    ] {
        let f: Value = serde_json::from_str(&fixture(name)).unwrap();
        assert_eq!(body(&f["canonical"]), f["anthropic"], "{name}");
    }
}

#[test]
fn request_goes_to_messages_with_key_and_version_headers() {
    let up =
        build(&json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})).unwrap();
    assert_eq!(up.url, "https://api.anthropic.com/v1/messages");
    let h: Vec<(&str, &str)> = up
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        h,
        vec![
            ("x-api-key", "sk-ant-test"),
            ("anthropic-version", "2023-06-01")
        ]
    );
    assert!(up.headers[0].1.is_sensitive());
    let hb = ANTHROPIC.heartbeat_request(&model().provider, &Secret::new("sk-ant-test"));
    assert_eq!(hb.url, "https://api.anthropic.com/v1/models?limit=1");
    assert!(hb.body.is_empty());
    assert_eq!(hb.headers.len(), 2);
}

#[test]
fn unparsable_tool_arguments_are_a_client_error_naming_the_message() {
    let req = json!({"model": "m", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{\"city\": "}}
        ]},
        {"role": "tool", "tool_call_id": "a", "content": "x"}
    ]});
    let err = build(&req).unwrap_err();
    let b = err.body();
    assert_eq!(err.kind(), "invalid_request");
    assert_eq!(
        b.error.param.as_deref(),
        Some("messages[1].tool_calls[1].function.arguments")
    );
    assert!(
        b.error.message.contains("not valid JSON"),
        "{}",
        b.error.message
    );
    let mut array = req.clone();
    array["messages"][1]["tool_calls"][1]["function"]["arguments"] = json!("[1]");
    let err = build(&array).unwrap_err();
    assert!(err.to_string().contains("must be a JSON object"));
}

#[test]
fn image_urls_that_are_neither_web_nor_data_are_rejected() {
    let req = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
    ]}]});
    // Validation refuses it first (canonical::validate); the adapter holds on its own.
    let req = parse_request(req.to_string().as_bytes()).unwrap();
    let err = ANTHROPIC
        .build_request(&req, &model(), &Secret::new("sk-ant-test"))
        .unwrap_err();
    assert_eq!(
        err.body().error.param.as_deref(),
        Some("messages[0].content[0].image_url.url")
    );
}

#[test]
fn tool_choice_variants_and_parallel_switch() {
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let with = |choice: Value, parallel: Value| {
        let mut req =
            json!({"model": "m", "tools": tools, "messages": [{"role": "user", "content": "Hi"}]});
        if !choice.is_null() {
            req["tool_choice"] = choice;
        }
        if !parallel.is_null() {
            req["parallel_tool_calls"] = parallel;
        }
        body(&req).get("tool_choice").cloned()
    };
    assert_eq!(with(Value::Null, Value::Null), None);
    assert_eq!(
        with(json!("none"), json!(false)),
        Some(json!({"type": "none"}))
    );
    assert_eq!(
        with(
            json!({"type": "function", "function": {"name": "f"}}),
            json!(false)
        ),
        Some(json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}))
    );
    assert_eq!(
        with(json!("required"), json!(true)),
        Some(json!({"type": "any"}))
    );
    assert_eq!(
        with(Value::Null, json!(false)),
        Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
    );
    // Without tools, a tool choice would be rejected upstream.
    let b = body(
        &json!({"model": "m", "tool_choice": "none", "messages": [{"role": "user", "content": "Hi"}]}),
    );
    assert!(b.get("tool_choice").is_none() && b.get("tools").is_none());
}

#[test]
fn thinking_needs_room_and_gives_way_to_forced_tools() {
    let base = json!({"model": "m", "reasoning_effort": "high", "temperature": 0.2,
        "messages": [{"role": "user", "content": "Hi"}]});
    // No client cap: the model's 8192 applies, the budget is capped at half of it.
    let b = body(&base);
    assert_eq!(b["max_tokens"], 8192);
    assert_eq!(
        b["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    assert!(b.get("temperature").is_none());
    let mut small = base.clone();
    small["max_tokens"] = json!(2000);
    let b = body(&small);
    assert!(b.get("thinking").is_none());
    assert_eq!(b["temperature"], 0.2);
    let mut none = base.clone();
    none["reasoning_effort"] = json!("minimal");
    assert!(body(&none).get("thinking").is_none());
    let mut forced = base.clone();
    forced["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    forced["tool_choice"] = json!("required");
    assert!(body(&forced).get("thinking").is_none());
}

#[test]
fn a_conversation_of_only_system_messages_still_has_a_user_turn() {
    let b = body(&json!({"model": "m", "messages": [{"role": "system", "content": "S"}]}));
    assert_eq!(b["system"], "S");
    assert_eq!(b["messages"], json!([{"role": "user", "content": "."}]));
}

// === response ===

#[test]
fn response_maps_blocks_stop_reason_and_cache_usage() {
    let raw = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
      "content":[{"type":"thinking","thinking":"Hmm.","signature":"sig"},
                 {"type":"text","text":"Let me check.","citations":null},
                 {"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}},
                 {"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{"city":"Paris"}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":412,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,
               "cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":0},
               "output_tokens":57,"output_tokens_details":{"thinking_tokens":9},"service_tier":"standard"}}"#;
    let c = ANTHROPIC.parse_response(raw).unwrap();
    assert_eq!(c.finish_reason, FinishReason::ToolCalls);
    assert_eq!(c.message.content.as_deref(), Some("Let me check."));
    assert_eq!(c.message.reasoning_content.as_deref(), Some("Hmm."));
    assert_eq!(c.message.tool_calls.len(), 1);
    assert_eq!(c.message.tool_calls[0].id, "toolu_01A");
    assert_eq!(
        serde_json::from_str::<Value>(&c.message.tool_calls[0].function.arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        c.usage,
        Usage {
            prompt_tokens: 2512,
            completion_tokens: 57,
            cached_tokens: 2000,
            cache_write_tokens: 100,
            reasoning_tokens: 9,
            estimated: false,
        }
    );
    let json = serde_json::to_value(c.usage).unwrap();
    assert_eq!(json["total_tokens"], 2569);
    assert_eq!(json["prompt_tokens_details"]["cache_write_tokens"], 100);
}

#[test]
fn refusal_without_blocks_is_content_filter_with_null_content() {
    let raw = br#"{"id":"msg_02","type":"message","role":"assistant","model":"m","content":[],
      "stop_reason":"refusal","stop_details":{"type":"refusal","category":"cyber","explanation":null},
      "usage":{"input_tokens":25,"output_tokens":0}}"#;
    let c = ANTHROPIC.parse_response(raw).unwrap();
    assert_eq!(c.finish_reason, FinishReason::ContentFilter);
    assert_eq!(c.message.content, None);
    assert_eq!(c.usage.prompt_tokens, 25);
}

#[test]
fn stop_reasons_follow_the_normalisation_table() {
    for (reason, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::StopSequence),
        ("pause_turn", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("something_new", FinishReason::Stop),
    ] {
        assert_eq!(finish_reason(reason), want, "{reason}");
        // OpenAI clients read a matched stop sequence as a plain stop.
        assert_eq!(
            want.as_str() == "stop",
            want == FinishReason::Stop || want == FinishReason::StopSequence
        );
    }
    for reason in [
        "end_turn",
        "stop_sequence",
        "max_tokens",
        "tool_use",
        "refusal",
    ] {
        assert_eq!(super::stop_reason(finish_reason(reason)), reason);
    }
}

#[test]
fn unparseable_or_error_bodies_on_200_are_upstream_errors() {
    let e = ANTHROPIC.parse_response(b"<html>oops</html>").unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    let e = ANTHROPIC
        .parse_response(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Overloaded);
}

// === errors ===

fn anthropic_error(kind: &str, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})
        .to_string()
        .into_bytes()
}

/// Maps one error answer and checks its class (naming the case) and status.
fn assert_maps_to(status: u16, headers: &HeaderMap, body: &[u8], class: ErrorClass) {
    let e = ANTHROPIC.map_error(status, headers, body);
    assert_eq!(e.class, class, "{status} {}", String::from_utf8_lossy(body));
    assert_eq!(e.status, Some(status));
}

/// One test per error class, each checking its `(status, error type, message)` cases:
/// the table of how Anthropic's error answers are classified.
macro_rules! classes {
    ($(
        $test:ident: $class:ident <= [$(($status:expr, $kind:expr, $message:expr)),+ $(,)?];
    )+) => {$(
        #[test]
        fn $test() {
            for (status, kind, message) in [$(($status, $kind, $message)),+] {
                let body = anthropic_error(kind, message);
                assert_maps_to(status, &HeaderMap::new(), &body, ErrorClass::$class);
            }
        }
    )+};
}

classes! {
    overloaded_529_is_overloaded: Overloaded <= [(529, "overloaded_error", "Overloaded")];
    billing_errors_are_billing_by_type_or_message: Billing <= [
        (402, "billing_error", "Payment required"),
        (400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
    ];
    key_and_permission_errors_are_auth: Auth <= [
        (401, "authentication_error", "invalid x-api-key"),
        (403, "permission_error", "Your API key does not have permission"),
    ];
    malformed_and_oversized_requests_are_invalid_requests: InvalidRequest <= [
        (400, "invalid_request_error", "max_tokens: Field required"),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
    ];
    a_too_long_prompt_is_context_length: ContextLength <= [
        (400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
    ];
    an_unknown_model_is_not_found: NotFound <= [(404, "not_found_error", "model: claude-x")];
    api_errors_are_server_errors: Server <= [(500, "api_error", "Internal server error")];
}

#[test]
fn rate_limit_429_is_rate_limited_with_its_wait() {
    let mut wait = HeaderMap::new();
    wait.insert("retry-after", "7".parse().unwrap());
    assert_maps_to(
        429,
        &wait,
        &anthropic_error(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        ErrorClass::RateLimited,
    );
    let e = ANTHROPIC.map_error(
        429,
        &wait,
        &anthropic_error("rate_limit_error", "slow down"),
    );
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(e.message, "slow down");
}

#[test]
fn an_unparseable_body_is_a_server_error_named_by_its_status() {
    let none = HeaderMap::new();
    assert_maps_to(502, &none, b"<html>bad gateway</html>", ErrorClass::Server);
    let e = ANTHROPIC.map_error(502, &none, b"<html>");
    assert_eq!(e.message, "HTTP 502");
}

#[test]
fn spend_limit_429_is_billing_and_ignores_retry_after() {
    let mut wait = HeaderMap::new();
    wait.insert("retry-after", "30".parse().unwrap());
    let body = json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": "You have reached your specified workspace API usage limits.",
        "details": {"error_code": "enforced_spend_limit_reached"}}});
    let e = ANTHROPIC.map_error(429, &wait, body.to_string().as_bytes());
    assert_eq!(e.class, ErrorClass::Billing);
    assert!(!e.is_retryable());
    assert_eq!(e.retry_after, None);
}
