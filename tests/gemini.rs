//! Gemini end to end: the simulated Gemini provider and a gateway on `127.0.0.1:0`,
//! driven over real HTTP with reqwest as an OpenAI client would: plain and streamed
//! chat, a tool-call round trip (the Gemini 3 model rejects a replayed call that lost
//! its thoughtSignature), a safety block, and a 429 passed through with Retry-After.

use serde_json::{Value, json};
use switchyard::app::Gateway;
use switchyard::config::Config;
use switchyard::mock::{MockServer, MockState};

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

/// A simulated Gemini and a gateway in front of it.
struct Env {
    mock: MockServer,
    gateway: Gateway,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Self {
        let mock = MockServer::start("127.0.0.1:0", MockState::default_set())
            .await
            .expect("mock starts");
        let config = Config::from_toml(CONFIG, None, Some(&mock.host())).expect("config is valid");
        let gateway = Gateway::bind(config, "127.0.0.1:0")
            .expect("gateway binds")
            .spawn();
        Self {
            mock,
            gateway,
            http: reqwest::Client::new(),
        }
    }

    async fn chat(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.gateway.url()))
            .bearer_auth("sk-test")
            .json(&body)
            .send()
            .await
            .expect("gateway answers")
    }

    async fn chat_json(&self, body: Value) -> (u16, Value) {
        let resp = self.chat(body).await;
        (
            resp.status().as_u16(),
            resp.json().await.expect("a JSON body"),
        )
    }

    /// The `data:` payloads of a streamed answer; asserts it ends with `[DONE]`.
    async fn chat_stream(&self, body: Value) -> Vec<Value> {
        let resp = self.chat(body).await;
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

    async fn knobs(&self, patch: Value) {
        let resp = self
            .http
            .patch(format!(
                "http://{}/_mock/providers/gemini",
                self.mock.host()
            ))
            .json(&patch)
            .send()
            .await
            .expect("mock answers");
        assert_eq!(resp.status().as_u16(), 200);
    }
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[actix_web::test]
async fn plain_chat() {
    let env = Env::start().await;
    let resp = env
        .chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi there"}]}))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-switchyard-provider"], "gemini");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gemini-2.5-flash");
    let choice = &v["choices"][0];
    assert_eq!(
        choice["message"]["content"],
        "Hello from gemini-2.5-flash. You said: Hi there"
    );
    assert_eq!(choice["finish_reason"], "stop");
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(u["completion_tokens"], 7, "one per word");
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + 7)
    );
}

#[actix_web::test]
async fn streamed_chat_has_openai_chunk_shapes_and_the_last_usage() {
    let env = Env::start().await;
    let ask =
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi there"}]});
    let (_, whole) = env.chat_json(ask.clone()).await;
    let mut streamed = ask;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let chunks = env.chat_stream(streamed).await;
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk")
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from gemini-2.5-flash. You said: Hi there");
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec![&json!("stop")]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    // Gemini's early chunks under-report the prompt; the last chunk's count wins.
    assert_eq!(last["usage"], whole["usage"]);
}

#[actix_web::test]
async fn tool_call_round_trip_keeps_the_thought_signature() {
    let env = Env::start().await;
    let question = json!({"role": "user", "content": "What is the weather in Paris?"});
    let (status, v) = env
        .chat_json(json!({"model": "gemini-3-pro-preview", "messages": [question], "tools": weather_tool()}))
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
    let (status, v) = env.chat_json(answer(call.clone())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The tool returned: 18C."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // The same call under an id that lost the signature: Gemini 3 refuses it.
    let mut stripped = call;
    stripped["id"] = json!("call_plain");
    let (status, v) = env.chat_json(answer(stripped)).await;
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
    let env = Env::start().await;
    let ask = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Say [[blocked]]"}]});
    let (status, v) = env.chat_json(ask.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(v["choices"][0]["message"]["content"], "");
    let mut streamed = ask;
    streamed["stream"] = json!(true);
    let chunks = env.chat_stream(streamed).await;
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "content_filter"
    );
}

#[actix_web::test]
async fn rate_limit_reaches_the_client_as_429_with_retry_after() {
    let env = Env::start().await;
    env.knobs(json!({"rate_limit_rate": 1.0, "retry_after_s": 1}))
        .await;
    let resp = env
        .chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}]}))
        .await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].as_str().unwrap().contains("gemini"));
}
