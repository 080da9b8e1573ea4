//! Every stream is billed (issue 22): completed, cut by the client, failed mid-way,
//! coalesced, replayed from the cache, or cut by the gateway stopping, each stream's
//! usage record names who answered, its tokens (reported, or estimated and marked so),
//! its cost (or the cost a cache answer saved) and its time to the first token. A
//! stream still open when the gateway stops ends with an error event saying so.
//!
//! Requests go the default way (no cache header), and name `gpt-4o-mini`, which only
//! the simulated `openai` offers in the demo config. Each request carries its own
//! `x-request-id`, by which its record is found.

mod common;

use std::time::{Duration, Instant};

use common::{DEMO_KEY, TestEnv, assert_error_shape, edit_config, eventually, parse_sse, set};
use serde_json::{Value, json};
use switchyard::app::Gateway;
use switchyard::config::Config;
use switchyard::mock::{MockServer, MockState};
use switchyard::usage::query::Filter;

const ADMIN: &str = "switchyard-admin-demo";
/// Upper bound on waiting for the ledger (its batch window here is 50 ms).
const LEDGER_DEADLINE: Duration = Duration::from_secs(20);
/// Delay between the simulated provider's tokens in the slow tests.
const TOKEN_DELAY_MS: u64 = 200;

/// The demo config with a short batch window, so records land quickly.
fn config() -> String {
    edit_config(common::demo_config(), |t| {
        set(t, "usage", "flush_interval_ms", 50);
    })
}

/// A streamed question. `words` words long: the simulated provider repeats the
/// question, one token per word, so at [`TOKEN_DELAY_MS`] a long one streams for many
/// seconds (far longer than any test waits for its first chunk).
fn stream_of(words: usize) -> Value {
    let text = vec!["word"; words].join(" ");
    json!({
        "model": "gpt-4o-mini",
        "stream": true,
        "messages": [{"role": "user", "content": text}],
    })
}

/// The record of request `id`, once the ledger has it.
async fn record_of(env: &TestEnv, id: &str) -> Value {
    let deadline = Instant::now() + LEDGER_DEADLINE;
    loop {
        let (status, _, body) = common::send_json(
            env.client
                .get(env.url("/v1/usage/records?limit=1000"))
                .bearer_auth(ADMIN),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let data = body["data"].as_array().cloned().unwrap_or_default();
        if let Some(r) = data.into_iter().find(|r| r["request_id"] == id) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no record of {id} after {LEDGER_DEADLINE:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send_stream(env: &TestEnv, id: &str, body: &Value) -> reqwest::Response {
    let resp = env
        .chat_request(body)
        .header("x-request-id", id)
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), 200);
    resp
}

/// Reads `resp` until a chunk with text has arrived; returns what was read.
async fn read_until_text(resp: &mut reqwest::Response) -> String {
    let mut raw = String::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .expect("stream readable")
            .unwrap_or_else(|| panic!("the stream ended before any text: {raw}"));
        raw.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        let complete = &raw[..raw.rfind("\n\n").map_or(0, |i| i + 2)];
        let (chunks, _) = parse_sse(complete);
        if chunks.iter().any(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        }) {
            return raw;
        }
    }
}

/// Reads the rest of `resp` after `raw`.
async fn read_rest(mut resp: reqwest::Response, mut raw: String) -> String {
    while let Some(chunk) = resp.chunk().await.expect("stream readable") {
        raw.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
    raw
}

/// Who answered, tokens, time to first token: what every stream's record carries.
fn assert_billed(r: &Value) {
    assert_eq!(r["provider"], "openai", "{r}");
    assert_eq!(r["model"], "gpt-4o-mini", "{r}");
    assert!(r["prompt_tokens"].as_u64().is_some_and(|n| n > 0), "{r}");
    assert!(
        r["completion_tokens"].as_u64().is_some_and(|n| n > 0),
        "{r}"
    );
    assert!(r["ttft_ms"].is_u64(), "no ttft_ms: {r}");
}

/// Billed to the caller: the provider's cost.
fn assert_paid(r: &Value) {
    assert_billed(r);
    assert!(r["cost_usd"].as_f64().is_some_and(|usd| usd > 0.0), "{r}");
}

/// Answered by the cache: no provider cost, the cost it saved.
fn assert_saved(r: &Value) {
    assert_billed(r);
    assert_eq!(r["cost_usd"], 0.0, "{r}");
    assert!(r["saving_usd"].as_f64().is_some_and(|usd| usd > 0.0), "{r}");
    assert_eq!(r["attempts"], 0, "{r}");
}

#[actix_web::test]
async fn a_stream_the_client_drops_after_the_first_chunk_is_billed_by_estimate() {
    let env = TestEnv::start(&config()).await;
    env.mock_patch("openai", json!({"token_delay_ms": TOKEN_DELAY_MS}))
        .await;
    let mut resp = send_stream(&env, "dropped", &stream_of(100)).await;
    assert_eq!(common::header(resp.headers(), "x-switchyard-cache"), "miss");
    read_until_text(&mut resp).await;
    drop(resp);
    let r = record_of(&env, "dropped").await;
    assert_eq!(r["status"], 499, "{r}");
    assert_eq!(r["estimated"], true, "{r}");
    assert_eq!(r["cache"], "miss", "{r}");
    assert_paid(&r);
}

#[actix_web::test]
async fn completed_and_replayed_streams_are_billed_with_their_ttft() {
    let env = TestEnv::start(&config()).await;
    let mut body = stream_of(8);
    body["temperature"] = json!(0);
    for id in ["first", "replayed"] {
        let resp = send_stream(&env, id, &body).await;
        let raw = resp.text().await.expect("stream read");
        let (_, saw_done) = parse_sse(&raw);
        assert!(saw_done, "{raw}");
    }
    let first = record_of(&env, "first").await;
    assert_eq!(
        (first["status"].as_u64(), first["cache"].as_str()),
        (Some(200), Some("miss"))
    );
    assert_eq!(
        first["estimated"], false,
        "the provider reported usage: {first}"
    );
    assert_paid(&first);
    let replayed = record_of(&env, "replayed").await;
    assert_eq!(
        (replayed["status"].as_u64(), replayed["cache"].as_str()),
        (Some(200), Some("hit"))
    );
    assert_saved(&replayed);
    assert_eq!(replayed["completion_tokens"], first["completion_tokens"]);
}

#[actix_web::test]
async fn a_coalesced_stream_is_billed_with_its_ttft() {
    let env = TestEnv::start(&config()).await;
    env.mock_patch("openai", json!({"latency_ms": 2_000})).await;
    let body = stream_of(8);
    let leader = async {
        send_stream(&env, "leader", &body)
            .await
            .text()
            .await
            .expect("stream read")
    };
    let follower = async {
        eventually(
            "the leader reaches the provider",
            Duration::from_secs(10),
            || async { env.upstream_requests("openai").await == 1 },
        )
        .await;
        let resp = send_stream(&env, "follower", &body).await;
        assert_eq!(
            common::header(resp.headers(), "x-switchyard-cache"),
            "coalesced"
        );
        resp.text().await.expect("stream read")
    };
    let (leader, follower) = futures_util::join!(leader, follower);
    for raw in [&leader, &follower] {
        assert!(parse_sse(raw).1, "{raw}");
    }
    assert_eq!(env.upstream_requests("openai").await, 1);
    assert_paid(&record_of(&env, "leader").await);
    let r = record_of(&env, "follower").await;
    assert_eq!(
        (r["status"].as_u64(), r["cache"].as_str()),
        (Some(200), Some("coalesced"))
    );
    assert_saved(&r);
}

#[actix_web::test]
async fn a_stream_failed_mid_way_is_billed_by_estimate() {
    let env = TestEnv::start(&config()).await;
    env.mock_patch("openai", json!({"cut_stream": true})).await;
    let raw = send_stream(&env, "cut", &stream_of(20))
        .await
        .text()
        .await
        .expect("stream read");
    let (chunks, saw_done) = parse_sse(&raw);
    assert!(!saw_done, "{raw}");
    assert_error_shape(chunks.last().expect("events"));
    let r = record_of(&env, "cut").await;
    assert_eq!(r["status"], 502, "{r}");
    assert_eq!(r["estimated"], true, "{r}");
    assert_paid(&r);
}

#[actix_web::test]
async fn a_stream_open_when_the_gateway_stops_ends_with_an_error_event_and_is_billed() {
    let mock = MockServer::start("127.0.0.1:0", MockState::default_set())
        .await
        .expect("mock server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config =
        Config::from_toml(&config(), None, Some(&mock.host())).expect("demo config is valid");
    config.workers = Some(2);
    config.usage.database = dir.path().join("usage.db");
    let gateway = Gateway::bind(config, "127.0.0.1:0").expect("gateway binds");
    let url = gateway.url();
    let stopper = gateway.stopper();
    let usage = gateway.usage().clone();
    let running = actix_web::rt::spawn(gateway.run());

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds");
    let patched = client
        .patch(format!("http://{}/_mock/providers/openai", mock.host()))
        .json(&json!({"token_delay_ms": TOKEN_DELAY_MS}))
        .send()
        .await
        .expect("mock control reachable");
    assert_eq!(patched.status(), 200);
    // One stream through the cache (a flight), one bypassing it (its own relay).
    let open = |id: &'static str, cache: &'static str| {
        let rb = client
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(DEMO_KEY)
            .header("x-request-id", id)
            .header("x-switchyard-cache", cache)
            .json(&stream_of(100));
        async move {
            let mut resp = rb.send().await.expect("request sent");
            assert_eq!(resp.status(), 200);
            let raw = read_until_text(&mut resp).await;
            (resp, raw)
        }
    };
    let (flight, relay) = futures_util::join!(open("flight", "use"), open("relay", "bypass"));

    // A short grace: the answers would need another 20 s.
    let stopping = actix_web::rt::spawn(async move {
        stopper.stop(Duration::from_millis(200)).await;
    });
    let (flight, relay) =
        futures_util::join!(read_rest(flight.0, flight.1), read_rest(relay.0, relay.1));
    for raw in [&flight, &relay] {
        let (chunks, saw_done) = parse_sse(raw);
        assert!(!saw_done, "{raw}");
        let last = chunks.last().expect("events");
        let err = assert_error_shape(last);
        assert_eq!(err["code"], "shutting_down", "{last}");
        assert_eq!(err["type"], "server_error", "{last}");
        assert_eq!(err["message"], "the gateway is shutting down", "{last}");
    }

    stopping.await.expect("the stop completes");
    running
        .await
        .expect("the gateway task completes")
        .expect("the gateway stops cleanly");
    // `run` has committed the ledger.
    let filter = Filter {
        from_ms: 0,
        to_ms: i64::MAX,
        tenant: None,
    };
    let page = usage
        .readers()
        .records(&filter, 0, 100)
        .expect("records readable");
    for id in ["flight", "relay"] {
        let r = page
            .data
            .iter()
            .find(|r| r.request_id == id)
            .unwrap_or_else(|| panic!("no record of {id}: {:?}", page.data));
        assert_eq!(r.status, 503, "{r:?}");
        assert!(r.estimated, "{r:?}");
        assert!(r.completion_tokens > 0, "{r:?}");
        assert!(r.prompt_tokens > 0, "{r:?}");
        assert!(r.cost_usd > 0.0, "{r:?}");
        assert_eq!(&*r.provider, "openai", "{r:?}");
        assert!(r.ttft_ms.is_some(), "{r:?}");
    }
}
