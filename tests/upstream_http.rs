//! How the gateway talks HTTP to providers: HTTP/2 without TLS (one connection per
//! worker thread carrying every request) for providers with `h2c = true`, as the demo
//! config sets for its simulated providers; with `h2c = "streams"` only streams take
//! HTTP/2 and one-shot calls and heartbeats keep HTTP/1.1 keep-alive; HTTP/1.1 (a
//! connection per request in flight) for the others. Streams relay alike over both,
//! and a client hanging up ends its upstream stream either way.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestEnv, demo_config, edit_config, eventually, user_says};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// The table of provider `name` in a config.
fn provider<'a>(config: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    config["providers"][name]
        .as_table_mut()
        .expect("provider table")
}

/// The demo config (`h2c = true`) with `h2c` unset (off) for anthropic.
fn h2c_for_openai_only() -> String {
    edit_config(demo_config(), |t| {
        provider(t, "anthropic").remove("h2c");
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
        provider(t, "openai").remove("h2c");
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

/// An OpenAI-compatible provider whose keep-alive connections each serve one request:
/// a second request on the same connection finds it closed without an answer, as when a
/// server's idle timeout closes a pooled connection just as the client reuses it.
/// Returns its address and how many connections it accepted.
async fn one_request_per_connection() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Read one request (head, then the body its content-length names).
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "fresh"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                    "data": [],
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if sock.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                // Keep the connection open until the next request arrives, then close
                // it unanswered.
                let _ = sock.read(&mut chunk).await;
            });
        }
    });
    (format!("http://{addr}/v1"), accepted)
}

#[actix_web::test]
async fn a_pooled_connection_the_provider_closed_is_replaced_without_failing_the_request() {
    let (base_url, accepted) = one_request_per_connection().await;
    // A provider outside the mock server takes its key from a file, as in production.
    let key_dir = tempfile::tempdir().expect("temp dir");
    let key_file = key_dir.path().join("openai.key");
    std::fs::write(&key_file, "sk-test").expect("key written");
    let config = edit_config(&common::single_attempt_config(), |t| {
        let openai = provider(t, "openai");
        openai.insert("base_url".into(), base_url.into());
        let mut key = toml::Table::new();
        key.insert("file".into(), key_file.display().to_string().into());
        openai.insert("keys".into(), toml::Value::Array(vec![key.into()]));
        openai.remove("h2c");
        // No heartbeat during the test: every connection is the chat requests'.
        common::set(t, "health", "heartbeat_interval_ms", 3_600_000);
    });
    let env = TestEnv::start(&config).await;
    for i in 0..3 {
        let (status, headers, body) = env
            .chat(user_says("openai/gpt-4o-mini", &format!("hi {i}")))
            .await;
        // One attempt allowed: the broken pooled connection must not cost it.
        assert_eq!(status, 200, "request {i}: {body}");
        assert_eq!(body["choices"][0]["message"]["content"], "fresh", "{body}");
        assert_eq!(common::header(&headers, "x-switchyard-attempts"), "1");
    }
    // Requests 2 and 3 each found their pooled connection closed and took a new one.
    assert!(accepted.load(Ordering::SeqCst) >= 3);
}
