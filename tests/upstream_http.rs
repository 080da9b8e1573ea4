//! How the gateway talks HTTP to providers: HTTP/2 without TLS (one connection per
//! worker thread carrying every request) for providers with `h2c = true`, as the demo
//! config sets for its simulated providers; with `h2c = "streams"` only streams take
//! HTTP/2 and one-shot calls and heartbeats keep HTTP/1.1 keep-alive; HTTP/1.1 (a
//! connection per request in flight) for the others. Streams relay alike over both,
//! and a client hanging up ends its upstream stream either way.

mod common;

use std::time::Duration;

use common::{TestEnv, demo_config, edit_config, eventually, user_says};
use serde_json::{Value, json};

async fn counter(env: &TestEnv, provider: &str, name: &str) -> u64 {
    env.mock_counts().await["providers"][provider][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} for {provider}"))
}

fn stream_body(model: &str, prompt: &str) -> Value {
    json!({
        "model": model,
        "stream": true,
        "messages": [{"role": "user", "content": prompt}],
    })
}

/// The demo config (`h2c = true`) with `h2c` unset (off) for anthropic.
fn h2c_for_openai_only() -> String {
    edit_config(demo_config(), |t| {
        t["providers"]["anthropic"]
            .as_table_mut()
            .expect("provider table")
            .remove("h2c");
    })
}

#[actix_web::test]
async fn h2c_providers_get_http2_and_the_others_http1() {
    let env = TestEnv::start(&h2c_for_openai_only()).await;
    let streams = (0..12).map(|i| env.chat_stream(stream_body("gpt-4o-mini", &format!("hi {i}"))));
    for s in futures_util::future::join_all(streams).await {
        assert_eq!(s.status, 200, "{}", s.raw);
        assert!(s.saw_done, "{}", s.raw);
        assert!(s.chunks.len() > 2, "{}", s.raw);
    }
    let s = env
        .chat_stream(stream_body("claude-haiku-4-5", "hello"))
        .await;
    assert_eq!(s.status, 200, "{}", s.raw);
    assert!(s.saw_done, "{}", s.raw);

    let openai = counter(&env, "openai", "requests").await;
    assert!(openai >= 12, "{openai} requests reached openai");
    // Heartbeats count too: every call to an h2c provider came over HTTP/2.
    assert!(counter(&env, "openai", "http2").await >= openai);
    assert!(counter(&env, "anthropic", "requests").await >= 1);
    assert_eq!(counter(&env, "anthropic", "http2").await, 0);
}

#[actix_web::test]
async fn h2c_streams_mode_sends_only_streams_over_http2() {
    let config = edit_config(demo_config(), |t| {
        t["providers"]["openai"]
            .as_table_mut()
            .expect("provider table")
            .insert("h2c".to_owned(), "streams".into());
    });
    let env = TestEnv::start(&config).await;
    for i in 0..4 {
        let s = env
            .chat_stream(stream_body("gpt-4o-mini", &format!("stream {i}")))
            .await;
        assert_eq!(s.status, 200, "{}", s.raw);
        assert!(s.saw_done, "{}", s.raw);
        let (status, _, body) = env
            .chat(user_says("gpt-4o-mini", &format!("one-shot {i}")))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let requests = counter(&env, "openai", "requests").await;
    assert!(requests >= 8, "{requests} requests reached openai");
    // Exactly the four streams came over HTTP/2; one-shot calls and heartbeats did not.
    assert_eq!(counter(&env, "openai", "http2").await, 4);
}

/// A client that hangs up while the model is between tokens (a reasoning model
/// thinking, a slow provider) must end the upstream stream at once, not when the next
/// token arrives and the write to the gone client fails: until then the provider
/// keeps generating tokens that are billed and nobody reads.
async fn hang_up_between_tokens(config: &str) -> TestEnv {
    let env = TestEnv::start(config).await;
    // Tokens 20 s apart: the first text comes at 20 s (within the 30 s first-byte
    // timeout), the next at 40 s. The client hangs up on receiving the first.
    env.mock_patch("openai", json!({"token_delay_ms": 20_000}))
        .await;
    let mut resp = env
        .chat_request(&stream_body("gpt-4o-mini", "hello there"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.expect("a chunk").expect("a first chunk");
    assert!(first.starts_with(b"data: "), "{first:?}");
    // The gauge is process-wide: other tests' streams may count too.
    assert!(open_streams(&env).await >= 1.0);
    drop(resp);
    eventually("the gateway drops the stream", HANG_UP_BOUND, || async {
        open_streams(&env).await == 0.0
    })
    .await;
    env
}

/// Well before the next token (20 s) would show the hang-up by a failed write.
const HANG_UP_BOUND: Duration = Duration::from_secs(15);

/// The gateway's `switchyard_open_streams` gauge.
async fn open_streams(env: &TestEnv) -> f64 {
    let text = env.metrics_text().await;
    text.lines()
        .find_map(|l| l.strip_prefix("switchyard_open_streams "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no switchyard_open_streams in\n{text}"))
}

#[actix_web::test]
async fn a_client_hanging_up_between_tokens_ends_the_h2c_upstream_stream_at_once() {
    // The simulated provider (actix-web) notices an HTTP/2 reset only at its next
    // write, so here the gateway's own gauge is the witness: dropping the upstream
    // response resets its HTTP/2 stream.
    let env = hang_up_between_tokens(demo_config()).await;
    assert_eq!(counter(&env, "openai", "http2").await, 1);
}

#[actix_web::test]
async fn a_client_hanging_up_between_tokens_ends_the_http1_upstream_stream_at_once() {
    let http1 = edit_config(demo_config(), |t| {
        t["providers"]["openai"]
            .as_table_mut()
            .expect("provider table")
            .remove("h2c");
    });
    let env = hang_up_between_tokens(&http1).await;
    eventually(
        "the provider sees its caller gone",
        HANG_UP_BOUND,
        || async { counter(&env, "openai", "disconnects").await == 1 },
    )
    .await;
    assert_eq!(counter(&env, "openai", "http2").await, 0);
}
