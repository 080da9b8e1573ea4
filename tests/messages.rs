//! `POST /v1/messages` (Anthropic Messages inbound) end to end over real HTTP, on the
//! demo config: an Anthropic client → the gateway → whichever simulated provider
//! serves the model. Golden streams pin the exact event sequence for a Claude model
//! and an OpenAI one (tests/fixtures/messages/); the non-stream `message` shape,
//! stop reasons, thinking, `x-api-key` auth, `count_tokens`, the Anthropic model list,
//! the `api` metric label and a cached answer shared across the two client APIs are
//! checked as a client reads them. Errors and failover: `messages_errors.rs`; the
//! round-trip property: `messages_roundtrip.rs`.

mod common;

use common::{DEMO_KEY, TestEnv, demo_config, header, send_json};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const CLAUDE: &str = "claude-haiku-4-5";
const OPENAI: &str = "gpt-4o-mini";

/// A `POST /v1/messages` with the demo key as `x-api-key`, as the Anthropic SDK sends.
fn post(env: &TestEnv, path: &str, body: &Value) -> reqwest::RequestBuilder {
    env.client
        .post(env.url(path))
        .header("x-api-key", DEMO_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

async fn message(env: &TestEnv, body: Value) -> (StatusCode, HeaderMap, Value) {
    send_json(post(env, "/v1/messages", &body)).await
}

/// A streamed answer's whole body, with the message id (random) read as `msg_ID`.
async fn stream(env: &TestEnv, mut body: Value) -> (StatusCode, HeaderMap, String) {
    body["stream"] = json!(true);
    let resp = post(env, "/v1/messages", &body)
        .send()
        .await
        .expect("request sent");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let raw = resp.text().await.expect("stream read to the end");
    (status, headers, normalise_id(&raw))
}

/// Replaces every `"msg_…"` id with `"msg_ID"`.
fn normalise_id(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find("\"msg_") {
        out.push_str(&rest[..at]);
        out.push_str("\"msg_ID\"");
        let tail = &rest[at + 1..];
        rest = &tail[tail.find('"').map_or(tail.len(), |e| e + 1)..];
    }
    out.push_str(rest);
    out
}

fn says(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": text}]})
}

fn weather(model: &str) -> Value {
    let mut body = says(model, "Weather in Paris and Rome?");
    body["max_tokens"] = json!(500);
    body["tools"] = json!([{
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }]);
    body
}

fn golden(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/messages/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[actix_web::test]
async fn streamed_text_and_tool_use_are_anthropics_exact_event_sequence() {
    let env = TestEnv::start(demo_config()).await;
    for model in [CLAUDE, OPENAI] {
        let (status, headers, raw) = stream(&env, says(model, "hi")).await;
        assert_eq!(status, 200, "{raw}");
        assert_eq!(header(&headers, "content-type"), "text/event-stream");
        assert_eq!(header(&headers, "x-switchyard-model"), model);
        assert_eq!(raw, golden(&format!("stream_text.{model}.sse")), "{model}");

        let (status, _, raw) = stream(&env, weather(model)).await;
        assert_eq!(status, 200, "{raw}");
        assert_eq!(raw, golden(&format!("stream_tools.{model}.sse")), "{model}");
    }
}

#[actix_web::test]
async fn a_complete_answer_is_an_anthropic_message() {
    let env = TestEnv::start(demo_config()).await;
    for model in [CLAUDE, OPENAI, "gemini-2.5-flash"] {
        let (status, headers, body) = message(&env, says(model, "hi")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "x-switchyard-model"), model);
        let id = body["id"].as_str().unwrap();
        assert!(id.starts_with("msg_") && id.len() == 28, "{id}");
        let mut body = body;
        body["id"] = json!("msg_ID");
        let usage = body["usage"].clone();
        assert!(usage["input_tokens"].as_u64().unwrap() > 0, "{usage}");
        assert!(usage["output_tokens"].as_u64().unwrap() > 0, "{usage}");
        assert_eq!(
            body,
            json!({
                "id": "msg_ID", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": format!("Hello from {model}. You said: hi")}],
                "stop_reason": "end_turn", "stop_sequence": null, "usage": usage,
            })
        );
    }
}

#[actix_web::test]
async fn tool_use_round_trips_as_blocks_for_every_provider_kind() {
    let env = TestEnv::start(demo_config()).await;
    for model in [CLAUDE, OPENAI, "gemini-2.5-flash", "mistral-small-latest"] {
        let (status, _, first) = message(&env, weather(model)).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["stop_reason"], "tool_use", "{model}: {first}");
        let calls: Vec<&Value> = first["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .collect();
        let cities: Vec<&Value> = calls.iter().map(|c| &c["input"]["city"]).collect();
        assert_eq!(
            cities,
            [&json!("Paris"), &json!("Rome")],
            "{model}: {first}"
        );
        let results: Vec<Value> = calls
            .iter()
            .zip(["18C", "21C"])
            .map(|(c, r)| json!({"type": "tool_result", "tool_use_id": c["id"], "content": r}))
            .collect();
        let mut next = weather(model);
        next["messages"] = json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": results},
        ]);
        let (status, _, answer) = message(&env, next).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["content"],
            json!([{"type": "text", "text": "The tool returned: 18C; 21C."}]),
            "{model}"
        );
        assert_eq!(answer["stop_reason"], "end_turn");
    }
}

#[actix_web::test]
async fn every_finish_reason_has_its_stop_reason() {
    let env = TestEnv::start(demo_config()).await;
    for model in [CLAUDE, OPENAI] {
        let mut short = says(model, "a long enough question for the cut");
        short["max_tokens"] = json!(2);
        let (_, _, body) = message(&env, short.clone()).await;
        assert_eq!(body["stop_reason"], "max_tokens", "{model}: {body}");
        let (_, _, raw) = stream(&env, short).await;
        assert!(raw.contains("\"stop_reason\":\"max_tokens\""), "{raw}");

        let (_, _, body) = message(&env, says(model, "[[blocked]]")).await;
        assert_eq!(body["stop_reason"], "refusal", "{model}: {body}");
    }
}

#[actix_web::test]
async fn thinking_comes_back_as_thinking_blocks() {
    let env = TestEnv::start(demo_config()).await;
    let mut body = says(CLAUDE, "hi");
    body["max_tokens"] = json!(4096);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let (status, _, msg) = message(&env, body.clone()).await;
    assert_eq!(status, 200, "{msg}");
    let content = msg["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking", "{msg}");
    assert!(content[0]["thinking"].as_str().unwrap().len() > 10);
    assert_eq!(content[1]["type"], "text");

    let (_, _, raw) = stream(&env, body).await;
    let first_block = raw
        .find("\"content_block\":{\"type\":\"thinking\"")
        .unwrap();
    let thinking = raw.find("\"type\":\"thinking_delta\"").unwrap();
    let text = raw.find("\"type\":\"text_delta\"").unwrap();
    assert!(first_block < thinking && thinking < text, "{raw}");
}

#[actix_web::test]
async fn the_key_may_come_as_x_api_key_or_bearer() {
    let env = TestEnv::start(demo_config()).await;
    let body = says(OPENAI, "hi");
    let bearer = env
        .client
        .post(env.url("/v1/messages"))
        .bearer_auth(DEMO_KEY)
        .json(&body);
    let (status, _, _) = send_json(bearer).await;
    assert_eq!(status, 200);
    let (status, _, _) = message(&env, body).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn count_tokens_is_an_estimate_and_says_so() {
    let env = TestEnv::start(demo_config()).await;
    let body = json!({"model": CLAUDE, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello to everyone in the room"}]});
    let (status, headers, count) = send_json(post(&env, "/v1/messages/count_tokens", &body)).await;
    assert_eq!(status, 200, "{count}");
    assert_eq!(header(&headers, "x-switchyard-token-count"), "estimate");
    // Four characters a token, rounded up, plus three per message: 9 characters of
    // system prompt (3 + 3), 33 of user text (9 + 3).
    assert_eq!(count, json!({"input_tokens": 6 + 12}));
    assert_eq!(
        env.upstream_requests("anthropic").await,
        0,
        "no provider is asked"
    );
}

#[actix_web::test]
async fn models_are_listed_in_anthropics_shape_for_anthropic_clients() {
    let env = TestEnv::start(demo_config()).await;
    let rb = env
        .client
        .get(env.url("/v1/models"))
        .header("x-api-key", DEMO_KEY)
        .header("anthropic-version", "2023-06-01");
    let (status, _, list) = send_json(rb).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["has_more"], false);
    let data = list["data"].as_array().unwrap();
    let claude = data.iter().find(|m| m["id"] == CLAUDE).unwrap();
    assert_eq!(
        claude,
        &json!({"type": "model", "id": CLAUDE, "display_name": CLAUDE,
            "created_at": "1970-01-01T00:00:00Z"})
    );
    assert_eq!(list["first_id"], data[0]["id"]);
    assert_eq!(list["last_id"], data[data.len() - 1]["id"]);

    let rb = env
        .client
        .get(env.url(&format!("/v1/models/{CLAUDE}")))
        .header("x-api-key", DEMO_KEY)
        .header("anthropic-version", "2023-06-01");
    let (status, _, one) = send_json(rb).await;
    assert_eq!(status, 200);
    assert_eq!(&one, claude);

    // Without `anthropic-version`: OpenAI's list, as before.
    let rb = env.client.get(env.url("/v1/models")).bearer_auth(DEMO_KEY);
    let (_, _, list) = send_json(rb).await;
    assert_eq!(list["object"], "list");
}

#[actix_web::test]
async fn requests_are_counted_under_their_client_api() {
    let env = TestEnv::start(demo_config()).await;
    let (status, _, _) = message(&env, says(OPENAI, "hi")).await;
    assert_eq!(status, 200);
    let (status, _, _) = env.chat(common::user_says(OPENAI, "hi")).await;
    assert_eq!(status, 200);
    let text = env.metrics_text().await;
    for api in ["anthropic-messages", "openai-chat"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("switchyard_requests_total{")
                    && l.contains(&format!("api=\"{api}\""))
                    && l.contains("status_class=\"2xx\"")),
            "no {api} series in\n{text}"
        );
    }
}

#[actix_web::test]
async fn the_cache_serves_an_openai_answer_to_an_anthropic_client_in_its_shape() {
    let env = TestEnv::start(demo_config()).await;
    let chat = json!({"model": OPENAI, "max_tokens": 64, "temperature": 0,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, _) = env.chat(chat.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-cache"), "miss");

    // The same canonical request through /v1/messages: one upstream call for both.
    let (status, headers, body) = message(&env, chat.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-cache"), "hit");
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hello from gpt-4o-mini. You said: hi"}])
    );
    let (_, headers, raw) = stream(&env, chat).await;
    assert_eq!(header(&headers, "x-switchyard-cache"), "hit");
    assert!(raw.starts_with("event: message_start\n"), "{raw}");
    assert!(raw.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert_eq!(env.upstream_requests("openai").await, 1);
}

#[actix_web::test]
async fn usage_records_name_the_client_api_each_request_arrived_in() {
    let env = TestEnv::start(demo_config()).await;
    let (status, _, body) = message(&env, says(CLAUDE, "billed as messages")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = env.chat(common::user_says(OPENAI, "billed as chat")).await;
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _, page) = send_json(
            env.client
                .get(env.url("/v1/usage/records?limit=100"))
                .bearer_auth("switchyard-admin-demo"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let apis: Vec<(String, String)> = page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["model"].as_str().unwrap_or("").to_owned(),
                    r["api"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        if apis.len() >= 2 {
            assert!(
                apis.contains(&(CLAUDE.into(), "anthropic-messages".into())),
                "{apis:?}"
            );
            assert!(
                apis.contains(&(OPENAI.into(), "openai-chat".into())),
                "{apis:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "records: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
