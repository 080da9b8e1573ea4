//! Conformance: the six providers of the demo (OpenAI, DeepSeek, Qwen, Mistral,
//! Anthropic, Gemini) over real HTTP, the gateway in front of the simulated providers,
//! each provider put through the same scenarios by [`provider_tests!`], so an OpenAI
//! client sees the same answer, stream, tool-call and error shapes whoever answered.
//! What the simulated model says is deterministic (src/mock/brain.rs), so answers are
//! asserted to the byte. Provider-specific behaviour (thought signatures, safety
//! blocks, 529 overloads, reasoning text) lives in the provider's own test file.

mod common;

use std::collections::BTreeMap;

use common::{
    Stream, TestEnv, assert_error_shape, demo_config, header, single_attempt_config, user_says,
};
use serde_json::{Value, json};

/// One provider under test: a model of the demo config and the provider serving it.
#[derive(Debug, Clone, Copy)]
struct Case {
    model: &'static str,
    provider: &'static str,
    /// Scenarios this provider is excused from, each with its reason.
    opt_outs: &'static [(&'static str, &'static str)],
}

impl Case {
    /// Whether the provider opted out of `scenario`; says so (and why) on stderr, so a
    /// skipped scenario shows in `--nocapture` output rather than passing silently.
    fn opted_out(&self, scenario: &str) -> bool {
        let reason = self
            .opt_outs
            .iter()
            .find(|(name, _)| *name == scenario)
            .map(|(_, reason)| *reason);
        if let Some(reason) = reason {
            eprintln!("{} opts out of {scenario}: {reason}", self.provider);
        }
        reason.is_some()
    }
}

/// Every scenario name, so an opt-out cannot name one that does not exist.
const SCENARIOS: [&str; 10] = [
    "non_stream_chat",
    "stream_matches_non_stream",
    "stream_usage_chunk",
    "tool_round_trip",
    "tool_round_trip_streamed",
    "max_tokens_cuts_with_length",
    "upstream_500_is_502",
    "upstream_429_keeps_retry_after",
    "upstream_garbage_is_502",
    "cut_stream_ends_with_error_event",
];

/// One test of the current provider module, unless the provider opted out of it.
macro_rules! scenario {
    ($name:ident => $run:expr) => {
        #[actix_web::test]
        async fn $name() {
            if CASE.opted_out(stringify!($name)) {
                return;
            }
            $run.await;
        }
    };
}

/// Generates one module per provider with one test per scenario, so a failure names
/// both. A provider that cannot pass a scenario opts out here, visibly, with a reason:
/// `name: "model" at "provider", except { scenario: "why" };` (none does today).
macro_rules! provider_tests {
    ($(
        $module:ident: $model:literal at $provider:literal
        $(, except { $($skip:ident: $reason:literal),+ $(,)? })?;
    )+) => {$(
        mod $module {
            use super::*;

            const CASE: Case = Case {
                model: $model,
                provider: $provider,
                opt_outs: &[$($((stringify!($skip), $reason)),+)?],
            };

            #[test]
            fn opt_outs_name_real_scenarios() {
                for (name, reason) in CASE.opt_outs {
                    assert!(SCENARIOS.contains(name), "unknown scenario {name}");
                    assert!(!reason.is_empty(), "{name}: an opt-out needs a reason");
                }
            }

            scenario!(non_stream_chat => scenario_non_stream_chat(CASE));
            scenario!(stream_matches_non_stream => scenario_stream_matches_non_stream(CASE));
            scenario!(stream_usage_chunk => scenario_stream_usage_chunk(CASE));
            scenario!(tool_round_trip => scenario_tool_round_trip(CASE, false));
            scenario!(tool_round_trip_streamed => scenario_tool_round_trip(CASE, true));
            scenario!(max_tokens_cuts_with_length => scenario_max_tokens(CASE));
            scenario!(upstream_500_is_502 => scenario_upstream_500(CASE));
            scenario!(upstream_429_keeps_retry_after => scenario_upstream_429(CASE));
            scenario!(upstream_garbage_is_502 => scenario_upstream_garbage(CASE));
            scenario!(cut_stream_ends_with_error_event => scenario_cut_stream(CASE));
        }
    )+};
}

provider_tests! {
    openai: "gpt-4o-mini" at "openai";
    deepseek: "deepseek-chat" at "deepseek";
    qwen: "qwen-plus" at "qwen";
    mistral: "mistral-small-latest" at "mistral";
    anthropic: "claude-haiku-4-5" at "anthropic";
    gemini: "gemini-2.5-flash" at "gemini";
}

const PROMPT: &str = "Say hello to the test suite";

/// What the simulated model answers to `PROMPT`.
fn expected_text(model: &str) -> String {
    format!("Hello from {model}. You said: {PROMPT}")
}

// === scenarios ===

async fn scenario_non_stream_chat(c: Case) {
    let env = TestEnv::start(demo_config()).await;
    let (status, headers, body) = env.chat(user_says(c.model, PROMPT)).await;
    assert_eq!(status, 200, "{body}");
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert_eq!(header(&headers, "x-switchyard-provider"), c.provider);
    assert_eq!(header(&headers, "x-switchyard-model"), c.model);
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert!(header(&headers, "x-request-id").starts_with("req_"));

    assert_eq!(body["object"], "chat.completion");
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert!(body["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(body["model"], c.model);
    let choices = body["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 1, "{body}");
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[0]["message"]["role"], "assistant");
    assert_eq!(choices[0]["message"]["content"], expected_text(c.model));
    assert!(choices[0]["message"].get("tool_calls").is_none());
    assert_eq!(choices[0]["finish_reason"], "stop");
    assert_usage_consistent(&body["usage"]);
    // One word per token in the simulated model.
    let words = expected_text(c.model).split(' ').count() as u64;
    assert_eq!(body["usage"]["completion_tokens"], words);

    assert_eq!(env.upstream_requests(c.provider).await, 1);
}

async fn scenario_stream_matches_non_stream(c: Case) {
    let env = TestEnv::start(demo_config()).await;
    let mut body = user_says(c.model, PROMPT);
    body["stream"] = json!(true);
    let s = env.chat_stream(body).await;
    assert_stream_well_formed(&s, c);
    assert_eq!(s.text(), expected_text(c.model));
    assert_eq!(s.finish_reasons(), ["stop"]);
    assert!(
        s.chunks.iter().all(|ch| ch.get("usage").is_none()),
        "usage without include_usage: {}",
        s.raw
    );
    assert_eq!(env.upstream_requests(c.provider).await, 1);
}

async fn scenario_stream_usage_chunk(c: Case) {
    let env = TestEnv::start(demo_config()).await;
    let (status, _, whole) = env.chat(user_says(c.model, PROMPT)).await;
    assert_eq!(status, 200, "{whole}");

    let mut body = user_says(c.model, PROMPT);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let s = env.chat_stream(body).await;
    assert_stream_well_formed(&s, c);
    assert_eq!(s.text(), expected_text(c.model));
    assert_eq!(s.finish_reasons(), ["stop"]);

    let (last, rest) = s.chunks.split_last().expect("chunks");
    assert_eq!(last["choices"], json!([]), "usage chunk: {last}");
    assert_usage_consistent(&last["usage"]);
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(last["usage"][key], whole["usage"][key], "{key}");
    }
    for ch in rest {
        assert!(ch["usage"].is_null(), "usage before the last chunk: {ch}");
        assert_eq!(ch["choices"].as_array().map(Vec::len), Some(1), "{ch}");
    }
}

fn weather_tool() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["c", "f"]}
                },
                "required": ["city", "unit"]
            }
        }
    }])
}

/// A tool call as assembled from a completion or from stream deltas.
#[derive(Debug, Default, Clone)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

async fn scenario_tool_round_trip(c: Case, stream: bool) {
    let env = TestEnv::start(demo_config()).await;
    let question = "What is the weather in Paris and Rome?";
    let mut body = user_says(c.model, question);
    body["tools"] = weather_tool();
    body["stream"] = json!(stream);

    let calls = if stream {
        let s = env.chat_stream(body.clone()).await;
        assert_stream_well_formed(&s, c);
        assert_eq!(s.finish_reasons(), ["tool_calls"]);
        assert_eq!(s.text(), "", "no text alongside the calls");
        assemble_streamed_calls(&s)
    } else {
        let (status, _, resp) = env.chat(body.clone()).await;
        assert_eq!(status, 200, "{resp}");
        let choice = &resp["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert!(choice["message"]["content"].is_null(), "{resp}");
        choice["message"]["tool_calls"]
            .as_array()
            .expect("tool_calls")
            .iter()
            .map(|tc| {
                assert_eq!(tc["type"], "function", "{tc}");
                Call {
                    id: tc["id"].as_str().expect("id").to_owned(),
                    name: tc["function"]["name"].as_str().expect("name").to_owned(),
                    arguments: tc["function"]["arguments"]
                        .as_str()
                        .expect("arguments")
                        .to_owned(),
                }
            })
            .collect()
    };

    assert_eq!(calls.len(), 2, "one call per city: {calls:?}");
    assert_ne!(calls[0].id, calls[1].id);
    let cities: Vec<String> = calls
        .iter()
        .map(|call| {
            assert!(!call.id.is_empty());
            assert_eq!(call.name, "get_weather");
            assert_valid_weather_args(&call.arguments)
        })
        .collect();
    assert_eq!(cities, ["Paris", "Rome"]);

    // Send the results back: the model reads them.
    let assistant = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": calls.iter().map(|call| json!({
            "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}
        })).collect::<Vec<_>>()
    });
    let mut follow = body;
    let messages = follow["messages"].as_array_mut().expect("messages");
    messages.push(assistant);
    for (call, result) in calls.iter().zip(["18C", "21C"]) {
        messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": result}));
    }
    let expected = "The tool returned: 18C; 21C.";
    if stream {
        let s = env.chat_stream(follow).await;
        assert_stream_well_formed(&s, c);
        assert_eq!(s.text(), expected);
        assert_eq!(s.finish_reasons(), ["stop"]);
    } else {
        let (status, _, resp) = env.chat(follow).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["choices"][0]["message"]["content"], expected);
        assert_eq!(resp["choices"][0]["finish_reason"], "stop");
    }
    assert_eq!(env.upstream_requests(c.provider).await, 2);
}

/// Tool calls from OpenAI stream deltas: the first fragment of each index carries
/// id, type and name, later ones only argument text.
fn assemble_streamed_calls(s: &Stream) -> Vec<Call> {
    let mut calls: BTreeMap<u64, Call> = BTreeMap::new();
    for ch in &s.chunks {
        let Some(deltas) = ch
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for d in deltas {
            let index = d["index"].as_u64().expect("tool-call delta has an index");
            let call = calls.entry(index).or_default();
            if let Some(id) = d["id"].as_str() {
                assert!(call.id.is_empty(), "id sent twice for call {index}: {d}");
                assert_eq!(d["type"], "function", "{d}");
                call.id = id.to_owned();
            }
            if let Some(name) = d.pointer("/function/name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            if let Some(args) = d.pointer("/function/arguments").and_then(Value::as_str) {
                assert!(!call.id.is_empty(), "arguments before the id: {d}");
                call.arguments.push_str(args);
            }
        }
    }
    assert_eq!(
        calls.keys().copied().collect::<Vec<_>>(),
        (0..calls.len() as u64).collect::<Vec<_>>(),
        "tool-call indexes count from 0"
    );
    calls.into_values().collect()
}

/// Checks arguments against the weather tool's schema; returns the city.
fn assert_valid_weather_args(arguments: &str) -> String {
    let args: Value = serde_json::from_str(arguments)
        .unwrap_or_else(|e| panic!("arguments are not JSON ({e}): {arguments}"));
    let obj = args.as_object().expect("arguments are an object");
    assert_eq!(obj.len(), 2, "exactly the required keys: {args}");
    assert!(["c", "f"].contains(&obj["unit"].as_str().expect("unit is a string")));
    obj["city"].as_str().expect("city is a string").to_owned()
}

async fn scenario_max_tokens(c: Case) {
    let env = TestEnv::start(demo_config()).await;
    let mut body = user_says(c.model, PROMPT);
    body["max_tokens"] = json!(3);
    let (status, _, resp) = env.chat(body.clone()).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["choices"][0]["finish_reason"], "length");
    let full = expected_text(c.model);
    let first_three = full.split(' ').take(3).collect::<Vec<_>>().join(" ");
    assert_eq!(resp["choices"][0]["message"]["content"], first_three);
    assert_eq!(resp["usage"]["completion_tokens"], 3);

    body["stream"] = json!(true);
    let s = env.chat_stream(body).await;
    assert_stream_well_formed(&s, c);
    assert_eq!(s.text(), first_three);
    assert_eq!(s.finish_reasons(), ["length"]);
}

/// An upstream failure as the client sees it with a single attempt: the status, the
/// OpenAI error body naming the provider, never a provider key.
async fn failed_upstream(
    c: Case,
    knobs: Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let env = TestEnv::start(&single_attempt_config()).await;
    env.mock_patch(c.provider, knobs).await;
    let (status, headers, body) = env.chat(user_says(c.model, PROMPT)).await;
    let err = assert_error_shape(&body);
    let message = err["message"].as_str().expect("message");
    assert!(message.contains(c.provider), "provider not named: {body}");
    assert!(!body.to_string().contains("sk-mock-"), "key leaked: {body}");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert_eq!(env.upstream_requests(c.provider).await, 1);
    (status, headers, body)
}

async fn scenario_upstream_500(c: Case) {
    let (status, _, body) = failed_upstream(c, json!({"error_rate": 1.0})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["type"], "upstream_error");
    assert_eq!(body["error"]["code"], "server");
}

async fn scenario_upstream_429(c: Case) {
    let (status, headers, body) =
        failed_upstream(c, json!({"rate_limit_rate": 1.0, "retry_after_s": 7})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&headers, "retry-after"), "7");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

async fn scenario_upstream_garbage(c: Case) {
    let (status, headers, body) = failed_upstream(c, json!({"garbage": true})).await;
    assert_eq!(status, 502, "{body}");
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert_eq!(body["error"]["type"], "upstream_error");
    assert_eq!(body["error"]["code"], "bad_response");
    assert!(
        !body.to_string().contains("<html"),
        "upstream page echoed: {body}"
    );
}

/// A stream cut half-way. The first events arrived, so the gateway has already sent
/// the head and cannot fail over: the client's stream must end with an OpenAI error
/// event and no `[DONE]`, so SDKs raise instead of returning a truncated answer as if
/// it were complete. (A stream cut before its first event is an ordinary failed
/// attempt; `failover.rs` covers failing over.)
async fn scenario_cut_stream(c: Case) {
    let env = TestEnv::start(demo_config()).await;
    env.mock_patch(c.provider, json!({"cut_stream": true}))
        .await;
    let mut body = user_says(c.model, PROMPT);
    body["stream"] = json!(true);
    let s = env.chat_stream(body).await;
    assert_eq!(s.status, 200);
    assert!(header(&s.headers, "content-type").starts_with("text/event-stream"));
    assert!(
        !s.saw_done,
        "a cut stream must not end with [DONE]: {}",
        s.raw
    );
    assert!(s.finish_reasons().is_empty(), "{}", s.raw);

    let (last, answer) = s.chunks.split_last().expect("chunks");
    let err = assert_error_shape(last);
    assert_eq!(err["type"], "upstream_error", "{last}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains(c.provider))
    );
    assert!(!s.raw.contains("sk-mock-"));
    assert!(
        !answer.is_empty(),
        "the first half arrived before the error"
    );
    assert_eq!(answer[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = answer
        .iter()
        .filter_map(|ch| {
            ch.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert!(
        expected_text(c.model).starts_with(&text) && text.len() < expected_text(c.model).len(),
        "a strict prefix of the answer arrived: {text:?}"
    );
    // Once bytes went out there is no second attempt.
    assert_eq!(header(&s.headers, "x-switchyard-attempts"), "1");
    assert_eq!(env.upstream_requests(c.provider).await, 1);
}

// === DeepSeek reasoning ===

const THINKING: &str = "Let me think about what the user needs before answering.";

#[actix_web::test]
async fn deepseek_reasoner_passes_reasoning_content_through() {
    let env = TestEnv::start(demo_config()).await;
    let (status, headers, body) = env.chat(user_says("deepseek-reasoner", PROMPT)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-provider"), "deepseek");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], THINKING);
    assert_eq!(message["content"], expected_text("deepseek-reasoner"));
    let thinking_tokens = THINKING.split(' ').count() as u64;
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        thinking_tokens
    );
    assert_usage_consistent(&body["usage"]);

    let mut req = user_says("deepseek-reasoner", PROMPT);
    req["stream"] = json!(true);
    let s = env.chat_stream(req).await;
    assert_stream_well_formed(
        &s,
        Case {
            model: "deepseek-reasoner",
            provider: "deepseek",
            opt_outs: &[],
        },
    );
    let reasoning: String = s
        .chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/reasoning_content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(reasoning, THINKING);
    assert_eq!(s.text(), expected_text("deepseek-reasoner"));
    // Thinking comes before the answer.
    let first_reasoning = s
        .chunks
        .iter()
        .position(|c| c.pointer("/choices/0/delta/reasoning_content").is_some())
        .expect("reasoning chunk");
    let first_text = s
        .chunks
        .iter()
        .position(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        })
        .expect("text chunk");
    assert!(first_reasoning < first_text);
}

#[actix_web::test]
async fn deepseek_chat_has_no_reasoning_content() {
    let env = TestEnv::start(demo_config()).await;
    let (status, _, body) = env.chat(user_says("deepseek-chat", PROMPT)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["choices"][0]["message"]
            .get("reasoning_content")
            .is_none()
    );
}

// === shared assertions ===

fn assert_usage_consistent(usage: &Value) {
    let n = |k: &str| {
        usage[k]
            .as_u64()
            .unwrap_or_else(|| panic!("usage.{k}: {usage}"))
    };
    assert!(n("prompt_tokens") > 0, "{usage}");
    assert!(n("completion_tokens") > 0, "{usage}");
    assert_eq!(
        n("prompt_tokens") + n("completion_tokens"),
        n("total_tokens")
    );
}

/// What every successful OpenAI stream must look like whoever answered.
fn assert_stream_well_formed(s: &Stream, c: Case) {
    assert_eq!(s.status, 200, "{}", s.raw);
    assert!(
        header(&s.headers, "content-type").starts_with("text/event-stream"),
        "{:?}",
        s.headers
    );
    assert_eq!(header(&s.headers, "x-switchyard-provider"), c.provider);
    assert_eq!(header(&s.headers, "x-switchyard-model"), c.model);
    assert_eq!(header(&s.headers, "x-switchyard-attempts"), "1");
    assert!(s.saw_done, "no [DONE]: {}", s.raw);
    assert!(s.raw.ends_with("data: [DONE]\n\n"), "{}", s.raw);
    assert!(!s.chunks.is_empty());
    let first = &s.chunks[0];
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant", "{first}");
    let id = first["id"].as_str().expect("chunk id");
    assert!(id.starts_with("chatcmpl-"));
    for ch in &s.chunks {
        assert!(ch.get("error").is_none(), "error event: {ch}");
        assert_eq!(ch["id"], id, "same id on every chunk: {ch}");
        assert_eq!(ch["object"], "chat.completion.chunk");
        assert_eq!(ch["model"], c.model);
        assert_eq!(ch["created"], first["created"]);
    }
    let roles = s
        .chunks
        .iter()
        .filter(|ch| ch.pointer("/choices/0/delta/role").is_some())
        .count();
    assert_eq!(roles, 1, "role only on the first chunk");
    let finishes = s.finish_reasons().len();
    assert_eq!(finishes, 1, "exactly one finish_reason: {}", s.raw);
}
