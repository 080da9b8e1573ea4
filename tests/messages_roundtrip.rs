//! Round-trip property of `/v1/messages`: a random Anthropic request (system as a
//! string or blocks, alternating turns of text, base64 and URL images, parallel
//! `tool_use` and their `tool_result`s, tools, every `tool_choice`, `max_tokens`,
//! sampling, `stop_sequences`, `metadata.user_id`, `thinking`) read into the canonical
//! request (`inbound::messages::read`) and written back out by the outbound Anthropic
//! adapter must be the request it was: every field both sides have survives, order
//! kept. The known normalisations are applied to the expectation, each named:
//! `system` blocks joined with a blank line, a lone text block sent as a string, a
//! thinking budget rounded to its effort's (which also drops sampling, as Anthropic
//! requires), `disable_parallel_tool_use` meaningless under `none`.

use proptest::prelude::*;
use serde_json::{Value, json};
use switchyard::config::{ModelConfig, ProviderKind, Secret};
use switchyard::inbound::messages;

const CASES: u32 = 256;
const MAX_TOKENS: u32 = 40_000;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9 ,.!?\"\\\\é]{0,24}"
}

fn image() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[A-Za-z0-9+/]{4,16}".prop_map(|data| json!({"type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": data}})),
        "[a-z]{1,8}".prop_map(|p| json!({"type": "image",
            "source": {"type": "url", "url": format!("https://img.test/{p}.png")}})),
    ]
}

/// A JSON object of tool arguments.
fn input() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-z]{1,6}",
        prop_oneof![
            text().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ],
        0..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// One exchange: a user turn's own blocks (text and images), the assistant's answer
/// (text and/or calls), and the results of those calls, which lead the next user turn.
type Exchange = (Vec<Value>, Vec<Value>, Vec<Value>);

fn exchange(n: usize) -> impl Strategy<Value = Exchange> {
    let user = prop::collection::vec(
        prop_oneof![3 => text().prop_map(|t| json!({"type": "text", "text": t})), 1 => image()],
        1..3,
    );
    let calls = prop::collection::vec(("[a-z_]{1,8}", input()), 0..3);
    (user, prop::option::of(text()), calls).prop_map(move |(user, said, calls)| {
        let mut assistant: Vec<Value> = said
            .map(|t| json!({"type": "text", "text": t}))
            .into_iter()
            .collect();
        let mut results = Vec::new();
        for (k, (name, input)) in calls.into_iter().enumerate() {
            let id = format!("toolu_{n}_{k}");
            assistant.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
            results.push(
                json!({"type": "tool_result", "tool_use_id": id, "content": format!("result {k}")}),
            );
        }
        if assistant.is_empty() {
            assistant.push(json!({"type": "text", "text": "ok"}));
        }
        (user, assistant, results)
    })
}

/// Alternating turns ending with the user's.
fn turns(exchanges: Vec<Exchange>) -> Vec<Value> {
    let mut turns = Vec::new();
    let mut pending: Vec<Value> = Vec::new();
    for (user, assistant, results) in exchanges {
        let content = [std::mem::take(&mut pending), user].concat();
        turns.push(json!({"role": "user", "content": content}));
        turns.push(json!({"role": "assistant", "content": assistant}));
        pending = results;
    }
    if pending.is_empty() {
        pending.push(json!({"type": "text", "text": "go on"}));
    }
    turns.push(json!({"role": "user", "content": pending}));
    turns
}

fn request() -> impl Strategy<Value = Value> {
    let system = prop_oneof![
        Just(Value::Null),
        text().prop_map(Value::from),
        prop::collection::vec(text(), 1..3).prop_map(|ts| ts
            .into_iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect()),
    ];
    let exchanges = (1usize..4).prop_flat_map(|n| (0..n).map(exchange).collect::<Vec<_>>());
    // Two decimals, as clients write them: serde_json's default parser may be an ulp
    // off on 17-digit floats, which is the parser's precision, not the translation's.
    let unit = || prop::option::of((0u32..=100).prop_map(|n| f64::from(n) / 100.0));
    let sampling = (unit(), unit(), prop::option::of(1u32..100));
    let choice = prop_oneof![
        Just(Value::Null),
        Just(json!({"type": "auto"})),
        Just(json!({"type": "any", "disable_parallel_tool_use": true})),
        Just(json!({"type": "tool", "name": "lookup"})),
        Just(json!({"type": "none"})),
    ];
    let thinking = prop_oneof![
        Just(Value::Null),
        (1024u32..MAX_TOKENS).prop_map(|b| json!({"type": "enabled", "budget_tokens": b})),
    ];
    let extras = (
        prop::collection::vec("[a-z#]{1,5}", 1..4),
        prop::option::of("[a-z0-9-]{1,12}"),
        any::<bool>(),
    );
    (system, exchanges, sampling, choice, thinking, extras).prop_map(
        |(system, exchanges, (temperature, top_p, top_k), choice, thinking, extras)| {
            let (stops, user, stream) = extras;
            let mut req = json!({
                "model": "claude-sonnet-4-5", "max_tokens": MAX_TOKENS,
                "messages": turns(exchanges), "stream": stream, "stop_sequences": stops,
                "tools": [{"name": "lookup", "description": "Looks up", "input_schema":
                    {"type": "object", "properties": {"q": {"type": "string"}}}}],
            });
            let optional = [
                ("system", system),
                ("tool_choice", choice),
                ("thinking", thinking),
                ("temperature", json!(temperature)),
                ("top_p", json!(top_p)),
                ("top_k", json!(top_k)),
                (
                    "metadata",
                    user.map_or(Value::Null, |u| json!({"user_id": u})),
                ),
            ];
            for (k, v) in optional {
                if !v.is_null() {
                    req[k] = v;
                }
            }
            req
        },
    )
}

/// What the outbound adapter must send back for `req`.
fn expected(mut req: Value) -> Value {
    let obj = req.as_object_mut().expect("an object");
    if let Some(Value::Array(blocks)) = obj.get("system") {
        let joined: Vec<&str> = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
        obj.insert("system".into(), json!(joined.join("\n\n")));
    }
    for turn in obj["messages"].as_array_mut().expect("messages") {
        if let [b] = turn["content"].as_array().expect("blocks").as_slice()
            && b["type"] == "text"
        {
            turn["content"] = b["text"].clone();
        }
    }
    if let Some(budget) = obj
        .remove("thinking")
        .and_then(|t| t["budget_tokens"].as_u64())
    {
        let forced = matches!(
            obj.get("tool_choice").and_then(|c| c["type"].as_str()),
            Some("any" | "tool")
        );
        if !forced {
            let rounded = match budget {
                b if b >= 16_384 => 16_384,
                b if b >= 4096 => 4096,
                _ => 1024,
            };
            obj.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": rounded}),
            );
            for k in ["temperature", "top_p", "top_k"] {
                obj.remove(k);
            }
        }
    }
    if obj.get("stream") == Some(&json!(false)) {
        obj.remove("stream");
    }
    obj.insert("model".into(), json!("up-model"));
    req
}

/// The canonical request written out by the outbound Anthropic adapter.
fn round_trip(req: &Value) -> Value {
    let chat = messages::read(req.to_string().as_bytes(), true)
        .unwrap_or_else(|e| panic!("the generated request is valid: {e:?}\n{req}"));
    let model =
        ModelConfig::standalone(ProviderKind::Anthropic, "http://up.test", "up-model", 4096);
    let up = ProviderKind::Anthropic
        .adapter()
        .build_request(&chat, &model, &Secret::new("sk-roundtrip"))
        .unwrap_or_else(|e| panic!("the adapter takes it: {e:?}"));
    serde_json::from_slice(&up.body).expect("the body is JSON")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn an_anthropic_request_survives_the_canonical_form(req in request()) {
        prop_assert_eq!(round_trip(&req), expected(req));
    }
}

#[test]
fn canonical_fields_carry_what_anthropic_sent() {
    let req = json!({"model": "m", "max_tokens": 5000, "top_k": 7, "stop_sequences": ["x"],
        "metadata": {"user_id": "u-1"}, "thinking": {"type": "enabled", "budget_tokens": 4096},
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "messages": [{"role": "user", "content": "hi"}]});
    let chat = messages::read(req.to_string().as_bytes(), true).unwrap();
    assert_eq!(chat.top_k, Some(7));
    assert_eq!(chat.max_tokens, Some(5000));
    assert_eq!(chat.user.as_deref(), Some("u-1"));
    assert_eq!(chat.reasoning_effort.as_deref(), Some("medium"));
    assert_eq!(chat.parallel_tool_calls, Some(false));
    assert_eq!(chat.stop.unwrap().as_slice(), ["x"]);
    let format = serde_json::to_value(chat.response_format.unwrap()).unwrap();
    assert_eq!(format["json_schema"]["schema"], json!({"type": "object"}));
}
