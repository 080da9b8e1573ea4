//! Usage accounting end to end: canonical usage and cost through all six simulated
//! providers (streamed and not), tenant isolation of the usage API, budgets that stop
//! a key before any provider is called, admin-created keys, and a client hanging up
//! (recorded as 499 at once).

mod common;

use std::time::{Duration, Instant};

use common::{
    DEMO_KEY, TestEnv, assert_error_shape, edit_config, header, send_json, set, user_says,
};
use serde_json::{Value, json};

const ADMIN: &str = "switchyard-admin-demo";
const FREE_KEY: &str = "sk-switchyard-demo-free";
/// Upper bound on waiting for the ledger (its batch window here is 50 ms).
const LEDGER_DEADLINE: Duration = Duration::from_secs(20);

/// The demo config with a short batch window, so records land quickly.
fn config() -> String {
    edit_config(common::demo_config(), |t| {
        set(t, "usage", "flush_interval_ms", 50);
    })
}

/// Every record the admin can see, once there are at least `n`.
async fn records_at_least(env: &TestEnv, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + LEDGER_DEADLINE;
    loop {
        let (status, _, body) = send_json(
            env.client
                .get(env.url("/v1/usage/records?limit=1000"))
                .bearer_auth(ADMIN),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let data = body["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n {
            return data;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records after {LEDGER_DEADLINE:?}: {body}",
            data.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One question, 30 characters: every simulated provider counts ceil(30 / 4) + 3 per
/// message = 11 prompt tokens, and answers "Hello from <model>. You said: What is the
/// capital of France?", 11 space-separated tokens.
const QUESTION: &str = "What is the capital of France?";
const PROMPT_TOKENS: u64 = 11;
const COMPLETION_TOKENS: u64 = 11;

/// (provider, model, input price, output price) from config/demo.toml.
const SIX: [(&str, &str, f64, f64); 6] = [
    ("openai", "gpt-4o-mini", 0.15, 0.60),
    ("anthropic", "claude-haiku-4-5", 1.00, 5.00),
    ("gemini", "gemini-2.5-flash", 0.30, 2.50),
    ("deepseek", "deepseek-chat", 0.28, 0.42),
    ("qwen", "qwen-plus", 0.40, 1.20),
    ("mistral", "mistral-small-latest", 0.10, 0.30),
];

#[actix_web::test]
async fn same_conversation_through_six_providers_has_canonical_usage_and_cost() {
    let env = TestEnv::start(&config()).await;
    for (provider, model, _, _) in SIX {
        let (status, headers, body) = env.chat(user_says(model, QUESTION)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(header(&headers, "x-switchyard-provider"), provider);
        let mut stream_body = user_says(model, QUESTION);
        stream_body["stream"] = json!(true);
        let s = env.chat_stream(stream_body).await;
        assert!(s.saw_done, "{model}: {}", s.raw);
    }
    let records = records_at_least(&env, 12).await;
    assert_eq!(records.len(), 12);
    for (provider, model, input, output) in SIX {
        // Hand-computed: 11 × input + 11 × output per million tokens.
        let expected_cost =
            (PROMPT_TOKENS as f64 * input + COMPLETION_TOKENS as f64 * output) / 1e6;
        let mine: Vec<&Value> = records.iter().filter(|r| r["model"] == model).collect();
        assert_eq!(mine.len(), 2, "{model}: one streamed, one not: {records:?}");
        for r in mine {
            assert_eq!(r["provider"], provider, "{r}");
            assert_eq!(r["tenant"], "demo", "{r}");
            assert_eq!(r["key_id"], "demo", "{r}");
            assert_eq!(r["prompt_tokens"], PROMPT_TOKENS, "{model}: {r}");
            assert_eq!(r["completion_tokens"], COMPLETION_TOKENS, "{model}: {r}");
            assert_eq!(r["cached_tokens"], 0, "{r}");
            assert_eq!(
                r["estimated"], false,
                "{model}: the provider reported usage: {r}"
            );
            assert_eq!(r["status"], 200, "{r}");
            assert_eq!(r["attempts"], 1, "{r}");
            assert_eq!(r["cache"], "miss", "{r}");
            assert_eq!(r["saving_usd"], 0.0, "{r}");
            let cost = r["cost_usd"].as_f64().expect("cost is a number");
            assert!(
                (cost - expected_cost).abs() < 1e-12,
                "{model}: cost {cost} != {expected_cost}"
            );
            assert!(
                r["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("req_")),
                "{r}"
            );
        }
    }
    // The breakdown agrees with the records.
    let (status, _, body) = send_json(
        env.client
            .get(env.url("/v1/usage?group_by=provider"))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totals"]["requests"], 12, "{body}");
    assert_eq!(
        body["totals"]["prompt_tokens"],
        12 * PROMPT_TOKENS,
        "{body}"
    );
    let groups = body["data"].as_array().expect("data is a list");
    assert_eq!(groups.len(), 6, "{body}");
    // Highest cost first: Anthropic's haiku is the dearest of the six.
    assert_eq!(groups[0]["group"], "anthropic", "{body}");
    assert!(
        (groups[0]["cost_usd"].as_f64().unwrap_or(0.0) - 2.0 * 66e-6).abs() < 1e-12,
        "{body}"
    );
}

#[actix_web::test]
async fn a_tenant_sees_only_its_own_usage() {
    let env = TestEnv::start(&config()).await;
    let (s, _, _) = env.chat(user_says("gpt-4o-mini", "hi")).await;
    assert_eq!(s, 200);
    let (s, _, body) = send_json(
        env.client
            .post(env.url("/v1/chat/completions"))
            .bearer_auth(FREE_KEY)
            .json(&user_says("mistral-small-latest", "hi")),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    records_at_least(&env, 2).await;

    // Asking for another tenant: 403 with an OpenAI error.
    let (status, _, body) = send_json(
        env.client
            .get(env.url("/v1/usage?tenant=demo-free"))
            .bearer_auth(DEMO_KEY),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let err = assert_error_shape(&body);
    assert!(
        err["message"].as_str().unwrap_or("").contains("demo-free"),
        "{body}"
    );
    let (status, _, body) = send_json(
        env.client
            .get(env.url("/v1/usage/records?tenant=demo-free"))
            .bearer_auth(DEMO_KEY),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // Without `tenant`, a key sees its own tenant only.
    for (key, tenant, model) in [
        (DEMO_KEY, "demo", "gpt-4o-mini"),
        (FREE_KEY, "demo-free", "mistral-small-latest"),
    ] {
        let (status, _, body) = send_json(
            env.client
                .get(env.url("/v1/usage?group_by=model"))
                .bearer_auth(key),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tenant"], tenant, "{body}");
        assert_eq!(body["totals"]["requests"], 1, "{body}");
        assert_eq!(body["data"][0]["group"], model, "{body}");
        let (_, _, page) = send_json(
            env.client
                .get(env.url("/v1/usage/records"))
                .bearer_auth(key),
        )
        .await;
        let data = page["data"].as_array().expect("records");
        assert_eq!(data.len(), 1, "{page}");
        assert_eq!(data[0]["tenant"], tenant, "{page}");
    }

    // The admin token sees both, and CSV on request.
    let resp = env
        .client
        .get(env.url("/v1/usage?group_by=tenant"))
        .bearer_auth(ADMIN)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    assert!(header(resp.headers(), "content-type").starts_with("text/csv"));
    let csv = resp.text().await.expect("body");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("tenant,requests,"), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("demo,1,")), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("demo-free,1,")), "{csv}");

    // Bad parameters are OpenAI-style 400s.
    for q in ["group_by=color", "from=yesterday", "format=xml", "bogus=1"] {
        let (status, _, body) = send_json(
            env.client
                .get(env.url(&format!("/v1/usage?{q}")))
                .bearer_auth(ADMIN),
        )
        .await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_error_shape(&body);
    }
    // No key at all: 401.
    let (status, _, body) = send_json(env.client.get(env.url("/v1/usage"))).await;
    assert_eq!(status, 401, "{body}");
}

#[actix_web::test]
async fn a_budget_stops_the_key_once_spend_crosses_it_without_calling_a_provider() {
    let env = TestEnv::start(&config()).await;
    // Each claude-sonnet-4-5 answer here costs 11 × $3 + 11 × $15 per million = $0.000198;
    // a budget of $0.0005 is crossed by the third request.
    let (status, _, created) = send_json(
        env.client
            .post(env.url("/admin/keys"))
            .bearer_auth(ADMIN)
            .json(&json!({"tenant": "acme", "tier": "paid", "budget_usd_per_day": 0.0005})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"]
        .as_str()
        .expect("the plain key is returned once")
        .to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["tenant"], "acme");

    // Listed without the key.
    let (_, _, list) = send_json(env.client.get(env.url("/admin/keys")).bearer_auth(ADMIN)).await;
    assert!(!list.to_string().contains(&key), "{list}");
    assert!(
        list["data"]
            .as_array()
            .expect("list")
            .iter()
            .any(|k| k["id"] == id.as_str() && k["budget_usd_per_day"] == 0.0005),
        "{list}"
    );

    let ask = || {
        env.client
            .post(env.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&user_says("claude-sonnet-4-5", QUESTION))
    };
    for i in 0..3 {
        let (status, _, body) = send_json(ask()).await;
        assert_eq!(status, 200, "request {i}: {body}");
    }
    let (status, headers, body) = send_json(ask()).await;
    assert_eq!(status, 429, "{body}");
    let err = assert_error_shape(&body);
    assert_eq!(err["code"], "budget_exceeded", "{body}");
    assert_eq!(err["type"], "insufficient_quota", "{body}");
    let message = err["message"].as_str().unwrap_or("");
    assert!(
        message.contains(&format!("gateway key '{id}'"))
            && message.contains("daily budget of $0.0005"),
        "{message}"
    );
    assert!(
        !header(&headers, "retry-after").is_empty(),
        "a budget error says when it resets"
    );
    assert_eq!(
        env.upstream_requests("anthropic").await,
        3,
        "no provider call after the budget is spent"
    );

    // Other keys are unaffected; revoking the key makes it unknown.
    let (status, _, _) = env.chat(user_says("claude-sonnet-4-5", QUESTION)).await;
    assert_eq!(status, 200);
    let resp = env
        .client
        .delete(env.url(&format!("/admin/keys/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let (status, _, body) = send_json(ask()).await;
    assert_eq!(status, 401, "{body}");
    // Config keys are not revoked through the API.
    let resp = env
        .client
        .delete(env.url("/admin/keys/demo"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn tenant_request_limit_applies_across_its_keys() {
    let config = edit_config(&config(), |t| {
        let tenants = t
            .entry("tenants")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let mut demo = toml::Table::new();
        demo.insert("requests_per_minute".into(), 2.into());
        tenants
            .as_table_mut()
            .expect("table")
            .insert("demo".into(), demo.into());
    });
    let env = TestEnv::start(&config).await;
    // Limit 2 per calendar minute: at most one minute boundary falls within these
    // calls, so a 429 comes by the fifth request at the latest.
    let mut answered = 0;
    let mut refused = None;
    for _ in 0..5 {
        let (status, headers, body) = env.chat(user_says("gpt-4o-mini", "hi")).await;
        match status.as_u16() {
            200 => answered += 1,
            429 => {
                refused = Some((headers, body));
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (headers, body) = refused.expect("the tenant's third request within a minute is refused");
    assert!((2..=4).contains(&answered), "{answered}");
    let err = assert_error_shape(&body);
    assert_eq!(err["code"], "rate_limit_exceeded", "{body}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("tenant 'demo'"),
        "{body}"
    );
    assert!(!header(&headers, "retry-after").is_empty());
    assert_eq!(env.upstream_requests("openai").await, answered);
}

#[actix_web::test]
async fn a_cache_hit_is_recorded_with_zero_provider_cost_and_its_saving() {
    let env = TestEnv::start(&config()).await;
    let mut body = user_says("claude-haiku-4-5", QUESTION);
    body["temperature"] = serde_json::json!(0);
    for expected in ["miss", "hit"] {
        let (status, headers, _) = env.chat(body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(common::header(&headers, "x-switchyard-cache"), expected);
    }
    let records = records_at_least(&env, 2).await;
    let miss = records
        .iter()
        .find(|r| r["cache"] == "miss")
        .expect("a miss");
    let hit = records.iter().find(|r| r["cache"] == "hit").expect("a hit");
    let paid = miss["cost_usd"].as_f64().expect("cost");
    let expected = (PROMPT_TOKENS as f64 * 1.00 + COMPLETION_TOKENS as f64 * 5.00) / 1e6;
    assert!((paid - expected).abs() < 1e-12, "{miss}");
    assert_eq!(hit["cost_usd"], 0.0, "{hit}");
    assert_eq!(hit["attempts"], 0, "{hit}");
    let saved = hit["saving_usd"].as_f64().expect("saving");
    assert!(
        (saved - expected).abs() < 1e-12,
        "the hit saved what the miss paid: {hit}"
    );
}

#[actix_web::test]
async fn a_client_that_hangs_up_before_the_answer_is_recorded_as_499_at_once() {
    let env = TestEnv::start(&config()).await;
    // The answer would take 20 s; the client gives up after 300 ms.
    env.mock_patch("openai", json!({"latency_ms": 20_000}))
        .await;
    let gave_up = env
        .chat_request(&user_says("gpt-4o-mini", QUESTION))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    // Recorded when the client hangs up, not when the provider would have answered.
    let started = Instant::now();
    let records = records_at_least(&env, 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "recorded only after {:?}",
        started.elapsed()
    );
    let r = &records[0];
    assert_eq!(r["status"], 499, "{r}");
    assert_eq!(r["tenant"], "demo", "{r}");
    assert_eq!(r["completion_tokens"], 0, "{r}");
    assert_eq!(r["cost_usd"], 0.0, "{r}");
}
