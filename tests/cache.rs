//! Request deduplication and the response cache, end to end against the simulated
//! providers: upstream calls are counted at the mock (`/_mock` request counters), what
//! the cache did is read from `x-switchyard-cache`, its size from `GET /admin/cache`.
//!
//! Requests name `gpt-4o-mini`, which only the simulated `openai` offers in the demo
//! config, so every upstream call lands on one counter. To keep the first of many
//! concurrent requests in flight while the others arrive, the mock is made slow
//! (latency, time to first token, per-token delay); the assertions hold whether a later
//! request joins the flight or, arriving after it finished, hits the cache, so they do
//! not depend on timing.

mod common;

use std::time::Duration;

use common::{TestEnv, demo_config, header, parse_sse, send_json, set};
use futures_util::future::join_all;
use serde_json::{Value, json};

const ADMIN: &str = "switchyard-admin-demo";
const OTHER_TENANT_KEY: &str = "sk-switchyard-other-tenant";

/// The demo config plus a key of a second tenant on the same (paid) tier.
fn config(edit: impl FnOnce(&mut toml::Table)) -> String {
    let text = format!(
        "{}\n[[keys]]\nid = \"other\"\nkey = {{ value = \"{OTHER_TENANT_KEY}\" }}\ntenant = \"other\"\ntier = \"paid\"\n",
        demo_config()
    );
    common::edit_config(&text, edit)
}

fn deterministic(text: &str) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "temperature": 0,
        "messages": [{"role": "user", "content": text}],
    })
}

fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no content in {body}"))
}

async fn chat_with(
    env: &TestEnv,
    body: &Value,
    headers: &[(&str, &str)],
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let mut rb = env.chat_request(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    send_json(rb).await
}

async fn cache_stats(env: &TestEnv) -> Value {
    let (status, _, body) =
        send_json(env.client.get(env.url("/admin/cache")).bearer_auth(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn fifty_identical_concurrent_requests_make_one_upstream_call() {
    let env = TestEnv::start(&config(|_| {})).await;
    env.mock_patch("openai", json!({"latency_ms": 1500})).await;
    let body = deterministic("coalesce me");
    let answers = join_all((0..50).map(|_| env.chat(body.clone()))).await;

    assert_eq!(env.upstream_requests("openai").await, 1);
    let first = content(&answers[0].2).to_owned();
    assert!(first.contains("You said: coalesce me"), "{first}");
    let mut misses = 0;
    for (status, headers, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(content(body), first);
        match header(headers, "x-switchyard-cache") {
            "miss" => misses += 1,
            "coalesced" | "hit" => {}
            other => panic!("unexpected x-switchyard-cache: {other:?}"),
        }
    }
    assert_eq!(misses, 1);
}

#[actix_web::test]
async fn fifty_identical_concurrent_streams_share_one_upstream_stream() {
    let env = TestEnv::start(&config(|_| {})).await;
    env.mock_patch("openai", json!({"ttft_ms": 300, "token_delay_ms": 40}))
        .await;
    let streams = join_all((0..50).map(|i| {
        let mut body = deterministic("stream together please");
        body["stream"] = json!(true);
        // Half the clients ask for the usage chunk: each gets its own choice.
        if i % 2 == 1 {
            body["stream_options"] = json!({"include_usage": true});
        }
        env.chat_stream(body)
    }))
    .await;

    assert_eq!(env.upstream_requests("openai").await, 1);
    let text = streams[0].text();
    assert!(text.contains("You said: stream together please"), "{text}");
    let mut ids = std::collections::HashSet::new();
    for (i, s) in streams.iter().enumerate() {
        assert_eq!(s.status, 200, "{}", s.raw);
        assert!(s.saw_done, "stream {i} did not end with [DONE]: {}", s.raw);
        assert_eq!(s.text(), text, "stream {i}");
        assert_eq!(s.finish_reasons(), ["stop"], "stream {i}");
        assert!(matches!(
            header(&s.headers, "x-switchyard-cache"),
            "miss" | "coalesced" | "hit"
        ));
        let id = s.chunks[0]["id"].as_str().unwrap().to_owned();
        assert!(
            s.chunks.iter().all(|c| c["id"] == id.as_str()),
            "one id per stream"
        );
        ids.insert(id);
        let last = s.chunks.last().unwrap();
        if i % 2 == 1 {
            assert!(
                last["usage"]["completion_tokens"].as_u64().unwrap() > 0,
                "{last}"
            );
        } else {
            assert!(
                s.chunks.iter().all(|c| c.get("usage").is_none()),
                "stream {i}"
            );
        }
    }
    assert_eq!(ids.len(), 50, "every client gets its own completion id");
}

#[actix_web::test]
async fn a_repeat_within_the_ttl_is_a_hit_for_the_same_tenant_only() {
    let env = TestEnv::start(&config(|_| {})).await;
    let body = deterministic("remember this");
    let (s1, h1, b1) = env.chat(body.clone()).await;
    assert_eq!(
        (s1.as_u16(), header(&h1, "x-switchyard-cache")),
        (200, "miss")
    );
    let (s2, h2, b2) = env.chat(body.clone()).await;
    assert_eq!(
        (s2.as_u16(), header(&h2, "x-switchyard-cache")),
        (200, "hit")
    );
    assert_eq!(header(&h2, "x-switchyard-provider"), "openai");
    assert_eq!(content(&b2), content(&b1));
    assert_ne!(b2["id"], b1["id"], "a replay gets a fresh id");
    assert_eq!(b2["usage"], b1["usage"]);
    assert_eq!(env.upstream_requests("openai").await, 1);

    // The same answer replays as a stream, in the usual chunk shape.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let s = env.chat_stream(streamed).await;
    assert_eq!(header(&s.headers, "x-switchyard-cache"), "hit");
    assert!(s.saw_done);
    assert_eq!(s.text(), content(&b1));
    assert_eq!(s.chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(env.upstream_requests("openai").await, 1);

    // Another tenant never sees it.
    let (s3, h3, _) = send_json(
        env.client
            .post(env.url("/v1/chat/completions"))
            .bearer_auth(OTHER_TENANT_KEY)
            .json(&body),
    )
    .await;
    assert_eq!(
        (s3.as_u16(), header(&h3, "x-switchyard-cache")),
        (200, "miss")
    );
    assert_eq!(env.upstream_requests("openai").await, 2);
}

#[actix_web::test]
async fn after_the_ttl_the_answer_is_fetched_again() {
    let env = TestEnv::start(&config(|t| set(t, "cache", "ttl_ms", 200))).await;
    let body = deterministic("short lived");
    let (_, h1, _) = env.chat(body.clone()).await;
    assert_eq!(header(&h1, "x-switchyard-cache"), "miss");
    // Five times the TTL: the entry has expired however slowly this machine runs.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (s2, h2, _) = env.chat(body).await;
    assert_eq!(
        (s2.as_u16(), header(&h2, "x-switchyard-cache")),
        (200, "miss")
    );
    assert_eq!(env.upstream_requests("openai").await, 2);
}

#[actix_web::test]
async fn the_memory_bound_holds_and_evictions_are_counted() {
    let max_bytes = 20_000;
    let env = TestEnv::start(&config(|t| set(t, "cache", "max_bytes", max_bytes))).await;
    let filler = "x".repeat(2_000);
    for i in 0..30 {
        let (status, headers, _) = env.chat(deterministic(&format!("{i} {filler}"))).await;
        assert_eq!(
            (status.as_u16(), header(&headers, "x-switchyard-cache")),
            (200, "miss")
        );
    }
    let stats = cache_stats(&env).await;
    let bytes = stats["bytes"].as_u64().unwrap();
    let evictions = stats["evictions"].as_u64().unwrap();
    assert!(bytes <= max_bytes as u64, "{stats}");
    assert!(bytes > max_bytes as u64 / 2, "the cache is in use: {stats}");
    assert!(evictions >= 20, "{stats}");
    assert_eq!(
        stats["entries"].as_u64().unwrap() + evictions,
        30,
        "{stats}"
    );

    // The newest answer is still there, the oldest is gone.
    let (_, newest, _) = env.chat(deterministic(&format!("29 {filler}"))).await;
    assert_eq!(header(&newest, "x-switchyard-cache"), "hit");
    let (_, oldest, _) = env.chat(deterministic(&format!("0 {filler}"))).await;
    assert_eq!(header(&oldest, "x-switchyard-cache"), "miss");

    // The process-wide counter includes this gateway's evictions.
    let text = env
        .client
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_cache_evictions_total "))
        .unwrap_or_else(|| panic!("no evictions counter in /metrics"))
        .trim()
        .parse()
        .unwrap();
    assert!(counted >= evictions as f64, "{counted} < {evictions}");
    for name in [
        "switchyard_cache_bytes",
        "switchyard_cache_entries",
        "switchyard_cache_events_total{result=\"miss\"}",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[actix_web::test]
async fn a_failed_request_is_not_cached() {
    let env = TestEnv::start(&config(|t| {
        set(t, "dispatch", "max_attempts", 1);
        set(t, "dispatch", "retry_delay_ms", 0);
    }))
    .await;
    env.mock_patch("openai", json!({"error_rate": 1.0})).await;
    let body = deterministic("fail first");
    let (s1, _, b1) = env.chat(body.clone()).await;
    assert!(s1.is_server_error(), "{s1} {b1}");
    common::assert_error_shape(&b1);
    env.mock_patch("openai", json!({"error_rate": 0.0})).await;
    let (s2, h2, b2) = env.chat(body).await;
    assert_eq!(
        (s2.as_u16(), header(&h2, "x-switchyard-cache")),
        (200, "miss"),
        "{b2}"
    );
    assert_eq!(env.upstream_requests("openai").await, 2);
}

#[actix_web::test]
async fn a_shared_failure_reaches_every_waiter() {
    let env = TestEnv::start(&config(|t| {
        set(t, "dispatch", "max_attempts", 1);
        set(t, "dispatch", "retry_delay_ms", 0);
    }))
    .await;
    env.mock_patch("openai", json!({"error_rate": 1.0, "latency_ms": 1000}))
        .await;
    let body = deterministic("fail together");
    let answers = join_all((0..10).map(|_| env.chat(body.clone()))).await;
    for (status, _, body) in &answers {
        assert_eq!(status.as_u16(), 502, "{body}");
        assert_eq!(body["error"]["code"], "server");
    }
    let calls = env.upstream_requests("openai").await;
    assert!((1..=10).contains(&calls), "{calls}");
}

#[actix_web::test]
async fn bypass_headers_skip_the_cache() {
    let env = TestEnv::start(&config(|_| {})).await;
    let body = deterministic("bypass me");
    let (_, h, _) = env.chat(body.clone()).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "miss");
    let (_, h, _) = chat_with(&env, &body, &[("x-switchyard-cache", "bypass")]).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "bypass");
    let (_, h, _) = chat_with(&env, &body, &[("cache-control", "no-cache")]).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "bypass");
    assert_eq!(env.upstream_requests("openai").await, 3);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = env
        .chat_request(&streamed)
        .header("x-switchyard-cache", "bypass")
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "x-switchyard-cache"), "bypass");
    let (chunks, done) = parse_sse(&resp.text().await.unwrap());
    assert!(done && !chunks.is_empty());
    assert_eq!(env.upstream_requests("openai").await, 4);

    let (_, h, _) = env.chat(body).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "hit");
    assert_eq!(env.upstream_requests("openai").await, 4);
}

#[actix_web::test]
async fn non_deterministic_requests_are_cached_only_on_request() {
    let env = TestEnv::start(&config(|_| {})).await;
    let mut body = deterministic("be creative");
    body["temperature"] = json!(0.7);
    for _ in 0..2 {
        let (_, h, _) = env.chat(body.clone()).await;
        assert_eq!(header(&h, "x-switchyard-cache"), "miss");
    }
    let no_temperature = common::user_says("gpt-4o-mini", "be creative");
    let (_, h, _) = env.chat(no_temperature.clone()).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "miss");
    let (_, h, _) = env.chat(no_temperature).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "miss");
    assert_eq!(env.upstream_requests("openai").await, 4);

    let (_, h, _) = chat_with(&env, &body, &[("x-switchyard-cache", "use")]).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "miss");
    let (_, h, _) = chat_with(&env, &body, &[("x-switchyard-cache", "use")]).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "hit");
    assert_eq!(env.upstream_requests("openai").await, 5);
}

#[actix_web::test]
async fn a_route_can_turn_the_cache_off() {
    let env = TestEnv::start(&config(|t| {
        let routes = t["routes"].as_table_mut().unwrap();
        let classify = routes["classify"].as_table_mut().unwrap();
        classify.insert("cache".into(), "off".into());
    }))
    .await;
    let mut body = deterministic("no caching here");
    body["model"] = json!("classify");
    for _ in 0..2 {
        let (status, h, _) = env.chat(body.clone()).await;
        assert_eq!(
            (status.as_u16(), header(&h, "x-switchyard-cache")),
            (200, "bypass")
        );
    }
    let (_, h, _) = env.chat(deterministic("cached elsewhere")).await;
    assert_eq!(header(&h, "x-switchyard-cache"), "miss");
}
