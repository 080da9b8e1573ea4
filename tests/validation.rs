//! Requests a provider would reject, or that could hurt whatever reads them (a file
//! path as an image, a schema ten thousand levels deep, an array as the body), are a
//! 400 in OpenAI's error shape naming the parameter, and no simulated provider ever
//! sees them (issue 22, defect 6).

mod common;

use common::{DEMO_KEY, TestEnv, assert_error_shape, demo_config, header, user_says};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

/// Sends `rb`, asserts a JSON 400 of type `invalid_request_error` naming `param` with
/// `code`, and that no simulated provider got a request; returns the `error` object.
async fn expect_rejected(
    env: &TestEnv,
    rb: RequestBuilder,
    param: Option<&str>,
    code: &str,
) -> Value {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status();
    let content_type = header(resp.headers(), "content-type").to_owned();
    let text = resp.text().await.expect("body read");
    assert_eq!(status, 400, "body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}: {text}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let err = assert_error_shape(&body).clone();
    assert_eq!(err["type"], "invalid_request_error", "{err}");
    assert_eq!(err["param"].as_str(), param, "{err}");
    assert_eq!(err["code"], code, "{err}");
    if let Some(param) = param {
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(param)),
            "message does not name {param}: {err}"
        );
    }
    assert_nothing_went_upstream(env).await;
    err
}

async fn assert_nothing_went_upstream(env: &TestEnv) {
    let counts = env.mock_counts().await;
    let providers = counts["providers"]
        .as_object()
        .expect("providers in /_mock");
    assert!(!providers.is_empty(), "no simulated providers: {counts}");
    for (name, p) in providers {
        assert_eq!(p["requests"], 0, "a rejected request reached {name}");
    }
}

/// A keyed POST of raw JSON text to the chat endpoint, for bodies `serde_json::Value`
/// cannot carry (not an object) or should not build (ten thousand levels deep).
fn raw_chat(env: &TestEnv, body: String) -> RequestBuilder {
    env.client
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(body)
}

/// A one-message request declaring `tool`.
fn with_tool(tool: Value) -> Value {
    let mut body = user_says("gpt-4o-mini", "weather in Paris?");
    body["tools"] = json!([tool]);
    body
}

/// A user message of a text part and an image part with `url`.
fn with_image(url: &str) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]}],
    })
}

/// `{"type":"object","properties":{"a": … }}` nested `levels` schema objects deep
/// (two JSON levels each), as text.
fn deep_schema(levels: usize) -> String {
    let open = r#"{"type":"object","properties":{"a":"#.repeat(levels);
    let close = "}}".repeat(levels);
    format!(r#"{open}{{"type":"string"}}{close}"#)
}

#[actix_web::test]
async fn tool_parameters_that_are_not_an_object_are_rejected() {
    let env = TestEnv::start(demo_config()).await;
    for parameters in [
        json!("{\"type\":\"object\"}"),
        json!([]),
        json!(7),
        json!(true),
    ] {
        let tool = json!({"type": "function", "function": {"name": "get_weather", "parameters": parameters}});
        let err = expect_rejected(
            &env,
            env.chat_request(&with_tool(tool)),
            Some("tools[0].function.parameters"),
            "invalid_type",
        )
        .await;
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains("object")),
            "{parameters}: {err}"
        );
    }
}

#[actix_web::test]
async fn a_tool_type_other_than_function_is_rejected() {
    let env = TestEnv::start(demo_config()).await;
    let tool = json!({"type": "retrieval", "function": {"name": "get_weather", "parameters": {}}});
    let mut body = with_tool(tool);
    // The faulty tool is the second one: the param names its index.
    let good = json!({"type": "function", "function": {"name": "ok", "parameters": {}}});
    body["tools"].as_array_mut().expect("tools").insert(0, good);
    let err = expect_rejected(
        &env,
        env.chat_request(&body),
        Some("tools[1].type"),
        "invalid_value",
    )
    .await;
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("'function'")),
        "{err}"
    );
}

#[actix_web::test]
async fn an_empty_function_name_is_rejected() {
    let env = TestEnv::start(demo_config()).await;
    let tool = json!({"type": "function", "function": {"name": "", "parameters": {}}});
    expect_rejected(
        &env,
        env.chat_request(&with_tool(tool)),
        Some("tools[0].function.name"),
        "empty_string",
    )
    .await;
}

#[actix_web::test]
async fn function_names_outside_openai_pattern_are_rejected() {
    let env = TestEnv::start(demo_config()).await;
    let long = "f".repeat(65);
    for (name, code) in [
        ("get weather", "invalid_value"),
        ("get.weather", "invalid_value"),
        ("météo", "invalid_value"),
        (long.as_str(), "string_above_max_length"),
    ] {
        let tool = json!({"type": "function", "function": {"name": name, "parameters": {}}});
        expect_rejected(
            &env,
            env.chat_request(&with_tool(tool)),
            Some("tools[0].function.name"),
            code,
        )
        .await;
    }
}

#[actix_web::test]
async fn max_tokens_zero_is_rejected() {
    let env = TestEnv::start(demo_config()).await;
    for field in ["max_tokens", "max_completion_tokens"] {
        let mut body = user_says("gpt-4o-mini", "hi");
        body[field] = json!(0);
        expect_rejected(
            &env,
            env.chat_request(&body),
            Some(field),
            "integer_below_min_value",
        )
        .await;
    }
}

#[actix_web::test]
async fn image_urls_other_than_http_and_base64_data_are_rejected() {
    let env = TestEnv::start(demo_config()).await;
    for url in [
        "file:///etc/passwd",
        "/home/me/cat.png",
        "ftp://example.com/cat.png",
        "data:image/png,iVBORw0KGgo=",
        "data:;base64,iVBORw0KGgo=",
    ] {
        let err = expect_rejected(
            &env,
            env.chat_request(&with_image(url)),
            Some("messages[0].content[1].image_url.url"),
            "invalid_image_url",
        )
        .await;
        assert!(!err.to_string().contains("passwd"), "URL echoed: {err}");
    }
}

#[actix_web::test]
async fn a_tool_schema_nested_ten_thousand_levels_is_rejected() {
    let env = TestEnv::start(demo_config()).await;
    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}],
            "tools":[{{"type":"function","function":{{"name":"deep","parameters":{}}}}}]}}"#,
        deep_schema(10_000)
    );
    let err = expect_rejected(
        &env,
        raw_chat(&env, body),
        Some("tools[0].function.parameters"),
        "nesting_too_deep",
    )
    .await;
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("64")),
        "{err}"
    );
}

#[actix_web::test]
async fn a_response_schema_nested_too_deep_is_rejected() {
    let env = TestEnv::start(demo_config()).await;
    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}],
            "response_format":{{"type":"json_schema","json_schema":{{"name":"deep","schema":{}}}}}}}"#,
        deep_schema(10_000)
    );
    expect_rejected(
        &env,
        raw_chat(&env, body),
        Some("response_format.json_schema.schema"),
        "nesting_too_deep",
    )
    .await;
    // An unknown field is ignored, but not parsed at any depth either.
    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}],"metadata":{}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    expect_rejected(
        &env,
        raw_chat(&env, body),
        Some("metadata"),
        "nesting_too_deep",
    )
    .await;
}

#[actix_web::test]
async fn a_body_that_is_not_an_object_is_rejected() {
    let env = TestEnv::start(demo_config()).await;
    // serde would read this array as the request's fields in order.
    let array = r#"["gpt-4o-mini", [{"role": "user", "content": "hi"}]]"#;
    for (body, kind) in [
        (array, "array"),
        (r#""gpt-4o-mini""#, "string"),
        ("1", "number"),
        ("null", "null"),
    ] {
        // The body as a whole has no parameter name: `param` is null, as OpenAI has it.
        let err =
            expect_rejected(&env, raw_chat(&env, body.to_owned()), None, "invalid_type").await;
        assert!(err["param"].is_null(), "{err}");
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains("JSON object") && m.contains(kind)),
            "{body}: {err}"
        );
    }
}

/// The checks let through what is valid: declared tools with OpenAI-style names, a
/// realistic nested schema, http(s) and data images, a cap of one token.
#[actix_web::test]
async fn valid_requests_still_go_upstream() {
    let env = TestEnv::start(demo_config()).await;
    let schema: Value = serde_json::from_str(&deep_schema(20)).expect("schema is JSON");
    let mut body = with_tool(json!({"type": "function", "function": {
        "name": "get_weather-v2", "parameters": schema}}));
    body["max_tokens"] = json!(1);
    let (status, _, resp) = env.chat(body).await;
    assert_eq!(status, 200, "{resp}");

    for url in [
        "https://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ] {
        let (status, _, resp) = env.chat(with_image(url)).await;
        assert_eq!(status, 200, "{url}: {resp}");
    }
    assert_eq!(env.upstream_requests("openai").await, 3);
}
