//! An HTTP fuzzer for the chat endpoint: structurally varied bodies (known fields with
//! plausible or wrongly typed values, unknown keys, nesting up to 80 levels, huge and
//! non-ASCII strings, bodies that are not objects or not JSON) and random values for
//! the `x-switchyard-*` hint headers, sent to a real gateway in front of the simulated
//! providers. Whatever arrives, the gateway answers: never a 5xx but an upstream's
//! 502/503/504, every error an OpenAI error object in JSON, and `/healthz` still up.
//!
//! Deterministic: cases come from a ChaCha RNG with a fixed seed, so a CI failure
//! reproduces locally. `SWITCHYARD_FUZZ_CASES` sets the count (default 300, well under
//! a minute on a loaded two-core machine); `SWITCHYARD_FUZZ_SEED` (a u64) explores other
//! seeds. Cases are drawn up front and sent one by one (the gateway runs on this test's
//! runtime, which a blocking proptest closure would stall), so there is no shrinking: a
//! failure prints the case number, the seed, the headers and the start of the body.

mod common;

use std::time::Duration;

use common::{DEMO_KEY, TestEnv, demo_config};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

const DEFAULT_CASES: usize = 300;
const DEFAULT_SEED: u64 = 0x5717_c4ad_f022_0001;

/// The hint headers a client may send (src/api/headers.rs).
const HINT_HEADERS: &[&str] = &[
    "x-switchyard-route",
    "x-switchyard-weights",
    "x-switchyard-max-cost-usd",
    "x-switchyard-max-latency-ms",
    "x-switchyard-task",
    "x-switchyard-explain",
    "x-switchyard-timeout-ms",
    "x-switchyard-cache",
];

/// Demo models and routes, a provider-qualified name, and names that exist nowhere.
const MODELS: &[&str] = &[
    "gpt-4o-mini",
    "claude-haiku-4-5",
    "gemini-2.5-flash",
    "deepseek-reasoner",
    "qwen-plus",
    "mistral-small-latest",
    "auto",
    "code",
    "openai/gpt-4o-mini",
    "no-such-model",
    "",
];

/// One request: the body bytes and the hint headers.
#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
}

// === strategies ===

fn short_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _.-]{0,12}",
        2 => vec(any::<char>(), 0..16).prop_map(|c| c.into_iter().collect()),
        1 => Just("\u{0}\u{202e}\u{1F600}\u{FFFD}\"\\".to_owned()),
    ]
}

/// Occasionally very long: up to 5 MiB, over the gateway's 4 MiB body limit.
fn maybe_huge_string() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => short_string(),
        2 => (1usize..20_000).prop_map(|n| "ab\u{e9}\u{1F600} ".repeat(n)),
        1 => prop::sample::select(vec![200_000usize, 1_100_000, 5 * 1024 * 1024])
            .prop_map(|n| "x".repeat(n)),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(-1),
            json!(2),
            json!(0.5),
            json!(5),
            json!(100),
            json!(4_294_967_296_u64),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e300),
            json!(-2.5),
        ]),
        any::<i32>().prop_map(Value::from),
        (-3.0f64..3.0).prop_map(Value::from),
    ]
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        short_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(short_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value nested `depth` levels in arrays and objects (up to 80, past the limit of 64).
fn deep() -> impl Strategy<Value = Value> {
    (1usize..=80, any::<u64>()).prop_map(|(depth, pattern)| {
        let mut v = json!("bottom");
        for level in 0..depth {
            v = if pattern >> (level % 64) & 1 == 1 {
                json!([v])
            } else {
                json!({"type": "object", "properties": {"p": v}})
            };
        }
        v
    })
}

/// Plausible, with a chance of the wrong type, a deep value or a huge string.
fn or_wrong(plausible: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![
        8 => plausible,
        2 => any_json(),
        1 => deep(),
        1 => maybe_huge_string().prop_map(Value::String),
    ]
    .boxed()
}

fn content() -> impl Strategy<Value = Value> {
    let part = prop_oneof![
        maybe_huge_string().prop_map(|t| json!({"type": "text", "text": t})),
        short_string().prop_map(|u| json!({"type": "image_url", "image_url": {"url": u}})),
        Just(
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}})
        ),
        any_json(),
    ];
    prop_oneof![
        4 => maybe_huge_string().prop_map(Value::String),
        1 => vec(part, 0..3).prop_map(Value::Array),
        1 => Just(Value::Null),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        4 => Just("user".to_owned()),
        1 => prop::sample::select(vec!["system", "developer", "assistant", "tool", "function"])
            .prop_map(str::to_owned),
        1 => short_string(),
    ];
    let call = (short_string(), short_string(), short_string()).prop_map(|(id, name, args)| {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
    });
    (
        role,
        or_wrong(content()),
        prop::option::of(or_wrong(vec(call, 0..3).prop_map(Value::from))),
        prop::option::of(or_wrong(short_string().prop_map(Value::String))),
        prop::option::of(short_string()),
    )
        .prop_map(|(role, content, tool_calls, tool_call_id, name)| {
            let mut m = Map::new();
            m.insert("role".into(), role.into());
            m.insert("content".into(), content);
            if let Some(c) = tool_calls {
                m.insert("tool_calls".into(), c);
            }
            if let Some(id) = tool_call_id {
                m.insert("tool_call_id".into(), id);
            }
            if let Some(n) = name {
                m.insert("name".into(), n.into());
            }
            Value::Object(m)
        })
}

fn tool() -> impl Strategy<Value = Value> {
    let params = prop_oneof![
        3 => Just(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
        1 => deep(),
        1 => any_json(),
    ];
    (short_string(), params).prop_map(|(name, parameters)| {
        json!({"type": "function", "function": {"name": name, "parameters": parameters}})
    })
}

/// Each known field with a strategy for its value.
fn known_fields() -> Vec<(&'static str, BoxedStrategy<Value>)> {
    let text = || short_string().prop_map(Value::String);
    let strings = |v: Vec<&'static str>| prop::sample::select(v).prop_map(Value::from);
    vec![
        ("stream", or_wrong(any::<bool>().prop_map(Value::Bool))),
        (
            "stream_options",
            or_wrong(any::<bool>().prop_map(|b| json!({"include_usage": b}))),
        ),
        ("temperature", or_wrong(number())),
        ("top_p", or_wrong(number())),
        ("n", or_wrong(number())),
        ("seed", or_wrong(number())),
        (
            "stop",
            or_wrong(prop_oneof![
                text(),
                vec(short_string(), 0..6).prop_map(Value::from)
            ]),
        ),
        ("max_tokens", or_wrong(number())),
        ("max_completion_tokens", or_wrong(number())),
        ("presence_penalty", or_wrong(number())),
        ("frequency_penalty", or_wrong(number())),
        ("tools", or_wrong(vec(tool(), 0..3).prop_map(Value::from))),
        (
            "tool_choice",
            or_wrong(prop_oneof![
                strings(vec!["none", "auto", "required", "any"]),
                short_string().prop_map(|n| json!({"type": "function", "function": {"name": n}})),
            ]),
        ),
        (
            "parallel_tool_calls",
            or_wrong(any::<bool>().prop_map(Value::Bool)),
        ),
        (
            "response_format",
            or_wrong(prop_oneof![
                Just(json!({"type": "text"})),
                Just(json!({"type": "json_object"})),
                deep().prop_map(
                    |s| json!({"type": "json_schema", "json_schema": {"name": "s", "schema": s}})
                ),
            ]),
        ),
        ("user", or_wrong(text())),
        (
            "reasoning_effort",
            or_wrong(strings(vec![
                "none", "minimal", "low", "medium", "high", "xhigh", "max", "?",
            ])),
        ),
        ("logprobs", or_wrong(any::<bool>().prop_map(Value::Bool))),
        ("top_logprobs", or_wrong(number())),
        (
            "logit_bias",
            or_wrong(
                btree_map("[0-9]{1,6}", number(), 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ),
        ),
        (
            "service_tier",
            or_wrong(strings(vec!["auto", "default", "flex", "priority"])),
        ),
    ]
}

/// A JSON object: model and messages (usually plausible), a random subset of the known
/// fields, and unknown keys.
fn object_body() -> impl Strategy<Value = Value> {
    let fields: Vec<_> = known_fields()
        .into_iter()
        .map(|(name, s)| prop::option::weighted(0.25, s).prop_map(move |v| (name, v)))
        .collect();
    (
        prop::option::weighted(
            0.95,
            or_wrong(prop::sample::select(MODELS).prop_map(Value::from)),
        ),
        prop::option::weighted(0.95, or_wrong(vec(message(), 0..4).prop_map(Value::from))),
        fields,
        btree_map(short_string(), any_json(), 0..3),
        prop::option::weighted(0.1, deep()),
    )
        .prop_map(|(model, messages, fields, extra, deep)| {
            let mut m: Map<String, Value> = extra.into_iter().collect();
            for (name, v) in fields {
                if let Some(v) = v {
                    m.insert(name.into(), v);
                }
            }
            if let Some(d) = deep {
                m.insert("extra_deep".into(), d);
            }
            if let Some(v) = model {
                m.insert("model".into(), v);
            }
            if let Some(v) = messages {
                m.insert("messages".into(), v);
            }
            Value::Object(m)
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let json_bytes = |v: Value| serde_json::to_vec(&v).expect("a Value serialises");
    prop_oneof![
        12 => object_body().prop_map(json_bytes),
        // JSON that is not an object, deep arrays included.
        2 => prop_oneof![any_json(), deep()].prop_map(json_bytes),
        // Not JSON: a cut-off object, or bytes.
        1 => (object_body(), any::<prop::sample::Index>()).prop_map(move |(v, cut)| {
            let b = json_bytes(v);
            let n = cut.index(b.len().max(1));
            b[..n].to_vec()
        }),
        1 => vec(any::<u8>(), 0..64),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "0", "1", "-1", "0.0001", "1e309", "NaN", "inf", "-0", "18446744073709551616",
            "price=1", "price=0.5,latency=0.5", "price=abc", "latency=-3,,=", "true", "false",
            "1", "no-store", "no-cache", "auto", "code", "legal", "classify", "nope", "chat",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => "[ -~]{0,40}".prop_map(String::into_bytes),
        // obs-text: bytes above 0x7f are legal in a header value, but not UTF-8.
        1 => vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..24),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        body(),
        vec((prop::sample::select(HINT_HEADERS), header_value()), 0..4),
    )
        .prop_map(|(body, headers)| Case { body, headers })
}

// === the run ===

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The cases for `seed`, drawn with ChaCha so they are the same everywhere.
fn draw(cases: usize, seed: u64) -> Vec<Case> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let strategy = case();
    (0..cases)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("the strategies always produce a value")
                .current()
        })
        .collect()
}

/// What went wrong with one answer, if anything.
fn check(status: u16, content_type: &str, text: &str) -> Result<(), String> {
    if status >= 500 && !matches!(status, 502..=504) {
        return Err(format!("status {status}"));
    }
    if status < 400 {
        return Ok(());
    }
    if !content_type.starts_with("application/json") {
        return Err(format!("{status} with content type {content_type:?}"));
    }
    let body: Value =
        serde_json::from_str(text).map_err(|e| format!("{status} body is not JSON: {e}"))?;
    let err = body
        .get("error")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{status} body has no error object"))?;
    for key in ["message", "type", "param", "code"] {
        if !err.contains_key(key) {
            return Err(format!("{status} error lacks `{key}`"));
        }
    }
    if err["message"].as_str().is_none_or(str::is_empty) || !err["type"].is_string() {
        return Err(format!("{status} error message or type is not a string"));
    }
    Ok(())
}

async fn healthy(env: &TestEnv) -> bool {
    env.client
        .get(env.url("/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn describe(i: usize, seed: u64, case: &Case, problem: &str) -> String {
    let shown = &case.body[..case.body.len().min(2000)];
    let headers: Vec<_> = case
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
        .collect();
    format!(
        "case {i} (SWITCHYARD_FUZZ_SEED={seed}): {problem}\nheaders: {headers:?}\nbody ({} bytes): {}",
        case.body.len(),
        String::from_utf8_lossy(shown)
    )
}

#[actix_web::test]
async fn the_gateway_answers_any_chat_request_with_json() {
    let cases = env_number("SWITCHYARD_FUZZ_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let seed = env_number("SWITCHYARD_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let env = TestEnv::start(demo_config()).await;
    let started = std::time::Instant::now();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for (i, case) in draw(cases, seed).into_iter().enumerate() {
        let mut rb = env
            .client
            .post(env.url("/v1/chat/completions"))
            .bearer_auth(DEMO_KEY)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(30));
        for (name, value) in &case.headers {
            let value = reqwest::header::HeaderValue::from_bytes(value)
                .expect("the header strategy makes legal values");
            rb = rb.header(*name, value);
        }
        let resp = match rb.body(case.body.clone()).send().await {
            Ok(r) => r,
            Err(e) => panic!("{}", describe(i, seed, &case, &format!("no answer: {e}"))),
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => panic!("{}", describe(i, seed, &case, &format!("body cut: {e}"))),
        };
        *statuses.entry(status).or_default() += 1;
        if let Err(problem) = check(status, &content_type, &text) {
            let text = &text[..text.floor_char_boundary(500)];
            panic!("{}\nanswer: {text}", describe(i, seed, &case, &problem));
        }
        if i % 50 == 49 {
            assert!(
                healthy(&env).await,
                "{}",
                describe(i, seed, &case, "/healthz down")
            );
        }
    }
    assert!(healthy(&env).await, "/healthz down after the run");
    eprintln!(
        "fuzz: {cases} cases (seed {seed}) in {:?}; statuses {statuses:?}",
        started.elapsed()
    );
}
