//! `/v1/messages` failures as an Anthropic client sees them: every error in Anthropic's
//! shape `{"type":"error","error":{"type","message"}}` with its status (bad bodies and
//! fields named, keys, unknown models, sizes, methods, rate limits, 529 overloads, a
//! stream failing after its first byte), and failover (also of a stream before its
//! first byte) as on `/v1/chat/completions`.

mod common;

use common::{DEMO_KEY, TestEnv, demo_config, edit_config, header, set, single_attempt_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard::mock::Format;

fn post(env: &TestEnv, key: &str, body: &Value) -> reqwest::RequestBuilder {
    env.client
        .post(env.url("/v1/messages"))
        .header("x-api-key", key)
        .json(body)
}

/// Status, headers and the body, which must be an Anthropic error of `kind`.
async fn error_of(rb: reqwest::RequestBuilder, kind: &str) -> (StatusCode, String, String) {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status();
    let retry_after = header(resp.headers(), "retry-after").to_owned();
    let text = resp.text().await.expect("body read");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "only type and error: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{body}");
    assert!(!text.contains("sk-mock"), "a provider key leaked: {text}");
    (status, message.to_owned(), retry_after)
}

fn says(model: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
}

#[actix_web::test]
async fn bad_bodies_are_400s_naming_the_field() {
    let env = TestEnv::start(demo_config()).await;
    let raw = |text: &'static str| {
        env.client
            .post(env.url("/v1/messages"))
            .header("x-api-key", DEMO_KEY)
            .header("content-type", "application/json")
            .body(text)
    };
    let (status, message, _) = error_of(raw("{not json"), "invalid_request_error").await;
    assert_eq!(status, 400);
    assert!(message.contains("could not parse"), "{message}");
    let (status, message, _) = error_of(raw("[1]"), "invalid_request_error").await;
    assert_eq!(status, 400);
    assert!(message.contains("JSON object"), "{message}");

    let cases = [
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens",
        ),
        (json!({"model": "gpt-4o-mini", "max_tokens": 9}), "messages"),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "messages": []}),
            "messages",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "messages": [{"role": "user", "content": [{"type": "document"}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "temperature": 3, "messages": [{"role": "user", "content": "hi"}]}),
            "temperature",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AAAA"}}]}]}),
            "messages[0].content[0].source.media_type",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "messages": [{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "tools": [{"name": "f"}],
            "messages": [{"role": "user", "content": "hi"}]}),
            "tools[0].input_schema",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [{"role": "user", "content": "hi"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 9, "tool_choice": {"type": "tool", "name": "g"},
            "messages": [{"role": "user", "content": "hi"}]}),
            "tool_choice.name",
        ),
        (
            json!({"model": "gpt-4o-mini", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 4000},
            "messages": [{"role": "user", "content": "hi"}]}),
            "thinking.budget_tokens",
        ),
    ];
    for (body, field) in cases {
        let (status, message, _) =
            error_of(post(&env, DEMO_KEY, &body), "invalid_request_error").await;
        assert_eq!(status, 400, "{body}");
        assert!(message.contains(field), "{field} not named in {message:?}");
    }
}

#[actix_web::test]
async fn keys_models_sizes_and_methods_have_anthropics_statuses() {
    let config = edit_config(demo_config(), |t| set(t, "server", "max_body_bytes", 1024));
    let env = TestEnv::start(&config).await;
    let no_key = env
        .client
        .post(env.url("/v1/messages"))
        .json(&says("gpt-4o-mini"));
    let (status, message, _) = error_of(no_key, "authentication_error").await;
    assert_eq!(status, 401);
    assert!(message.contains("x-api-key"), "{message}");
    let (status, _, _) = error_of(
        post(&env, "sk-wrong", &says("gpt-4o-mini")),
        "authentication_error",
    )
    .await;
    assert_eq!(status, 401);

    let (status, message, _) = error_of(
        post(&env, DEMO_KEY, &says("no-such-model")),
        "not_found_error",
    )
    .await;
    assert_eq!(status, 404);
    assert!(message.contains("no-such-model"), "{message}");

    let mut big = says("gpt-4o-mini");
    big["messages"][0]["content"] = json!("x".repeat(2000));
    let (status, _, _) = error_of(post(&env, DEMO_KEY, &big), "request_too_large").await;
    assert_eq!(status, 413);

    let get = env
        .client
        .get(env.url("/v1/messages"))
        .header("x-api-key", DEMO_KEY);
    let (status, _, _) = error_of(get, "invalid_request_error").await;
    assert_eq!(status, 405);
}

#[actix_web::test]
async fn an_overloaded_provider_and_every_candidate_backing_off_are_529() {
    let env = TestEnv::start(&single_attempt_config()).await;
    env.mock_patch("anthropic", json!({"overload_rate": 1.0}))
        .await;
    let (status, _, _) = error_of(
        post(&env, DEMO_KEY, &says("claude-haiku-4-5")),
        "overloaded_error",
    )
    .await;
    assert_eq!(status.as_u16(), 529);

    // A provider's 429 with no other candidate left (no tier fallbacks here): every
    // candidate is waiting it out, which Anthropic clients hear as "overloaded".
    let config = edit_config(&single_attempt_config(), |t| {
        t["tiers"]["paid"]["fallbacks"] = toml::Value::Array(Vec::new());
    });
    let env = TestEnv::start(&config).await;
    env.mock_patch(
        "openai",
        json!({"rate_limit_rate": 1.0, "retry_after_s": 30}),
    )
    .await;
    for _ in 0..2 {
        let rb = post(&env, DEMO_KEY, &says("gpt-4o-mini"));
        let (status, message, retry_after) = error_of(rb, "overloaded_error").await;
        assert_eq!(status.as_u16(), 529);
        assert!(message.contains("rate limit"), "{message}");
        assert!(!retry_after.is_empty());
    }
}

#[actix_web::test]
async fn a_gateway_key_over_its_limit_is_a_429_rate_limit_error() {
    let config = edit_config(demo_config(), |t| {
        let keys = t["keys"].as_array_mut().expect("the demo has keys");
        let demo = keys[0].as_table_mut().expect("a key is a table");
        demo.insert("requests_per_minute".into(), 1.into());
    });
    let env = TestEnv::start(&config).await;
    let (status, _, _) = common::send_json(post(&env, DEMO_KEY, &says("gpt-4o-mini"))).await;
    assert_eq!(status, 200);
    let rb = post(&env, DEMO_KEY, &says("gpt-4o-mini"));
    let (status, _, retry_after) = error_of(rb, "rate_limit_error").await;
    assert_eq!(status, 429);
    assert!(!retry_after.is_empty());
}

#[actix_web::test]
async fn a_stream_failing_after_its_first_byte_ends_with_an_error_event() {
    let env = TestEnv::start(&single_attempt_config()).await;
    env.mock_patch("openai", json!({"cut_stream": true})).await;
    let mut body = says("gpt-4o-mini");
    body["messages"][0]["content"] = json!("a question long enough to be cut half way through");
    body["stream"] = json!(true);
    let resp = post(&env, DEMO_KEY, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    assert!(raw.starts_with("event: message_start\n"), "{raw}");
    assert!(raw.contains("event: content_block_delta\n"), "{raw}");
    let last = raw.trim_end().rsplit("\n\n").next().unwrap();
    let (name, data) = last.split_once('\n').unwrap();
    assert_eq!(name, "event: error", "{raw}");
    let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error", "{data}");
    assert!(!raw.contains("message_stop"), "{raw}");
}

/// Two OpenAI-format providers offering one model, `openai-a` first.
const PAIR: &str = r#"
[dispatch]
retry_delay_ms = 0
max_attempts = 3

[providers.openai-a]
kind = "openai"
base_url = "http://{mock}/openai-a/v1"
keys = [{ value = "sk-mock-a" }]

[providers.openai-b]
kind = "openai"
base_url = "http://{mock}/openai-b/v1"
keys = [{ value = "sk-mock-b" }]

[[models]]
name = "gpt-4o-mini"
provider = "openai-a"
input_per_mtok_usd = 0.15
output_per_mtok_usd = 0.60
context_window = 128000

[[models]]
name = "gpt-4o-mini"
provider = "openai-b"
input_per_mtok_usd = 0.15
output_per_mtok_usd = 0.60
context_window = 128000

[routes.pair]
candidates = ["openai-a/gpt-4o-mini"]
fallbacks = ["openai-b/gpt-4o-mini"]

[[keys]]
id = "test"
key = { value = "sk-switchyard-demo" }
tenant = "test"
"#;

#[actix_web::test]
async fn failover_and_stream_failover_before_the_first_byte_are_invisible() {
    let env = TestEnv::start_with_providers(
        &[("openai-a", Format::OpenAi), ("openai-b", Format::OpenAi)],
        PAIR,
    )
    .await;
    env.mock_patch("openai-a", json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    let (status, headers, body) = common::send_json(post(&env, DEMO_KEY, &says("pair"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-provider"), "openai-b");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "2");
    assert_eq!(
        body["content"][0]["text"],
        "Hello from gpt-4o-mini. You said: hi"
    );

    // A 200 whose body is no stream: nothing reached the client, so it fails over.
    env.mock_patch("openai-a", json!({"error_rate": 0.0, "garbage": true}))
        .await;
    let mut stream = says("pair");
    stream["stream"] = json!(true);
    let resp = post(&env, DEMO_KEY, &stream).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "x-switchyard-provider"), "openai-b");
    assert_eq!(header(resp.headers(), "x-switchyard-attempts"), "2");
    let raw = resp.text().await.unwrap();
    assert!(raw.starts_with("event: message_start\n"), "{raw}");
    assert!(
        raw.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{raw}"
    );
    assert_eq!(env.upstream_requests("openai-a").await, 2);
    assert_eq!(env.upstream_requests("openai-b").await, 2);
}
