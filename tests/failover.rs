//! Failover across candidates: a route over two OpenAI-format simulated providers,
//! `openai-a` (tried first) and `openai-b`. Upstream hit counts prove who was asked.

mod common;

use common::{TestEnv, assert_error_shape, header, user_says};
use serde_json::json;
use switchyard::mock::Format;

/// Two providers offering the same model, a route trying `openai-a` first, and a third
/// provider `strict` (OpenAI adapter in front of a Mistral-format mock, which rejects
/// what OpenAI accepts) to provoke a non-retryable 400. No retry delay: these tests
/// check which candidates are tried, not how long the gateway waits between them.
const CONFIG: &str = r#"
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

[providers.strict]
kind = "openai"
base_url = "http://{mock}/strict/v1"
keys = [{ value = "sk-mock-strict" }]

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

[[models]]
name = "gpt-4o-mini"
provider = "strict"
input_per_mtok_usd = 0.15
output_per_mtok_usd = 0.60
context_window = 128000

# One candidate and an explicit fallback, so the order is fixed (two equal
# candidates would share traffic).
[routes.pair]
candidates = ["openai-a/gpt-4o-mini"]
fallbacks = ["openai-b/gpt-4o-mini"]

[routes.strict-first]
candidates = ["strict/gpt-4o-mini"]
fallbacks = ["openai-b/gpt-4o-mini"]

[[keys]]
id = "test"
key = { value = "sk-switchyard-demo" }
tenant = "test"
"#;

async fn env() -> TestEnv {
    TestEnv::start_with_providers(
        &[
            ("openai-a", Format::OpenAi),
            ("openai-b", Format::OpenAi),
            ("strict", Format::Mistral),
        ],
        CONFIG,
    )
    .await
}

async fn hits(env: &TestEnv) -> (u64, u64) {
    (
        env.upstream_requests("openai-a").await,
        env.upstream_requests("openai-b").await,
    )
}

const ANSWER: &str = "Hello from gpt-4o-mini. You said: hi";

#[actix_web::test]
async fn healthy_primary_answers_alone() {
    let env = env().await;
    let (status, headers, body) = env.chat(user_says("pair", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-provider"), "openai-a");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert_eq!(hits(&env).await, (1, 0));
}

#[actix_web::test]
async fn primary_503_fails_over_to_secondary() {
    let env = env().await;
    env.mock_patch("openai-a", json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    let (status, headers, body) = env.chat(user_says("pair", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-provider"), "openai-b");
    assert_eq!(header(&headers, "x-switchyard-model"), "gpt-4o-mini");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "2");
    assert_eq!(body["choices"][0]["message"]["content"], ANSWER);
    assert_eq!(hits(&env).await, (1, 1));
}

#[actix_web::test]
async fn primary_500_and_429_fail_over_too() {
    let env = env().await;
    env.mock_patch("openai-a", json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    let (status, headers, _) = env.chat(user_says("pair", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-provider"), "openai-b");
    assert_eq!(hits(&env).await, (1, 1));

    env.mock_patch(
        "openai-a",
        json!({"error_rate": 0.0, "rate_limit_rate": 1.0, "retry_after_s": 1}),
    )
    .await;
    let (status, headers, _) = env.chat(user_says("pair", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-provider"), "openai-b");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "2");
    assert_eq!(hits(&env).await, (2, 2));
}

#[actix_web::test]
async fn stream_fails_over_before_its_first_event() {
    let env = env().await;
    env.mock_patch("openai-a", json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    let mut body = user_says("pair", "hi");
    body["stream"] = json!(true);
    let s = env.chat_stream(body.clone()).await;
    assert_eq!(s.status, 200, "{}", s.raw);
    assert_eq!(header(&s.headers, "x-switchyard-provider"), "openai-b");
    assert_eq!(header(&s.headers, "x-switchyard-attempts"), "2");
    assert!(s.saw_done);
    assert_eq!(s.text(), ANSWER);
    assert_eq!(hits(&env).await, (1, 1));

    // A 200 whose body is no stream at all: nothing reached the client yet, so the
    // gateway may still (and must) fail over.
    env.mock_patch("openai-a", json!({"error_rate": 0.0, "garbage": true}))
        .await;
    let s = env.chat_stream(body).await;
    assert_eq!(s.status, 200, "{}", s.raw);
    assert_eq!(header(&s.headers, "x-switchyard-provider"), "openai-b");
    assert_eq!(header(&s.headers, "x-switchyard-attempts"), "2");
    assert!(s.saw_done);
    assert_eq!(s.text(), ANSWER);
    assert_eq!(hits(&env).await, (2, 2));
}

#[actix_web::test]
async fn all_candidates_failing_uses_every_attempt() {
    let env = env().await;
    for name in ["openai-a", "openai-b"] {
        env.mock_patch(name, json!({"error_rate": 1.0, "error_status": 500}))
            .await;
    }
    let (status, headers, body) = env.chat(user_says("pair", "hi")).await;
    assert_eq!(status, 502, "{body}");
    let err = assert_error_shape(&body);
    assert_eq!(err["type"], "upstream_error");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "3");
    // Candidates are cycled in order: a, b, a.
    assert_eq!(hits(&env).await, (2, 1));
    assert!(!body.to_string().contains("sk-mock-"), "{body}");
}

#[actix_web::test]
async fn client_error_from_primary_does_not_fail_over() {
    let env = env().await;
    // Mistral accepts only nine-character tool-call ids; the OpenAI adapter forwards
    // this one unchanged, so the Mistral-format mock answers 400: the request's fault,
    // which another provider would not fix.
    let body = json!({
        "model": "strict-first",
        "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_not_nine_chars", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_not_nine_chars", "content": "18C"}
        ]
    });
    let (status, headers, resp) = env.chat(body).await;
    assert_eq!(status, 400, "{resp}");
    let err = assert_error_shape(&resp);
    assert_eq!(err["type"], "invalid_request_error");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("strict")),
        "{resp}"
    );
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert_eq!(env.upstream_requests("strict").await, 1);
    assert_eq!(env.upstream_requests("openai-b").await, 0);
}
