//! Failover, rate limits and key pools under concurrent load, against simulated
//! providers (docs/failover.md). Upstream hit counts at the mock prove who was asked.

mod common;

use std::time::{Duration, Instant};

use common::{DEMO_KEY, TestEnv, assert_error_shape, eventually, header, user_says};
use futures_util::future::join_all;
use serde_json::{Value, json};
use switchyard::mock::Format;

const ADMIN: &str = "admin-test";
const PAID_KEY: &str = "sk-test-paid";
const FREE_KEY: &str = "sk-test-free";
/// The retry delay of route `slow-retry`, checked as a lower bound.
const SLOW_RETRY_MS: u64 = 300;
/// How long `eventually` waits: a bound against a hang, never a wait for timing.
const BOUND: Duration = Duration::from_secs(30);

/// `primary` and its fallbacks, all OpenAI-format: `secondary` (route fallback),
/// `premium` (paid tier) and `open` (free tier); `limited` (10 requests per minute in
/// the gateway) and `learner` (no limit configured: the gateway learns it from headers).
fn config() -> String {
    let provider = |name: &str, extra: &str| {
        format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"http://{{mock}}/{name}/v1\"\n{extra}\n"
        )
    };
    let model = |provider: &str| {
        format!(
            "[[models]]\nname = \"gpt-4o-mini\"\nprovider = \"{provider}\"\ninput_per_mtok_usd = 0.15\noutput_per_mtok_usd = 0.6\ncontext_window = 128000\n"
        )
    };
    let mut c = format!(
        r#"
[admin]
token = {{ value = "{ADMIN}" }}

# These tests count what each provider receives: identical concurrent requests must
# each go upstream, not be coalesced.
[cache]
enabled = false

[dispatch]
retry_delay_ms = 10
max_attempts = 3

[health]
heartbeat_interval_ms = 100
# Generous: a heartbeat is answered at once, a loaded machine may still stall one.
heartbeat_timeout_ms = 5000
heartbeat_failure_threshold = 2
failure_threshold = 5
open_cooldown_ms = 300
publish_interval_ms = 50

[routes.pair]
candidates = ["primary/gpt-4o-mini"]
fallbacks = ["secondary/gpt-4o-mini"]

[routes.slow-retry]
candidates = ["primary/gpt-4o-mini"]
fallbacks = ["secondary/gpt-4o-mini"]
retry_delay_ms = {SLOW_RETRY_MS}

[routes.outage]
candidates = ["primary/gpt-4o-mini"]

[routes.limited]
candidates = ["limited/gpt-4o-mini"]
fallbacks = ["secondary/gpt-4o-mini"]

[routes.limited-only]
candidates = ["limited/gpt-4o-mini"]

[routes.learn]
candidates = ["learner/gpt-4o-mini"]
fallbacks = ["secondary/gpt-4o-mini"]

[tiers.paid]
fallbacks = ["premium/gpt-4o-mini"]

[tiers.free]
fallbacks = ["open/gpt-4o-mini"]

[[keys]]
id = "default"
key = {{ value = "{DEMO_KEY}" }}
tenant = "t"

[[keys]]
id = "paid"
key = {{ value = "{PAID_KEY}" }}
tenant = "t"
tier = "paid"

[[keys]]
id = "free"
key = {{ value = "{FREE_KEY}" }}
tenant = "t"
tier = "free"

"#
    );
    c += &provider(
        "primary",
        "keys = [{ value = \"sk-primary-1\" }, { value = \"sk-primary-2\" }]",
    );
    c += &provider("secondary", "keys = [{ value = \"sk-secondary\" }]");
    c += &provider("premium", "keys = [{ value = \"sk-premium\" }]");
    c += &provider("open", "keys = [{ value = \"sk-open\" }]");
    c += &provider(
        "limited",
        "keys = [{ value = \"sk-limited\" }]\nrpm = 10\nmax_queue_ms = 100",
    );
    c += &provider("learner", "keys = [{ value = \"sk-learner\" }]");
    for p in [
        "primary",
        "secondary",
        "premium",
        "open",
        "limited",
        "learner",
    ] {
        c += &model(p);
    }
    c
}

async fn env() -> TestEnv {
    let names = [
        "primary",
        "secondary",
        "premium",
        "open",
        "limited",
        "learner",
    ];
    let specs: Vec<(&str, Format)> = names.iter().map(|n| (*n, Format::OpenAi)).collect();
    TestEnv::start_with_providers(&specs, &config()).await
}

/// One chat call to `route` with `key`: status, answering provider, elapsed time.
async fn call(env: &TestEnv, key: &str, route: &str) -> (u16, String, Duration, Value) {
    let started = Instant::now();
    let resp = env
        .client
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&user_says(route, "hi"))
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    let provider = header(resp.headers(), "x-switchyard-provider").to_owned();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, provider, started.elapsed(), body)
}

/// `n` concurrent calls.
async fn burst(
    env: &TestEnv,
    n: usize,
    key: &str,
    route: &str,
) -> Vec<(u16, String, Duration, Value)> {
    join_all((0..n).map(|_| call(env, key, route))).await
}

fn assert_all_ok(results: &[(u16, String, Duration, Value)]) {
    for (status, provider, _, body) in results {
        assert_eq!(
            *status, 200,
            "a client saw an error from {provider}: {body}"
        );
    }
}

async fn counter(env: &TestEnv, provider: &str, name: &str) -> u64 {
    env.mock_counts().await["providers"][provider][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} for {provider}"))
}

async fn admin(env: &TestEnv, method: reqwest::Method, path: &str) -> (u16, Value) {
    let r = env
        .client
        .request(method, env.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("admin reachable");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn circuit(env: &TestEnv, provider: &str) -> String {
    let (_, v) = admin(env, reqwest::Method::GET, "/admin/providers").await;
    v["data"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == provider))
        .map(|p| p["circuit"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

#[actix_web::test]
async fn primary_503_is_answered_by_the_secondary_after_the_retry_delay() {
    let env = env().await;
    env.mock_patch("primary", json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    let results = join_all((0..20).map(|_| async {
        let started = Instant::now();
        let (status, headers, body) = env.chat(user_says("slow-retry", "hi")).await;
        (status, headers, body, started.elapsed())
    }))
    .await;
    let mut retried = 0;
    for (status, headers, body, elapsed) in results {
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "x-switchyard-provider"), "secondary");
        // Requests planned after the primary's circuit opened (5 failures) skip it.
        match header(&headers, "x-switchyard-attempts") {
            "2" => {
                retried += 1;
                assert!(
                    elapsed >= Duration::from_millis(SLOW_RETRY_MS),
                    "answered after {elapsed:?}, before the retry delay"
                );
            }
            "1" => {}
            other => panic!("unexpected attempts: {other}"),
        }
    }
    assert!(
        retried >= 5,
        "only {retried} requests tried the primary first"
    );
    // Every client got its answer from the secondary; the primary was asked at most
    // once per request.
    assert!(counter(&env, "primary", "requests").await <= 20);
    assert_eq!(counter(&env, "secondary", "requests").await, 20);
}

#[actix_web::test]
async fn regional_outage_costs_no_errors_and_tiers_follow_their_own_chains() {
    let env = env().await;
    // Slow enough that hundreds of requests are in flight at once.
    for p in ["primary", "premium", "open"] {
        env.mock_patch(p, json!({"latency_ms": 150})).await;
    }
    let first = tokio::join!(
        burst(&env, 100, PAID_KEY, "outage"),
        burst(&env, 100, FREE_KEY, "outage"),
        async {
            // The outage starts while the first 200 are in flight.
            eventually("requests in flight at primary", BOUND, || async {
                counter(&env, "primary", "requests").await >= 20
            })
            .await;
            env.mock_patch("primary", json!({"outage": true})).await;
        }
    );
    assert_all_ok(&first.0);
    assert_all_ok(&first.1);
    // More arrive during the outage: all answered by their tier's fallback.
    let (paid, free) = tokio::join!(
        burst(&env, 50, PAID_KEY, "outage"),
        burst(&env, 50, FREE_KEY, "outage")
    );
    assert_all_ok(&paid);
    assert_all_ok(&free);
    assert!(
        paid.iter().all(|r| r.1 == "premium"),
        "paid answered elsewhere"
    );
    assert!(
        free.iter().all(|r| r.1 == "open"),
        "free answered elsewhere"
    );
    for r in first.0.iter().filter(|r| r.1 != "primary") {
        assert_eq!(r.1, "premium");
    }
    for r in first.1.iter().filter(|r| r.1 != "primary") {
        assert_eq!(r.1, "open");
    }
    eventually("primary's circuit opens", BOUND, || async {
        circuit(&env, "primary").await == "open"
    })
    .await;

    // Recovery: heartbeats close the circuit and traffic returns.
    env.mock_patch("primary", json!({"outage": false})).await;
    eventually("primary's circuit closes", BOUND, || async {
        circuit(&env, "primary").await == "closed"
    })
    .await;
    eventually("traffic returns to primary", BOUND, || async {
        let (status, provider, _, _) = call(&env, PAID_KEY, "outage").await;
        assert_eq!(status, 200);
        provider == "primary"
    })
    .await;
}

#[actix_web::test]
async fn a_429_storm_is_routed_around_until_the_reset() {
    let env = env().await;
    env.mock_patch(
        "primary",
        json!({"rate_limit_rate": 1.0, "retry_after_s": 20}),
    )
    .await;
    assert_all_ok(&burst(&env, 50, DEMO_KEY, "pair").await);
    let storm_hits = counter(&env, "primary", "requests").await;
    assert!(storm_hits >= 1);
    // Well inside the 20 s: nothing more reaches the storming provider.
    for _ in 0..3 {
        let results = burst(&env, 30, DEMO_KEY, "pair").await;
        assert_all_ok(&results);
        assert!(results.iter().all(|r| r.1 == "secondary"));
    }
    assert_eq!(counter(&env, "primary", "requests").await, storm_hits);
}

#[actix_web::test]
async fn a_requests_per_minute_bucket_caps_what_the_provider_receives() {
    let env = env().await;
    // The mock enforces the same limit: any excess would show as a 429 there.
    env.mock_patch("limited", json!({"rpm_limit": 10})).await;
    let results = burst(&env, 40, DEMO_KEY, "limited").await;
    assert_all_ok(&results);
    let at_limited = counter(&env, "limited", "requests").await;
    assert!(
        at_limited <= 10,
        "limited received {at_limited} of a 10/min limit"
    );
    assert!(at_limited >= 1);
    let rerouted = results.iter().filter(|r| r.1 == "secondary").count() as u64;
    assert_eq!(rerouted + at_limited, 40);
    assert_eq!(counter(&env, "limited", "rate_limited").await, 0);

    // With no other candidate, the client is told to come back.
    let (status, _, _, body) = call(&env, DEMO_KEY, "limited-only").await;
    assert_eq!(status, 429, "{body}");
    let err = assert_error_shape(&body);
    assert_eq!(err["code"], "rate_limit_exceeded");
    let resp = env
        .chat_request(&user_says("limited-only", "hi"))
        .send()
        .await
        .unwrap();
    let wait: u64 = header(resp.headers(), "retry-after")
        .parse()
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");

    let metrics = env.client.get(env.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    for name in [
        "switchyard_rate_limit_tokens_available{",
        "switchyard_rate_limited_total{",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[actix_web::test]
async fn buckets_follow_the_providers_headers_and_stop_before_its_429() {
    let env = env().await;
    env.mock_patch("learner", json!({"rpm_limit": 5})).await;
    for _ in 0..12 {
        let (status, _, _, body) = call(&env, DEMO_KEY, "learn").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(counter(&env, "learner", "requests").await, 5);
    assert_eq!(counter(&env, "learner", "rate_limited").await, 0);
}

#[actix_web::test]
async fn client_disconnect_mid_stream_closes_the_upstream_connection() {
    let env = env().await;
    env.mock_patch("primary", json!({"token_delay_ms": 50}))
        .await;
    let long = "word ".repeat(400);
    let mut body = user_says("pair", &long);
    body["stream"] = json!(true);
    let mut resp = env.chat_request(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty());
    drop(resp);
    eventually(
        "the simulated provider sees the connection closed",
        BOUND,
        || async { counter(&env, "primary", "disconnects").await >= 1 },
    )
    .await;
}

#[actix_web::test]
async fn a_revoked_key_leaves_rotation_and_requests_keep_succeeding() {
    let env = env().await;
    env.mock_patch("primary", json!({"revoked_keys": ["sk-primary-1"]}))
        .await;
    let results = burst(&env, 40, DEMO_KEY, "pair").await;
    assert_all_ok(&results);
    let refused = counter(&env, "primary", "unauthorized").await;
    assert!(refused >= 1, "the revoked key was never tried");
    // Once out of rotation, the revoked key is not sent again.
    for _ in 0..3 {
        let results = burst(&env, 20, DEMO_KEY, "pair").await;
        assert_all_ok(&results);
        assert!(results.iter().all(|r| r.1 == "primary"));
    }
    assert_eq!(counter(&env, "primary", "unauthorized").await, refused);

    let text = env
        .client
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("switchyard_provider_key_disabled_total{"))
        .expect("key-disabled metric");
    assert!(line.contains("provider=\"primary\""), "{line}");
    assert!(
        !line.contains("sk-primary"),
        "a key leaked into /metrics: {line}"
    );

    // A reload brings the key back (the operator replaced it at the provider).
    env.mock_patch("primary", json!({"revoked_keys": []})).await;
    let (status, v) = admin(&env, reqwest::Method::POST, "/admin/reload-keys").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["providers"]["primary"]["keys"], 2);
    assert_all_ok(&burst(&env, 10, DEMO_KEY, "pair").await);
}

#[actix_web::test]
async fn the_request_deadline_bounds_slow_attempts() {
    let env = env().await;
    // The answer would take 20 s; the request's deadline is 300 ms.
    env.mock_patch("primary", json!({"latency_ms": 20_000}))
        .await;
    let started = Instant::now();
    let resp = env
        .chat_request(&user_says("outage", "hi"))
        .header("x-switchyard-timeout-ms", "300")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    // Far above the deadline however loaded the machine, far below the provider.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    let body: Value = resp.json().await.unwrap();
    assert_error_shape(&body);
}
