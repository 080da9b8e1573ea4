//! Bad input gets the right status and an OpenAI error body naming the problem; never
//! an HTML page, never a panic, never an upstream call. Every request in this file goes
//! through [`expect_error`] (or asserts its content type itself), so no response here
//! can be `text/html` without a test failing.

mod common;

use bytes::Bytes;
use common::{
    DEMO_KEY, TestEnv, assert_error_shape, demo_config, edit_config, header, set,
    single_attempt_config, user_says,
};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

/// Sends `rb`, asserts `status`, a JSON content type and the four error keys; returns
/// the `error` object.
async fn expect_error(rb: RequestBuilder, status: u16) -> Value {
    let resp = rb.send().await.expect("request sent");
    let got = resp.status();
    let content_type = header(resp.headers(), "content-type").to_owned();
    let text = resp.text().await.expect("body read");
    assert_eq!(got, status, "body: {text}");
    assert!(
        !content_type.contains("html"),
        "HTML error page ({content_type}): {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}: {text}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_error_shape(&body).clone()
}

fn chat_url(env: &TestEnv) -> String {
    env.url("/v1/chat/completions")
}

/// A keyed JSON POST of raw bytes to the chat endpoint.
fn raw_chat(env: &TestEnv, body: impl Into<reqwest::Body>) -> RequestBuilder {
    env.client
        .post(chat_url(env))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(body)
}

#[actix_web::test]
async fn invalid_bodies_are_400_naming_the_parameter() {
    let env = TestEnv::start(demo_config()).await;
    let weather =
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
    // (what, body, param, code)
    let cases: Vec<(&str, Value, Option<&str>, Option<&str>)> = vec![
        (
            "messages not an array",
            json!({"model": "gpt-4o-mini", "messages": "hi"}),
            Some("messages"),
            Some("invalid_type"),
        ),
        (
            "temperature not a number",
            json!({"model": "gpt-4o-mini", "temperature": "hot", "messages": [{"role": "user", "content": "hi"}]}),
            Some("temperature"),
            Some("invalid_type"),
        ),
        (
            "temperature out of range",
            json!({"model": "gpt-4o-mini", "temperature": 3.5, "messages": [{"role": "user", "content": "hi"}]}),
            Some("temperature"),
            None,
        ),
        (
            "model missing",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            Some("model"),
            Some("missing_required_parameter"),
        ),
        (
            "model empty",
            json!({"model": "", "messages": [{"role": "user", "content": "hi"}]}),
            Some("model"),
            None,
        ),
        (
            "max_tokens negative",
            json!({"model": "gpt-4o-mini", "max_tokens": -1, "messages": [{"role": "user", "content": "hi"}]}),
            Some("max_tokens"),
            Some("invalid_type"),
        ),
        (
            "messages missing",
            json!({"model": "gpt-4o-mini"}),
            Some("messages"),
            Some("missing_required_parameter"),
        ),
        (
            "messages empty",
            json!({"model": "gpt-4o-mini", "messages": []}),
            Some("messages"),
            None,
        ),
        (
            "unknown role",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "hi"}]}),
            Some("messages[0].role"),
            Some("invalid_type"),
        ),
        (
            "user message without content",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user"}]}),
            Some("messages[0].content"),
            None,
        ),
        (
            "n other than 1",
            json!({"model": "gpt-4o-mini", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
            Some("n"),
            None,
        ),
        (
            "tool message without tool_call_id",
            json!({"model": "gpt-4o-mini", "tools": weather, "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "tool", "content": "18C"}
            ]}),
            Some("messages[1].tool_call_id"),
            None,
        ),
        (
            "tool_choice naming an undeclared tool",
            json!({"model": "gpt-4o-mini", "tools": weather,
                   "tool_choice": {"type": "function", "function": {"name": "launch"}},
                   "messages": [{"role": "user", "content": "hi"}]}),
            Some("tool_choice"),
            None,
        ),
    ];
    for (what, body, param, code) in cases {
        let err = expect_error(env.chat_request(&body), 400).await;
        assert_eq!(err["type"], "invalid_request_error", "{what}: {err}");
        assert_eq!(err["param"].as_str(), param, "{what}: {err}");
        assert_eq!(err["code"].as_str(), code, "{what}: {err}");
        if let Some(param) = param {
            let field = param.rsplit(['.', '[']).next().unwrap_or(param);
            let field = field.trim_end_matches(']');
            assert!(
                err["message"].as_str().is_some_and(|m| m.contains(field)),
                "{what}: message does not name {field}: {err}"
            );
        }
    }
    let counts = env.mock_counts().await;
    for (name, p) in counts["providers"].as_object().expect("providers") {
        assert_eq!(p["requests"], 0, "bad input reached {name}");
    }
}

#[actix_web::test]
async fn malformed_json_is_400_invalid_json() {
    let env = TestEnv::start(demo_config()).await;
    let err = expect_error(
        raw_chat(&env, r#"{"model": "gpt-4o-mini", "messages": ["#),
        400,
    )
    .await;
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "invalid_json");
    assert!(err["param"].is_null());
    assert!(err["message"].as_str().is_some_and(|m| m.contains("JSON")));

    let err = expect_error(raw_chat(&env, "not json at all"), 400).await;
    assert_eq!(err["code"], "invalid_json");
    let err = expect_error(raw_chat(&env, ""), 400).await;
    assert_eq!(err["code"], "invalid_json");
    // A complete object followed by more text is not one JSON document either.
    let trailing = r#"{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]} {"#;
    let err = expect_error(raw_chat(&env, trailing), 400).await;
    assert_eq!(err["code"], "invalid_json");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("trailing"))
    );
}

#[actix_web::test]
async fn unknown_model_is_404_model_not_found() {
    let env = TestEnv::start(demo_config()).await;
    let err = expect_error(env.chat_request(&user_says("gpt-9-ultra", "hi")), 404).await;
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "model_not_found");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("gpt-9-ultra"))
    );

    let err = expect_error(
        env.client
            .get(env.url("/v1/models/gpt-9-ultra"))
            .bearer_auth(DEMO_KEY),
        404,
    )
    .await;
    assert_eq!(err["code"], "model_not_found");
}

fn padded_body(bytes: usize) -> String {
    let body = user_says("gpt-4o-mini", &"x".repeat(bytes));
    body.to_string()
}

#[actix_web::test]
async fn oversize_body_is_413_with_the_default_limit() {
    let env = TestEnv::start(demo_config()).await;
    // The default limit is 4 MiB.
    let err = expect_error(raw_chat(&env, padded_body(5 * 1024 * 1024)), 413).await;
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "request_too_large");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("4194304"))
    );
    assert_eq!(env.upstream_requests("openai").await, 0);
}

#[actix_web::test]
async fn oversize_body_is_413_with_a_configured_limit() {
    let config = edit_config(demo_config(), |t| set(t, "server", "max_body_bytes", 1024));
    let env = TestEnv::start(&config).await;

    // Declared by Content-Length: refused before the body is read.
    let err = expect_error(raw_chat(&env, padded_body(2048)), 413).await;
    assert_eq!(err["code"], "request_too_large");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("1024")));

    // Chunked, no Content-Length: refused while reading.
    let chunks: Vec<Result<Bytes, std::io::Error>> = padded_body(2048)
        .into_bytes()
        .chunks(256)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let err = expect_error(raw_chat(&env, body), 413).await;
    assert_eq!(err["code"], "request_too_large");

    // Under the limit is fine.
    let (status, _, body) = env.chat(user_says("gpt-4o-mini", "short")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.upstream_requests("openai").await, 1);
}

#[actix_web::test]
async fn wrong_content_type_is_415() {
    let env = TestEnv::start(demo_config()).await;
    let body = user_says("gpt-4o-mini", "hi").to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/html",
    ] {
        let err = expect_error(
            env.client
                .post(chat_url(&env))
                .bearer_auth(DEMO_KEY)
                .header("content-type", ct)
                .body(body.clone()),
            415,
        )
        .await;
        assert_eq!(err["type"], "invalid_request_error", "{ct}");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(ct)),
            "{ct}: {err}"
        );
    }
    // A charset parameter on JSON is fine.
    let (status, _, resp) = common::send_json(
        env.client
            .post(chat_url(&env))
            .bearer_auth(DEMO_KEY)
            .header("content-type", "application/json; charset=utf-8")
            .body(body),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
}

#[actix_web::test]
async fn missing_or_invalid_key_is_401_without_echoing_the_key() {
    let env = TestEnv::start(demo_config()).await;
    let body = user_says("gpt-4o-mini", "hi");

    let err = expect_error(env.client.post(chat_url(&env)).json(&body), 401).await;
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "invalid_api_key");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("API key"))
    );

    let wrong = "sk-wrong-key-4f9a2c";
    let err = expect_error(
        env.client
            .post(chat_url(&env))
            .bearer_auth(wrong)
            .json(&body),
        401,
    )
    .await;
    assert_eq!(err["code"], "invalid_api_key");
    assert!(!err.to_string().contains(wrong), "key echoed: {err}");

    // Not a bearer scheme.
    let err = expect_error(
        env.client
            .post(chat_url(&env))
            .header("authorization", format!("Basic {DEMO_KEY}"))
            .json(&body),
        401,
    )
    .await;
    assert!(!err.to_string().contains(DEMO_KEY), "key echoed: {err}");

    // The model list needs a key too.
    let err = expect_error(env.client.get(env.url("/v1/models")), 401).await;
    assert_eq!(err["code"], "invalid_api_key");
    assert_eq!(env.upstream_requests("openai").await, 0);
}

#[actix_web::test]
async fn unknown_path_is_404_json() {
    let env = TestEnv::start(demo_config()).await;
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/v1/nothing"),
        ("POST", "/v1/completions"),
        ("POST", "/v2/chat/completions"),
        ("GET", "/index.html"),
    ] {
        let rb = env
            .client
            .request(method.parse().expect("method"), env.url(path))
            .bearer_auth(DEMO_KEY);
        let err = expect_error(rb, 404).await;
        assert_eq!(err["type"], "invalid_request_error", "{path}");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(path)),
            "{path}: {err}"
        );
    }
}

#[actix_web::test]
async fn wrong_method_is_405_json() {
    let env = TestEnv::start(demo_config()).await;
    for (method, path) in [
        ("GET", "/v1/chat/completions"),
        ("PUT", "/v1/chat/completions"),
        ("DELETE", "/v1/models"),
        ("POST", "/healthz"),
    ] {
        let rb = env
            .client
            .request(method.parse().expect("method"), env.url(path))
            .bearer_auth(DEMO_KEY);
        let err = expect_error(rb, 405).await;
        assert_eq!(err["type"], "invalid_request_error", "{method} {path}");
    }
}

#[actix_web::test]
async fn upstream_garbage_is_502_json() {
    let env = TestEnv::start(&single_attempt_config()).await;
    env.mock_patch("openai", json!({"garbage": true})).await;
    let err = expect_error(env.chat_request(&user_says("gpt-4o-mini", "hi")), 502).await;
    assert_eq!(err["type"], "upstream_error");
    assert!(!err.to_string().contains("<html"), "{err}");

    // Streamed: nothing usable arrived, so it fails before the head, as JSON too.
    let mut body = user_says("gpt-4o-mini", "hi");
    body["stream"] = json!(true);
    let err = expect_error(env.chat_request(&body), 502).await;
    assert_eq!(err["type"], "upstream_error");
    assert_eq!(env.upstream_requests("openai").await, 2);
}
