//! Anthropic-specific behaviour end to end over real HTTP: an OpenAI client → the
//! gateway → the simulated Anthropic provider. The scenarios every provider shares
//! (chat, streams, tool round trips, max_tokens, 500/429/garbage, cut streams) are in
//! `conformance.rs`; here: `parallel_tool_calls: false`, usage (cache tokens) against
//! the mock's own numbers, 529 overloads, the mock's API checks and the heartbeat.

mod common;

use common::{TestEnv, send_json};
use serde_json::{Value, json};
use switchyard::config::ProviderKind;
use switchyard::config::{Config, Secret};
use switchyard::mock::Format;

const GATEWAY_KEY: &str = "sk-test-anthropic";
const MODEL: &str = "claude-haiku-4-5";

/// The gateway with the simulated Anthropic provider as its only candidate.
const CONFIG: &str = r#"
[dispatch]
retry_delay_ms = 1
max_attempts = 2

[providers.anthropic]
kind = "anthropic"
base_url = "http://{mock}/anthropic"
keys = [{ value = "sk-mock-anthropic" }]

[[models]]
name = "claude-haiku-4-5"
provider = "anthropic"
input_per_mtok_usd = 1.00
output_per_mtok_usd = 5.00
cached_input_per_mtok_usd = 0.10
context_window = 200000
max_output_tokens = 8192

[[keys]]
id = "test"
key = { value = "sk-test-anthropic" }
tenant = "test"
"#;

/// The simulated Anthropic provider and a gateway in front of it.
async fn start() -> TestEnv {
    TestEnv::start_with_providers(&[("anthropic", Format::Anthropic)], CONFIG).await
}

/// A chat call with the test key.
async fn chat(env: &TestEnv, body: &Value) -> reqwest::Response {
    env.chat_request_as(GATEWAY_KEY, body)
        .send()
        .await
        .expect("the gateway answers")
}

/// A non-stream chat call that must succeed; its JSON completion.
async fn chat_json(env: &TestEnv, body: &Value) -> Value {
    let (status, _, json) = send_json(env.chat_request_as(GATEWAY_KEY, body)).await;
    assert_eq!(status, 200);
    json
}

/// An Anthropic request sent straight to the mock, bypassing the gateway.
async fn direct(env: &TestEnv, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut rb = env
        .client
        .post(format!("{}/anthropic/v1/messages", env.mock_url))
        .json(body);
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    let resp = rb.send().await.expect("the mock answers");
    (
        resp.status().as_u16(),
        resp.json().await.expect("a JSON answer"),
    )
}

const AUTH: [(&str, &str); 2] = [
    ("x-api-key", "sk-mock-anthropic"),
    ("anthropic-version", "2023-06-01"),
];

/// The `data:` payloads of an OpenAI SSE body; `[DONE]` stays a string.
fn sse_data(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
        .collect()
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[actix_web::test]
async fn parallel_tool_calls_false_yields_one_call() {
    let s = start().await;
    let ask = json!({"model": MODEL, "tools": weather_tools(), "parallel_tool_calls": false,
        "messages": [{"role": "user", "content": "What is the weather in Paris and Rome?"}]});
    let single = chat_json(&s, &ask).await;
    let calls = single["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls");
    assert_eq!(calls.len(), 1, "{single}");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("toolu_"));
}

#[actix_web::test]
async fn usage_matches_what_the_provider_reported() {
    let s = start().await;
    let (status, reported) = direct(
        &s,
        &AUTH,
        &json!({"model": MODEL, "max_tokens": 8192, "system": "Be brief.",
                "messages": [{"role": "user", "content": "Count my tokens"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let u = &reported["usage"];
    let prompt = u["input_tokens"].as_u64().unwrap()
        + u["cache_creation_input_tokens"].as_u64().unwrap()
        + u["cache_read_input_tokens"].as_u64().unwrap();
    let output = u["output_tokens"].as_u64().unwrap();
    let request = json!({"model": MODEL, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Count my tokens"}
    ]});
    let body = chat_json(&s, &request).await;
    assert_eq!(body["usage"]["prompt_tokens"], prompt);
    assert_eq!(body["usage"]["completion_tokens"], output);
    assert_eq!(body["usage"]["total_tokens"], prompt + output);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    // The stream's usage (message_start input + cumulative message_delta) agrees.
    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let data = sse_data(&chat(&s, &streamed).await.text().await.unwrap());
    let usage = &data[data.len() - 2]["usage"];
    assert_eq!(usage, &body["usage"]);
}

#[actix_web::test]
async fn overloaded_anthropic_is_a_503_with_an_openai_error_body() {
    let s = start().await;
    s.mock_patch("anthropic", json!({"overload_rate": 1.0}))
        .await;
    let resp = chat(
        &s,
        &json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "2");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(body["error"]["code"], "upstream_overloaded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic is overloaded")
    );
    // Overload is retryable: both attempts reached the provider.
    assert_eq!(s.upstream_requests("anthropic").await, 2);
}

#[actix_web::test]
async fn the_mock_enforces_the_real_api_checks() {
    let s = start().await;
    let ok =
        json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]});
    let (status, body) = direct(&s, &AUTH[1..], &ok).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    let (status, body) = direct(&s, &AUTH[..1], &ok).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "anthropic-version: header is required"
    );
    let mut no_max = ok.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let (status, body) = direct(&s, &AUTH, &no_max).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "max_tokens: Field required");
    let mut system_role = ok.clone();
    system_role["messages"] =
        json!([{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]);
    assert_eq!(direct(&s, &AUTH, &system_role).await.0, 400);
    let mut orphan = ok.clone();
    orphan["messages"] = json!([
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_X", "content": "1"}]}
    ]);
    let (status, body) = direct(&s, &AUTH, &orphan).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected `tool_use_id` found in `tool_result` blocks: toolu_X")
    );
    let (status, body) = direct(
            &s,
            &AUTH,
            &json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "[[blocked]]"}]}),
        )
        .await;
    assert_eq!((status, &body["stop_reason"]), (200, &json!("refusal")));
    assert_eq!(body["content"], json!([]));
}

#[actix_web::test]
async fn the_adapter_heartbeat_reaches_the_mock_model_list() {
    let s = start().await;
    let config = Config::from_toml(CONFIG, None, Some(&s.mock.host())).unwrap();
    let provider = &config.providers[0];
    let up = ProviderKind::Anthropic
        .adapter()
        .heartbeat_request(provider, &Secret::new("sk-mock-anthropic"));
    let mut rb = s.client.get(&up.url);
    for (name, value) in up.headers {
        rb = rb.header(name, value);
    }
    let resp = rb.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"][0]["type"], "model");
}
