//! The integration-test harness: simulated providers and a gateway in front of them,
//! both bound to `127.0.0.1:0`, and a client that speaks to either and reads SSE.
//!
//! Every test starts its own [`TestEnv`] inside its own actix System
//! (`#[actix_web::test]`), so tests share no ports, no knobs and no counters and can
//! run in parallel. The servers are futures spawned on that System: they stop when the
//! test's runtime is dropped. Timeouts here are upper bounds against a hung test, never
//! a way to wait for something to happen.

#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use switchyard::app::Gateway;
use switchyard::config::Config;
use switchyard::mock::{Format, MockServer, MockState};

/// The demo gateway key (DESIGN.md "Names").
pub const DEMO_KEY: &str = "sk-switchyard-demo";

/// Upper bound on any one request of a test: far above what the mocks need (they
/// answer in milliseconds with default knobs), low enough that a hang fails the test.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Gateway workers per test: tests run in parallel, one worker per core each would
/// start dozens of idle threads for nothing.
const GATEWAY_WORKERS: usize = 2;

/// The config file of [`TestEnv::start_from_file`], in the test's temp dir.
const CONFIG_FILE: &str = "gateway.toml";

/// Sets what [`TestEnv::start`] sets after loading (worker count, a ledger in the
/// test's temp dir) in the file itself, so a reload of the file sees the same values.
fn pin_file_config(text: &str, dir: &std::path::Path) -> String {
    edit_config(text, |t| {
        set(t, "server", "workers", GATEWAY_WORKERS as i64);
        set(
            t,
            "usage",
            "database",
            dir.join("usage.db").display().to_string(),
        );
    })
}

/// The demo configuration (`config/demo.toml`), as `switchyard demo` runs it.
pub fn demo_config() -> &'static str {
    switchyard::DEMO_CONFIG
}

/// Parses config text, lets `edit` change it, and prints it back.
pub fn edit_config(text: &str, edit: impl FnOnce(&mut toml::Table)) -> String {
    let mut table: toml::Table = text.parse().expect("config text is TOML");
    edit(&mut table);
    toml::to_string(&table).expect("config table prints")
}

/// Sets `[section] key = value`, creating the section if needed.
pub fn set(table: &mut toml::Table, section: &str, key: &str, value: impl Into<toml::Value>) {
    let section = table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    section
        .as_table_mut()
        .expect("section is a table")
        .insert(key.to_owned(), value.into());
}

/// The demo config with one attempt per request and no retry delay: an upstream error
/// reaches the client as it is, instead of being retried (or failed over) away.
pub fn single_attempt_config() -> String {
    edit_config(demo_config(), |t| {
        set(t, "dispatch", "max_attempts", 1);
        set(t, "dispatch", "retry_delay_ms", 0);
    })
}

/// A running mock server and a gateway configured in front of it.
pub struct TestEnv {
    /// `http://127.0.0.1:port` of the gateway.
    pub gateway_url: String,
    /// `http://host:port` of the separate metrics listener, when the config sets
    /// `server.metrics_listen`.
    pub metrics_url: Option<String>,
    /// `http://127.0.0.1:port` of the simulated providers (and `/_mock`).
    pub mock_url: String,
    /// A plain client; requests to the gateway carry no key unless a helper adds it.
    pub client: reqwest::Client,
    /// The simulated providers, for direct access to their state.
    pub mock: MockServer,
    /// Holds this test's usage ledger file; removed when the test ends.
    pub usage_dir: tempfile::TempDir,
}

impl TestEnv {
    /// The six default simulated providers and a gateway loaded from `config_toml`
    /// (`{mock}` in base URLs stands for the mock server's address).
    pub async fn start(config_toml: &str) -> Self {
        Self::start_state(MockState::default_set(), config_toml).await
    }

    /// Simulated providers named and formatted as given (e.g. two OpenAI-format
    /// providers `openai-a` and `openai-b` for failover) and a gateway.
    pub async fn start_with_providers(specs: &[(&str, Format)], config_toml: &str) -> Self {
        Self::start_state(MockState::new(specs), config_toml).await
    }

    async fn start_state(state: MockState, config_toml: &str) -> Self {
        let mock = MockServer::start("127.0.0.1:0", state)
            .await
            .expect("mock server starts");
        let mut config = Config::from_toml(config_toml, None, Some(&mock.host()))
            .unwrap_or_else(|e| panic!("test config is invalid: {e}\n{config_toml}"));
        config.workers = Some(GATEWAY_WORKERS);
        let usage_dir = tempfile::tempdir().expect("temp dir for the usage ledger");
        if config.usage.database
            == std::path::Path::new(switchyard::config::usage::DEFAULT_USAGE_DATABASE)
        {
            config.usage.database = usage_dir.path().join("usage.db");
        }
        Self::serve(mock, config, usage_dir)
    }

    /// The six default simulated providers and a gateway that reads `config_toml` from
    /// a file in the test's temp dir, as `switchyard serve --config` does, so
    /// `POST /admin/reload` can read it again (change it with [`Self::write_config`]).
    pub async fn start_from_file(config_toml: &str) -> Self {
        let mock = MockServer::start("127.0.0.1:0", MockState::default_set())
            .await
            .expect("mock server starts");
        let usage_dir = tempfile::tempdir().expect("temp dir for the config and ledger");
        let path = usage_dir.path().join(CONFIG_FILE);
        std::fs::write(&path, pin_file_config(config_toml, usage_dir.path()))
            .expect("config file written");
        let config = Config::load(&path, Some(&mock.host()))
            .unwrap_or_else(|e| panic!("test config is invalid: {e}\n{config_toml}"));
        Self::serve(mock, config, usage_dir)
    }

    /// Starts a gateway with `config` in front of `mock`, and a plain client.
    fn serve(mock: MockServer, config: Config, usage_dir: tempfile::TempDir) -> Self {
        let gateway = Gateway::bind(config, "127.0.0.1:0")
            .expect("gateway binds")
            .spawn();
        let client = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client builds");
        Self {
            gateway_url: gateway.url(),
            metrics_url: gateway.metrics_addr.map(|a| format!("http://{a}")),
            mock_url: format!("http://{}", mock.host()),
            client,
            mock,
            usage_dir,
        }
    }

    /// Replaces the config file of a gateway started with [`Self::start_from_file`]
    /// (the worker count and ledger path stay pinned as at start).
    pub fn write_config(&self, config_toml: &str) {
        std::fs::write(
            self.usage_dir.path().join(CONFIG_FILE),
            pin_file_config(config_toml, self.usage_dir.path()),
        )
        .expect("config file written");
    }

    /// Replaces the config file with text written as is (e.g. broken TOML).
    pub fn write_config_raw(&self, text: &str) {
        std::fs::write(self.usage_dir.path().join(CONFIG_FILE), text).expect("config file written");
    }

    /// `gateway_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway_url)
    }

    /// A POST to the chat endpoint with the demo key and a JSON body, ready to send
    /// (tests that need other headers add them).
    pub fn chat_request(&self, body: &Value) -> reqwest::RequestBuilder {
        self.chat_request_as(DEMO_KEY, body)
    }

    /// [`Self::chat_request`] with gateway key `key` instead of the demo key.
    pub fn chat_request_as(&self, key: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(body)
    }

    /// A non-stream chat call: status, headers and the JSON body.
    pub async fn chat(&self, body: Value) -> (StatusCode, HeaderMap, Value) {
        send_json(self.chat_request(&body)).await
    }

    /// A streamed chat call, read to the end.
    pub async fn chat_stream(&self, body: Value) -> Stream {
        let resp = self.chat_request(&body).send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.text().await.expect("stream read to the end");
        let (chunks, saw_done) = parse_sse(&raw);
        Stream {
            status,
            headers,
            chunks,
            saw_done,
            raw,
        }
    }

    /// Changes knobs of one simulated provider (`PATCH /_mock/providers/{name}`).
    pub async fn mock_patch(&self, provider: &str, knobs: Value) {
        let resp = self
            .client
            .patch(format!("{}/_mock/providers/{provider}", self.mock_url))
            .json(&knobs)
            .send()
            .await
            .expect("mock control reachable");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "PATCH {provider} {knobs} refused: {body}");
    }

    /// `GET /_mock`: knobs and counters of every simulated provider.
    pub async fn mock_counts(&self) -> Value {
        self.client
            .get(format!("{}/_mock", self.mock_url))
            .send()
            .await
            .expect("mock control reachable")
            .json()
            .await
            .expect("mock control answers JSON")
    }

    /// The gateway's `/metrics` exposition.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics reachable")
            .text()
            .await
            .expect("metrics read")
    }

    /// Chat requests simulated provider `name` has received.
    pub async fn upstream_requests(&self, name: &str) -> u64 {
        let counts = self.mock_counts().await;
        counts["providers"][name]["requests"]
            .as_u64()
            .unwrap_or_else(|| panic!("no simulated provider {name} in {counts}"))
    }
}

/// Polls `cond` every 20 ms until it holds; fails the test naming `what` if it still
/// does not after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !cond().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A streamed answer as the client saw it.
#[derive(Debug)]
pub struct Stream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Every `data:` event but `[DONE]`, parsed (error events included).
    pub chunks: Vec<Value>,
    /// Whether `data: [DONE]` arrived.
    pub saw_done: bool,
    /// The whole body.
    pub raw: String,
}

impl Stream {
    /// The concatenated `delta.content` of every chunk.
    pub fn text(&self) -> String {
        self.chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect()
    }

    /// Every non-null `finish_reason`.
    pub fn finish_reasons(&self) -> Vec<String> {
        self.chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
            })
            .map(str::to_owned)
            .collect()
    }
}

/// Splits an SSE body into its JSON `data:` events and whether `[DONE]` was among them.
/// Panics on an event that is neither, so a malformed stream fails the test.
pub fn parse_sse(raw: &str) -> (Vec<Value>, bool) {
    let mut chunks = Vec::new();
    let mut saw_done = false;
    for event in raw.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let data: String = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        if data.is_empty() {
            continue; // a comment or keep-alive
        }
        assert!(!saw_done, "an event after [DONE]: {event:?}");
        if data == "[DONE]" {
            saw_done = true;
            continue;
        }
        let v = serde_json::from_str(&data)
            .unwrap_or_else(|e| panic!("SSE event is not JSON ({e}): {data:?}"));
        chunks.push(v);
    }
    (chunks, saw_done)
}

/// Sends a request and reads a JSON body; a body that is not JSON fails the test.
pub async fn send_json(rb: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body read");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {text:?}"));
    (status, headers, json)
}

/// A header as a string ("" when absent).
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A one-message chat body.
pub fn user_says(model: &str, text: &str) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
    })
}

/// Asserts `body` is an OpenAI error object with all four keys, and returns it.
pub fn assert_error_shape(body: &Value) -> &Value {
    let err = body
        .get("error")
        .unwrap_or_else(|| panic!("no `error` object in {body}"));
    for key in ["message", "type", "param", "code"] {
        assert!(err.get(key).is_some(), "error lacks `{key}`: {body}");
    }
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error message empty: {body}"
    );
    assert!(err["type"].is_string(), "error type not a string: {body}");
    err
}
