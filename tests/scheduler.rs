//! The adaptive scheduler against simulated providers: weights decide between a cheap
//! slow candidate and a dear fast one and change at runtime; a slowed provider loses
//! its share and wins it back; heartbeats open and close circuits; a crashed provider
//! actor is restarted; tiers follow their own fallback chains; decisions are explained.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on anything unexpected"
)]

use std::time::{Duration, Instant};

mod common;

use common::TestEnv;
use serde_json::{Value, json};
use switchyard::mock::Format;

const KEY: &str = "sk-test";
const FREE_KEY: &str = "sk-test-free";
const ADMIN: &str = "admin-test";

/// Two OpenAI-format providers: `cheap` (cheap model) and `fast` (dear model), plus a
/// premium and an open-weight fallback for the tier tests.
fn config(extra: &str) -> String {
    format!(
        r#"
[admin]
token = {{ value = "{ADMIN}" }}

[dispatch]
retry_delay_ms = 10

# Routing shares are counted per request: identical requests must not be coalesced.
[cache]
enabled = false

[health]
heartbeat_interval_ms = 100
# Generous: a heartbeat is answered at once, a loaded machine may still stall one.
heartbeat_timeout_ms = 5000
heartbeat_failure_threshold = 2
publish_interval_ms = 50
latency_window_ms = 3000

[providers.cheap]
kind = "openai"
base_url = "http://{{mock}}/cheap/v1"
keys = [{{ value = "sk-mock-cheap" }}]

[providers.fast]
kind = "openai"
base_url = "http://{{mock}}/fast/v1"
keys = [{{ value = "sk-mock-fast" }}]

[providers.premium]
kind = "openai"
base_url = "http://{{mock}}/premium/v1"
keys = [{{ value = "sk-mock-premium" }}]

[providers.open]
kind = "openai"
base_url = "http://{{mock}}/open/v1"
keys = [{{ value = "sk-mock-open" }}]

[[models]]
name = "cheap-model"
provider = "cheap"
input_per_mtok_usd = 0.10
output_per_mtok_usd = 0.40
context_window = 100000
prior_latency_ms = 800

[[models]]
name = "fast-model"
provider = "fast"
input_per_mtok_usd = 5.00
output_per_mtok_usd = 15.00
context_window = 100000
prior_latency_ms = 100

[[models]]
name = "premium-model"
provider = "premium"
input_per_mtok_usd = 10.0
output_per_mtok_usd = 30.0
context_window = 100000

[[models]]
name = "open-model"
provider = "open"
input_per_mtok_usd = 0.05
output_per_mtok_usd = 0.10
context_window = 100000

[routes.auto]
candidates = ["cheap-model", "fast-model"]

[tiers.paid]
fallbacks = ["premium-model"]

[tiers.free]
routes = ["auto"]
fallbacks = ["open-model"]

[[keys]]
id = "paid"
key = {{ value = "{KEY}" }}
tenant = "t1"
tier = "paid"

[[keys]]
id = "free"
key = {{ value = "{FREE_KEY}" }}
tenant = "t2"
tier = "free"

{extra}
"#
    )
}

/// A [`TestEnv`] with the four providers of [`config`], and the scheduler's own
/// helpers (requests to `auto` with a chosen key and headers, the admin API).
struct Env(TestEnv);

impl std::ops::Deref for Env {
    type Target = TestEnv;

    fn deref(&self) -> &TestEnv {
        &self.0
    }
}

impl Env {
    async fn start(extra: &str) -> Self {
        let specs = [
            ("cheap", Format::OpenAi),
            ("fast", Format::OpenAi),
            ("premium", Format::OpenAi),
            ("open", Format::OpenAi),
        ];
        let env = Self(TestEnv::start_with_providers(&specs, &config(extra)).await);
        // Cheap-and-slow versus dear-and-fast, in measurements as in priors.
        env.mock_patch("cheap", json!({"latency_ms": 200})).await;
        env.mock_patch("fast", json!({"latency_ms": 10})).await;
        env
    }

    async fn chat_as(&self, key: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self.chat_request_as(
            key,
            &json!({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}),
        );
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.unwrap()
    }

    /// Sends a chat and returns the answering provider.
    async fn provider(&self, headers: &[(&str, &str)]) -> String {
        let r = self.chat_as(KEY, headers).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        r.headers()["x-switchyard-provider"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Polls `GET /admin/providers` until `pred` holds for provider `name` (30 s bound).
    async fn wait_provider(&self, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = self
                .admin(reqwest::Method::GET, "/admin/providers", None)
                .await;
            let p = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .cloned()
                .unwrap();
            if pred(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "{name} never became {what}: {p}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[actix_web::test]
async fn weights_pick_cheap_or_fast_and_change_at_runtime() {
    let env = Env::start("[scheduler]\nexploration = 0.0\ntie_band = 0.0\n").await;
    let (s, v) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/weights",
            Some(json!({"price": 1.0, "latency": 0.0})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["weights"]["price"], 1.0);
    for _ in 0..3 {
        assert_eq!(env.provider(&[]).await, "cheap");
    }
    env.admin(
        reqwest::Method::PUT,
        "/admin/weights",
        Some(json!({"price": 0.0, "latency": 1.0})),
    )
    .await;
    // The very next request follows the new weights.
    let r = env.chat_as(KEY, &[]).await;
    assert_eq!(r.headers()["x-switchyard-provider"], "fast");
    assert_eq!(r.headers()["x-switchyard-model"], "fast-model");
    // A request's own weights override the global ones.
    assert_eq!(
        env.provider(&[("x-switchyard-weights", "price=1,latency=0")])
            .await,
        "cheap"
    );
    // Route-scoped weights apply to the route.
    let (s, v) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/weights?route=auto",
            Some(json!({"price": 1.0, "latency": 0.0})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(env.provider(&[]).await, "cheap");
    let (_, v) = env
        .admin(reqwest::Method::GET, "/admin/weights?route=auto", None)
        .await;
    assert_eq!(v["weights"]["price"], 1.0);
}

#[actix_web::test]
async fn explain_header_shows_every_term() {
    let env = Env::start("[scheduler]\nexploration = 0.0\n").await;
    let r = env
        .chat_as(
            KEY,
            &[
                ("x-switchyard-explain", "1"),
                ("x-switchyard-weights", "price=0.7,latency=0.3"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let e: Value =
        serde_json::from_str(r.headers()["x-switchyard-explain"].to_str().unwrap()).unwrap();
    assert_eq!(e["route"], "auto");
    assert_eq!(e["weights"]["price"], 0.7);
    let first = &e["candidates"][0];
    assert_eq!(first["rank"], 1);
    assert_eq!(
        first["provider"],
        r.headers()["x-switchyard-provider"].to_str().unwrap()
    );
    for term in ["price", "latency", "errors", "penalty", "total"] {
        assert!(first["terms"][term].is_number(), "{term} missing: {e}");
    }
    assert!(first["expected_cost_usd"].as_f64().unwrap() > 0.0);
    // The tier's fallback is listed as such.
    assert!(
        e["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["model"] == "premium-model" && c["fallback"] == true)
    );
    // Decisions are kept per route.
    let (_, d) = env
        .admin(reqwest::Method::GET, "/admin/decisions?route=auto", None)
        .await;
    assert!(!d["decisions"]["auto"].as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn hard_limits_skip_candidates_or_explain_why_none_fits() {
    let env = Env::start("[scheduler]\nexploration = 0.0\n").await;
    // Only the cheap model fits a tiny budget, whatever the weights say.
    let p = env
        .provider(&[
            ("x-switchyard-max-cost-usd", "0.001"),
            ("x-switchyard-weights", "price=0,latency=1"),
        ])
        .await;
    assert_eq!(p, "cheap");
    let r = env
        .chat_as(KEY, &[("x-switchyard-max-cost-usd", "0.0000001")])
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_candidate_within_limits");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cheapest"),
        "{body}"
    );
    let r = env
        .chat_as(KEY, &[("x-switchyard-weights", "price=lots")])
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "x-switchyard-weights");
}

#[actix_web::test]
async fn admin_api_needs_the_token_and_validates_weights() {
    let env = Env::start("").await;
    let r = env
        .client
        .get(env.url("/admin/providers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let r = env
        .client
        .get(env.url("/admin/providers"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, v) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/weights",
            Some(json!({"price": "cheap"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "price");
    let (s, v) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/weights",
            Some(json!({"latency": -2})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "latency");
    let (s, v) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/weights",
            Some(json!({"speed": 1})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/weights?route=nope",
            Some(json!({"price": 1})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = env.admin(reqwest::Method::GET, "/admin/routes", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["routes"]["auto"]["candidates"],
        json!(["cheap-model", "fast-model"])
    );
    assert_eq!(v["tiers"]["free"]["fallbacks"], json!(["open-model"]));
}

#[actix_web::test]
async fn failing_heartbeats_open_the_circuit_and_recovery_closes_it() {
    let env = Env::start("[scheduler]\nexploration = 0.0\n").await;
    env.mock_patch("fast", json!({"heartbeat_fail": true}))
        .await;
    let p = env
        .wait_provider("fast", "open", |p| p["circuit"] == "open")
        .await;
    assert_eq!(p["open_cause"], "heartbeats");
    let before = env.upstream_requests("fast").await;
    for _ in 0..5 {
        assert_eq!(
            env.provider(&[("x-switchyard-weights", "price=0,latency=1")])
                .await,
            "cheap"
        );
    }
    assert_eq!(
        env.upstream_requests("fast").await,
        before,
        "an open circuit gets no traffic"
    );
    env.mock_patch("fast", json!({"heartbeat_fail": false}))
        .await;
    env.wait_provider("fast", "closed", |p| p["circuit"] == "closed")
        .await;
    assert_eq!(
        env.provider(&[("x-switchyard-weights", "price=0,latency=1")])
            .await,
        "fast"
    );
}

#[actix_web::test]
async fn a_crashed_provider_actor_is_restarted_and_serving_continues() {
    let env = Env::start("").await;
    let (s, _) = env
        .admin(reqwest::Method::POST, "/admin/providers/cheap/crash", None)
        .await;
    assert_eq!(s, 202);
    // Requests are answered while the actor restarts.
    for _ in 0..5 {
        let r = env.chat_as(KEY, &[]).await;
        assert_eq!(r.status(), 200);
    }
    let p = env
        .wait_provider("cheap", "restarted", |p| p["restarts"] == 1)
        .await;
    assert_eq!(p["circuit"], "closed");
    // The restarted actor still records outcomes.
    for _ in 0..3 {
        env.provider(&[("x-switchyard-weights", "price=1,latency=0")])
            .await;
    }
    env.wait_provider("cheap", "measured", |p| {
        p["models"][0]["ok"].as_u64() >= Some(3)
    })
    .await;
    let (s, _) = env
        .admin(reqwest::Method::POST, "/admin/providers/nope/crash", None)
        .await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn free_and_paid_tiers_follow_their_own_fallbacks() {
    let env = Env::start("[scheduler]\nexploration = 0.0\n").await;
    for p in ["cheap", "fast"] {
        env.mock_patch(p, json!({"error_rate": 1.0, "error_status": 503}))
            .await;
    }
    let paid = env.chat_as(KEY, &[]).await;
    assert_eq!(paid.status(), 200);
    assert_eq!(paid.headers()["x-switchyard-provider"], "premium");
    assert_eq!(paid.headers()["x-switchyard-attempts"], "3");
    let free = env.chat_as(FREE_KEY, &[]).await;
    assert_eq!(free.status(), 200);
    assert_eq!(free.headers()["x-switchyard-provider"], "open");
    // The free tier may not use routes outside its list.
    let r = env
        .chat_request_as(
            FREE_KEY,
            &json!({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .header("x-switchyard-route", "auto")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[actix_web::test]
async fn a_slowed_provider_loses_its_share_and_wins_it_back() {
    // Two equally priced candidates, both answering in ~300 ms: a tie band of 0.3
    // absorbs scheduling noise, so traffic is spread while they are equal.
    let extra = r#"
[scheduler]
exploration = 0.1
tie_band = 0.3
weights = { price = 0.0, latency = 1.0 }

[routes.twins]
candidates = ["cheap-model", "cheap-model-b"]

[[models]]
name = "cheap-model-b"
provider = "fast"
input_per_mtok_usd = 0.10
output_per_mtok_usd = 0.40
context_window = 100000
prior_latency_ms = 800
"#;
    let env = Env::start(extra).await;
    env.mock_patch("cheap", json!({"latency_ms": 300})).await;
    env.mock_patch("fast", json!({"latency_ms": 300})).await;
    // Sends `n` requests to `twins`, ten at a time; counts those `fast` answered.
    let fast_share = |n: usize| {
        let env = &env;
        async move {
            let mut hits = 0;
            for _ in 0..n / 10 {
                let batch = (0..10).map(|_| async {
                    let r = env
                        .chat_request_as(
                            KEY,
                            &json!({"model": "twins", "messages": [{"role": "user", "content": "Hi"}]}),
                        )
                        .send()
                        .await
                        .unwrap();
                    r.headers()["x-switchyard-provider"] == "fast"
                });
                hits += futures_util::future::join_all(batch)
                    .await
                    .into_iter()
                    .filter(|f| *f)
                    .count();
            }
            hits
        }
    };
    let equal = fast_share(60).await;
    assert!(
        (12..=48).contains(&equal),
        "traffic is spread while equal: {equal}/60"
    );
    // Slow `fast` down five-fold: once measured, it keeps only exploration traffic.
    env.mock_patch("fast", json!({"latency_ms": 1500})).await;
    fast_share(30).await;
    let slow = fast_share(60).await;
    assert!(
        slow <= 15,
        "a slow provider keeps only exploration traffic: {slow}/60"
    );
    // Fast again: once its slow samples age out of the 3 s window, it wins traffic back.
    env.mock_patch("fast", json!({"latency_ms": 300})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let back = fast_share(30).await;
        if back >= 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never won traffic back ({back}/30)"
        );
    }
}
