//! OpenAI-family adapter tests: request, response, stream, error and usage mapping for
//! each quirk set, against transcripts modelled on shared/reference/providers.md.

use serde_json::{Value, json};

use super::*;
use crate::adapters::{deepseek::DEEPSEEK, mistral::MISTRAL, qwen::QWEN};
use crate::canonical::StreamEvent;
use crate::canonical::request::parse_request;
use crate::config::ModelConfig;

fn model(kind: crate::config::ProviderKind, upstream: &str) -> ModelConfig {
    ModelConfig::standalone(kind, "http://up/v1", upstream, 100)
}

fn build(adapter: &OpenAiFamily, req: Value) -> (String, Value) {
    let req = parse_request(req.to_string().as_bytes()).unwrap();
    let m = model(crate::config::ProviderKind::Openai, "up-model");
    let up = adapter
        .build_request(&req, &m, &Secret::new("sk-test-key"))
        .unwrap();
    let auth = up.headers[0].1.to_str().unwrap().to_owned();
    assert_eq!(auth, "Bearer sk-test-key");
    assert!(!up.url.contains("sk-test-key"));
    (up.url, serde_json::from_slice(&up.body).unwrap())
}

fn conversation() -> Value {
    json!({
        "model": "m", "stream": true, "seed": 7, "max_tokens": 50, "user": "u-1",
        "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Weather in SF?", "name": "alice"},
            {"role": "assistant", "content": null, "reasoning_content": "thinking…",
             "tool_calls": [{"id": "call_0fypS1hVX", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_0fypS1hVX", "content": "17C"}
        ]
    })
}

#[test]
fn openai_request_uses_max_completion_tokens_and_developer_role() {
    let (url, body) = build(&OPENAI, conversation());
    assert_eq!(url, "http://up/v1/chat/completions");
    assert_eq!(body["model"], "up-model");
    assert_eq!(body["max_completion_tokens"], 50);
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["messages"][0]["role"], "developer");
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["tool_choice"], "required");
    assert_eq!(body["seed"], 7);
    assert_eq!(body["user"], "u-1");
    assert!(body["messages"][2].get("reasoning_content").is_none());
    assert_eq!(body["messages"][2]["content"], Value::Null);
}

#[test]
fn mistral_request_follows_its_strict_schema() {
    let (_, body) = build(&MISTRAL, conversation());
    assert_eq!(body["random_seed"], 7);
    assert!(body.get("seed").is_none());
    assert!(body.get("user").is_none());
    assert!(body.get("stream_options").is_none());
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["tool_choice"], "any");
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(body["messages"][1].get("name").is_none());
    let call_id = body["messages"][2]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(call_id.len(), 9);
    assert_eq!(body["messages"][3]["tool_call_id"], call_id);
}

#[test]
fn deepseek_and_qwen_switch_thinking_their_own_way() {
    let mut req = conversation();
    req["reasoning_effort"] = json!("medium");
    let (_, ds) = build(&DEEPSEEK, req.clone());
    assert_eq!(ds["thinking"], json!({"type": "enabled"}));
    assert_eq!(ds["reasoning_effort"], "high");
    assert_eq!(ds["messages"][2]["reasoning_content"], "thinking…");
    let (_, qw) = build(&QWEN, req);
    assert_eq!(qw["enable_thinking"], true);
    assert!(qw.get("reasoning_effort").is_none());
}

fn decode(adapter: &OpenAiFamily, transcript: &str) -> Result<Vec<StreamEvent>, UpstreamError> {
    let mut d = adapter.stream_decoder();
    let mut out = Vec::new();
    // Feed in small pieces to exercise frame reassembly.
    for piece in transcript.as_bytes().chunks(7) {
        d.decode(piece, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

#[test]
fn deepseek_thinking_stream_with_usage_on_finish_chunk() {
    let t = concat!(
        ": keep-alive\n\n",
        "data: {\"id\":\"1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"Hmm\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\",\"reasoning_content\":null},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning_content\":null},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":6,\"completion_tokens\":212,\"total_tokens\":218,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":{\"reasoning_tokens\":198},\"prompt_cache_hit_tokens\":2,\"prompt_cache_miss_tokens\":4}}\n\n",
        "data: [DONE]\n\n"
    );
    let ev = decode(&DEEPSEEK, t).unwrap();
    assert_eq!(
        ev,
        vec![
            StreamEvent::Reasoning("Hmm".into()),
            StreamEvent::Text("Hello".into()),
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Usage(Usage {
                prompt_tokens: 6,
                completion_tokens: 212,
                cached_tokens: 2,
                reasoning_tokens: 198,
                ..Usage::default()
            }),
        ]
    );
}

#[test]
fn qwen_continuation_deltas_with_empty_id_keep_the_real_id() {
    let t = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_eee1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}],\"role\":\"assistant\"},\"finish_reason\":null,\"index\":0}],\"object\":\"chat.completion.chunk\",\"usage\":null}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"\",\"type\":\"function\",\"function\":{\"arguments\":\"{\\\"location\\\": \"}}]},\"finish_reason\":null,\"index\":0}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"\",\"type\":\"function\",\"function\":{\"arguments\":\"\\\"SF\\\"}\"}}]},\"index\":0}]}\n\n",
        "data: {\"choices\":[{\"finish_reason\":\"tool_calls\",\"delta\":{},\"index\":0}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":295,\"completion_tokens\":22,\"total_tokens\":317}}\n\n",
        "data: [DONE]\n\n"
    );
    let ev = decode(&QWEN, t).unwrap();
    assert_eq!(
        ev[0],
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_eee1".into(),
            name: "weather".into()
        }
    );
    let args: String = ev
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallArgs {
                index: 0,
                arguments,
            } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(args, "{\"location\": \"SF\"}");
    assert!(ev.contains(&StreamEvent::Finish(FinishReason::ToolCalls)));
    assert!(matches!(ev.last(), Some(StreamEvent::Usage(u)) if u.prompt_tokens == 295));
}

#[test]
fn mistral_whole_tool_calls_without_index_become_separate_calls() {
    let t = concat!(
        "data: {\"id\":\"b399\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"b399\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":[{\"id\":\"gSIMJiOkT\",\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"location\\\": \\\"Paris\\\"}\"}},{\"id\":\"hTJNKjPlU\",\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"location\\\": \\\"Rome\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":124,\"total_tokens\":146,\"completion_tokens\":22},\"p\":\"abc\"}\n\n",
        "data: [DONE]\n\n"
    );
    let ev = decode(&MISTRAL, t).unwrap();
    let starts: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, id, .. } => Some((*index, id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![(0, "gSIMJiOkT".into()), (1, "hTJNKjPlU".into())]
    );
    assert!(ev.contains(&StreamEvent::ToolCallArgs {
        index: 1,
        arguments: "{\"location\": \"Rome\"}".into()
    }));
}

#[test]
fn a_stream_cut_before_the_finish_is_an_error() {
    let t = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    let e = decode(&OPENAI, t).unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
    let e = decode(
        &OPENAI,
        "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}}\n\n",
    )
    .unwrap_err();
    assert!(e.is_retryable());
}

#[test]
fn responses_parse_reasoning_cache_and_content_arrays() {
    let ds = br#"

{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","reasoning_content":"Hmm"},"finish_reason":"stop"}],
 "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_cache_hit_tokens":4,"prompt_cache_miss_tokens":6}}"#;
    let c = DEEPSEEK.parse_response(ds).unwrap();
    assert_eq!(c.message.content.as_deref(), Some("Hi"));
    assert_eq!(c.message.reasoning_content.as_deref(), Some("Hmm"));
    assert_eq!(c.usage.cached_tokens, 4);
    let mi = br#"{"id":"y","choices":[{"index":0,"message":{"role":"assistant","tool_calls":null,
        "content":[{"type":"thinking","thinking":[{"type":"text","text":"Let me add."}],"closed":true},{"type":"text","text":"323"}]},
        "finish_reason":"model_length"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let c = MISTRAL.parse_response(mi).unwrap();
    assert_eq!(c.message.content.as_deref(), Some("323"));
    assert_eq!(c.message.reasoning_content.as_deref(), Some("Let me add."));
    assert_eq!(c.finish_reason, FinishReason::Length);
    let e = OPENAI.parse_response(b"<html>").unwrap_err();
    assert_eq!(e.class, ErrorClass::BadResponse);
}

#[test]
fn error_bodies_map_to_classes_with_the_provider_reason() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", "20".parse().unwrap());
    let e = OPENAI.map_error(429, &h, br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#);
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(20)));
    assert_eq!(e.message, "Rate limit reached");
    let e = OPENAI.map_error(429, &HeaderMap::new(), br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#);
    assert_eq!(e.class, ErrorClass::Billing);
    assert!(!e.is_retryable());
    let e = MISTRAL.map_error(422, &HeaderMap::new(), br#"{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","user"],"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_error","param":null,"code":null}"#);
    assert_eq!(e.class, ErrorClass::InvalidRequest);
    assert!(e.message.contains("extra_forbidden"));
    let e = QWEN.map_error(400, &HeaderMap::new(), br#"{"error":{"code":"data_inspection_failed","param":null,"message":"Input data may contain inappropriate content.","type":"data_inspection_failed"},"id":"c"}"#);
    assert_eq!(e.class, ErrorClass::ContentFilter);
    let e = DEEPSEEK.map_error(402, &HeaderMap::new(), br#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#);
    assert_eq!(e.class, ErrorClass::Billing);
    let e = OPENAI.map_error(502, &HeaderMap::new(), b"<html>bad gateway</html>");
    assert_eq!(
        (e.class, e.message.as_str()),
        (ErrorClass::Server, "HTTP 502")
    );
}

/// Issue 22: a 400 the client caused keeps the provider's `type`, `param` and `code`
/// all the way to the client's error body; errors the gateway's side caused do not.
#[test]
fn client_errors_pass_type_param_and_code_through() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openai/error_unsupported_parameter.json"
    );
    let body = std::fs::read(path).unwrap();
    let mut e = OPENAI.map_error(400, &HeaderMap::new(), &body);
    assert_eq!(e.class, ErrorClass::InvalidRequest);
    e.provider = "openai".into();
    let error = crate::error::GatewayError::Upstream(e);
    let client = error.body();
    let client = serde_json::to_value(&client).unwrap();
    assert_eq!(
        client,
        json!({"error": {
            "message": "openai rejected the request: Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }})
    );
    // No fields in the body: the gateway's own defaults.
    let e = OPENAI.map_error(400, &HeaderMap::new(), br#"{"error":{"message":"bad"}}"#);
    let error = crate::error::GatewayError::Upstream(e);
    let client = error.body();
    assert_eq!(
        (client.error.kind, client.error.param, client.error.code),
        ("invalid_request_error", None, None)
    );
    // Not the client's fault: the provider's type and code stay behind.
    let e = OPENAI.map_error(
        429,
        &HeaderMap::new(),
        br#"{"error":{"message":"Rate limit reached","type":"requests","param":"x","code":"rate_limit_exceeded_custom"}}"#,
    );
    let error = crate::error::GatewayError::Upstream(e);
    let client = error.body();
    assert_eq!(
        (client.error.kind, client.error.param, client.error.code),
        ("rate_limit_error", None, Some("rate_limit_exceeded"))
    );
}
