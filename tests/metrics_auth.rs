//! `server.metrics_token`: with it, `/metrics` (which names tenants and key
//! fingerprints) answers 401 JSON unless the request carries the bearer token, on the
//! API port and on `server.metrics_listen` alike; a token whose environment variable is
//! unset closes `/metrics` instead of opening it.

mod common;

use common::{TestEnv, assert_error_shape, demo_config, edit_config, header, set};
use serde_json::Value;

const TOKEN: &str = "metrics-test-token";

/// A `{ key = value }` secret source.
fn source(key: &str, value: &str) -> toml::Value {
    let mut table = toml::Table::new();
    table.insert(key.to_owned(), value.into());
    toml::Value::Table(table)
}

/// The demo config with `[server] metrics_token` (and `metrics_listen` when apart).
fn config(token: toml::Value, apart: bool) -> String {
    edit_config(demo_config(), |t| {
        set(t, "server", "metrics_token", token);
        if apart {
            set(t, "server", "metrics_listen", "127.0.0.1:0");
        }
    })
}

/// `GET url` with `token` as the bearer token when given: status and body text.
async fn get(env: &TestEnv, url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut rb = env.client.get(url);
    if let Some(token) = token {
        rb = rb.bearer_auth(token);
    }
    let resp = rb.send().await.expect("metrics endpoint reachable");
    let status = resp.status().as_u16();
    let content_type = header(resp.headers(), "content-type").to_owned();
    (status, content_type, resp.text().await.expect("body read"))
}

/// Asserts a 401 with an OpenAI error body.
fn assert_unauthorized((status, content_type, body): &(u16, String, String)) {
    assert_eq!(*status, 401, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    let err = assert_error_shape(&body);
    assert_eq!(err["type"], "invalid_request_error", "{body}");
}

/// Without the token 401, with a wrong one 401, with the right one the exposition.
async fn assert_guarded(env: &TestEnv, url: &str) {
    assert_unauthorized(&get(env, url, None).await);
    assert_unauthorized(&get(env, url, Some("not-the-token")).await);
    let (status, _, text) = get(env, url, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("switchyard_"), "not the exposition: {text}");
}

#[actix_web::test]
async fn metrics_on_the_api_port_need_the_token() {
    let env = TestEnv::start(&config(source("value", TOKEN), false)).await;
    assert_guarded(&env, &env.url("/metrics")).await;
    // The rest of the API is not affected.
    let (status, _, _) = get(&env, &env.url("/healthz"), None).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn metrics_on_their_own_listener_need_the_token_too() {
    let env = TestEnv::start(&config(source("value", TOKEN), true)).await;
    let url = format!(
        "{}/metrics",
        env.metrics_url.clone().expect("metrics listener")
    );
    assert_guarded(&env, &url).await;
}

#[actix_web::test]
async fn an_unset_token_variable_closes_metrics() {
    let env = TestEnv::start(&config(
        source("env", "SWITCHYARD_TEST_METRICS_TOKEN_NEVER_SET"),
        false,
    ))
    .await;
    let url = env.url("/metrics");
    assert_unauthorized(&get(&env, &url, None).await);
    assert_unauthorized(&get(&env, &url, Some(TOKEN)).await);
}
