//! Coalesced requests keep their own deadlines (issue 22): a request that joins an
//! identical one in flight waits only as long as its own `x-switchyard-timeout-ms`
//! says, and the first request's deadline does not cut off those that joined it.
//!
//! The simulated `openai` (the only provider of `gpt-4o-mini` in the demo config) is
//! made slow with `latency_ms`; the second request is sent once the first has reached
//! it, so it joins the flight (the upstream request count, 1 at the end, proves it),
//! whatever the machine's speed: the first request's deadline and the provider's
//! latency are seconds apart.

mod common;

use std::time::{Duration, Instant};

use common::{TestEnv, assert_error_shape, demo_config, eventually, header, parse_sse};
use serde_json::{Value, json};

/// How long the provider takes to answer.
const LATENCY_MS: u64 = 5_000;
/// A deadline far shorter than the provider's latency.
const SHORT_DEADLINE_MS: u64 = 1_000;
/// Far above the short deadline however loaded the machine, below the latency.
const WELL_BEFORE_THE_ANSWER: Duration = Duration::from_millis(4_000);

/// What one client got.
#[derive(Debug)]
struct Answer {
    status: u16,
    cache: String,
    /// The JSON body, or for a stream that started, its events.
    body: Value,
    saw_done: bool,
    elapsed: Duration,
}

fn question(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": "who waits for whom"}],
    })
}

async fn ask(env: &TestEnv, stream: bool, deadline_ms: Option<u64>) -> Answer {
    let started = Instant::now();
    let mut rb = env.chat_request(&question(stream));
    if let Some(ms) = deadline_ms {
        rb = rb.header("x-switchyard-timeout-ms", ms.to_string());
    }
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let cache = header(resp.headers(), "x-switchyard-cache").to_owned();
    let text = resp.text().await.expect("body read");
    let (body, saw_done) = if stream && status == 200 {
        let (chunks, done) = parse_sse(&text);
        (Value::Array(chunks), done)
    } else {
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {text:?}"));
        (v, false)
    };
    Answer {
        status,
        cache,
        body,
        saw_done,
        elapsed: started.elapsed(),
    }
}

/// A leader with `leader_ms`, and a follower with `follower_ms` sent once the leader's
/// upstream call has started.
async fn lead_and_follow(
    stream: bool,
    leader_ms: Option<u64>,
    follower_ms: Option<u64>,
) -> (TestEnv, Answer, Answer) {
    let env = TestEnv::start(demo_config()).await;
    env.mock_patch("openai", json!({"latency_ms": LATENCY_MS}))
        .await;
    let leader = ask(&env, stream, leader_ms);
    let follower = async {
        eventually(
            "the leader reaches the provider",
            Duration::from_secs(10),
            || async { env.upstream_requests("openai").await == 1 },
        )
        .await;
        ask(&env, stream, follower_ms).await
    };
    let (leader, follower) = futures_util::join!(leader, follower);
    assert_eq!(
        env.upstream_requests("openai").await,
        1,
        "the follower joined the leader's flight: {leader:?} {follower:?}"
    );
    (env, leader, follower)
}

fn assert_deadline_error(a: &Answer) {
    assert_eq!(a.status, 504, "{a:?}");
    let err = assert_error_shape(&a.body);
    assert_eq!(err["code"], "upstream_timeout", "{a:?}");
    assert!(
        a.elapsed < WELL_BEFORE_THE_ANSWER,
        "the deadline answered only after {:?}",
        a.elapsed
    );
}

fn assert_answered(a: &Answer, stream: bool) {
    assert_eq!(a.status, 200, "{a:?}");
    let text = if stream {
        assert!(a.saw_done, "{a:?}");
        a.body
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect::<String>()
    } else {
        a.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(text.contains("You said: who waits for whom"), "{a:?}");
}

#[actix_web::test]
async fn a_follower_without_a_deadline_outlives_the_leaders() {
    let (env, leader, follower) = lead_and_follow(false, Some(SHORT_DEADLINE_MS), None).await;
    assert_deadline_error(&leader);
    assert_answered(&follower, false);
    assert_eq!(follower.cache, "coalesced");
    // The same error as the dispatcher's own deadline, with the cache bypassed.
    let (status, _, alone) = common::send_json(
        env.chat_request(&question(false))
            .header("x-switchyard-cache", "bypass")
            .header("x-switchyard-timeout-ms", SHORT_DEADLINE_MS.to_string()),
    )
    .await;
    assert_eq!(status, 504, "{alone}");
    assert_eq!(leader.body, alone);
}

#[actix_web::test]
async fn a_streamed_follower_without_a_deadline_outlives_the_leaders() {
    let (_env, leader, follower) = lead_and_follow(true, Some(SHORT_DEADLINE_MS), None).await;
    assert_deadline_error(&leader);
    assert_answered(&follower, true);
    assert_eq!(follower.cache, "coalesced");
}

#[actix_web::test]
async fn a_follower_with_a_short_deadline_gets_its_own_504() {
    let (_env, leader, follower) = lead_and_follow(false, None, Some(SHORT_DEADLINE_MS)).await;
    assert_deadline_error(&follower);
    // The follower left; the flight went on for the leader.
    assert_answered(&leader, false);
    assert_eq!(leader.cache, "miss");
}

#[actix_web::test]
async fn a_streamed_follower_with_a_short_deadline_gets_its_own_504() {
    let (_env, leader, follower) = lead_and_follow(true, None, Some(SHORT_DEADLINE_MS)).await;
    assert_deadline_error(&follower);
    assert_answered(&leader, true);
    assert_eq!(leader.cache, "miss");
}

#[actix_web::test]
async fn the_flight_lasts_for_the_longest_deadline_among_its_clients() {
    // Leader 1 s, follower 30 s: the follower is answered when the provider is done.
    let (_env, leader, follower) =
        lead_and_follow(false, Some(SHORT_DEADLINE_MS), Some(30_000)).await;
    assert_deadline_error(&leader);
    assert_answered(&follower, false);
}
