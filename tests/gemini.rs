//! Gemini-specific behaviour end to end: the simulated Gemini provider and a gateway on
//! `127.0.0.1:0`, driven over real HTTP as an OpenAI client would. The scenarios every
//! provider shares (chat, streams, usage chunk, tool round trips, max_tokens,
//! 500/429/garbage, cut streams) are in `conformance.rs`; here: a tool-call round trip
//! on Gemini 3 (which rejects a replayed call that lost its thoughtSignature) and a
//! safety block.

mod common;

use common::{TestEnv, send_json};
use serde_json::{Value, json};

/// The gateway key of [`CONFIG`].
const KEY: &str = "sk-test";

const CONFIG: &str = r#"
[dispatch]
retry_delay_ms = 10
max_attempts = 2

[providers.gemini]
kind = "gemini"
base_url = "http://{mock}/gemini/v1beta"
keys = [{ value = "sk-mock-gemini" }]

[[models]]
name = "gemini-2.5-flash"
provider = "gemini"
input_per_mtok_usd = 0.30
output_per_mtok_usd = 2.50
cached_input_per_mtok_usd = 0.03
context_window = 1048576
max_output_tokens = 8192

[[models]]
name = "gemini-3-pro-preview"
provider = "gemini"
input_per_mtok_usd = 2.00
output_per_mtok_usd = 12.00
context_window = 1048576
max_output_tokens = 8192

[[keys]]
id = "test"
key = { value = "sk-test" }
tenant = "test"
"#;

/// A non-stream chat call: status and JSON body.
async fn chat_json(env: &TestEnv, body: Value) -> (u16, Value) {
    let (status, _, json) = send_json(env.chat_request_as(KEY, &body)).await;
    (status.as_u16(), json)
}

/// The `data:` payloads of a streamed answer; asserts it ends with `[DONE]` and that
/// every event is a `data: ` line (stricter than [`TestEnv::chat_stream`]).
async fn chat_stream(env: &TestEnv, body: Value) -> Vec<Value> {
    let resp = env
        .chat_request_as(KEY, &body)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("a text body");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    text.split("\n\n")
        .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        .map(|e| {
            let data = e.strip_prefix("data: ").expect("a data line");
            serde_json::from_str(data).expect("a JSON chunk")
        })
        .collect()
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[actix_web::test]
async fn tool_call_round_trip_keeps_the_thought_signature() {
    let env = TestEnv::start(CONFIG).await;
    let question = json!({"role": "user", "content": "What is the weather in Paris?"});
    let (status, v) = chat_json(
        &env,
        json!({"model": "gemini-3-pro-preview", "messages": [question], "tools": weather_tool()}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = choice["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    let answer = |call: Value| {
        let id = call["id"].clone();
        json!({"model": "gemini-3-pro-preview", "tools": weather_tool(), "messages": [
            question,
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": id, "content": "18C"}
        ]})
    };
    let (status, v) = chat_json(&env, answer(call.clone())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The tool returned: 18C."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // The same call under an id that lost the signature: Gemini 3 refuses it.
    let mut stripped = call;
    stripped["id"] = json!("call_plain");
    let (status, v) = chat_json(&env, answer(stripped)).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thought_signature")
    );
}

#[actix_web::test]
async fn safety_block_is_content_filter() {
    let env = TestEnv::start(CONFIG).await;
    let ask = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Say [[blocked]]"}]});
    let (status, v) = chat_json(&env, ask.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(v["choices"][0]["message"]["content"], "");
    let mut streamed = ask;
    streamed["stream"] = json!(true);
    let chunks = chat_stream(&env, streamed).await;
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "content_filter"
    );
}
