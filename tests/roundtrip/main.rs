//! Round-trip property tests of the six adapters.
//!
//! Requests: random canonical conversations (system, user and assistant text, parallel
//! tool calls with JSON-object arguments, tool results) go through each adapter's
//! `build_request`; a test-only inverse parser reads the provider body back, and the
//! two must be equal in normal form (`inverse`): nothing lost, order kept, results
//! still answering their calls.
//!
//! Responses: random answers (text, tool calls, finish reason, usage) are rendered as
//! each provider's response JSON and SSE stream (`render`) and parsed back by the
//! adapter (`parse_response`, `stream_decoder`, fed in random byte splits); the
//! result must equal the answer.

mod arb;
mod inverse;
mod render;

use proptest::prelude::*;
use serde_json::Value;
use switchyard::adapters::Completion;
use switchyard::canonical::request::parse_request;
use switchyard::canonical::{FinishReason, StreamEvent, Usage};
use switchyard::config::ProviderKind;
use switchyard::config::{ModelConfig, Secret};

use arb::{Answer, Call, Msg};
use inverse::Ids;
use render::Wire;

/// Cases per property: each runs all six providers (the response properties run a
/// body and a stream each), so 256 cases are ~1500 translations per property, well
/// under a second in a debug build.
const CASES: u32 = 256;

/// The six provider kinds of the demo, with how each carries ids and answers.
const PROVIDERS: [(ProviderKind, Ids, Wire); 6] = [
    (ProviderKind::Openai, Ids::Kept, Wire::OpenAi),
    (ProviderKind::Deepseek, Ids::Kept, Wire::OpenAi),
    (ProviderKind::Qwen, Ids::Kept, Wire::OpenAi),
    (ProviderKind::Mistral, Ids::Mistral, Wire::Mistral),
    (ProviderKind::Anthropic, Ids::Kept, Wire::Anthropic),
    (ProviderKind::Gemini, Ids::ByName, Wire::Gemini),
];

fn model(kind: ProviderKind) -> ModelConfig {
    ModelConfig::standalone(kind, "http://upstream.test/v1", "up-model", 4096)
}

/// The provider body `kind` builds for the conversation.
fn provider_body(kind: ProviderKind, msgs: &[Msg]) -> Value {
    let json = arb::request_json(msgs).to_string();
    let req = parse_request(json.as_bytes()).expect("the generated request is valid");
    let up = kind
        .adapter()
        .build_request(&req, &model(kind), &Secret::new("sk-roundtrip"))
        .unwrap_or_else(|e| panic!("{kind:?} cannot express {json}: {e:?}"));
    serde_json::from_slice(&up.body).expect("the body is JSON")
}

/// An answer as the client would assemble it.
#[derive(Debug, PartialEq)]
struct Assembled {
    text: String,
    /// `(id, name, arguments)`; ids blanked where the provider has none.
    calls: Vec<(String, String, Value)>,
    finish: FinishReason,
    usage: Usage,
}

fn expected_answer(a: &Answer, ids: Ids, wire: Wire) -> Assembled {
    Assembled {
        text: a.full_text(),
        calls: a.calls.iter().map(|c| call_tuple(c, ids)).collect(),
        finish: a.finish(),
        usage: render::expected_usage(wire, a.usage),
    }
}

fn call_tuple(c: &Call, ids: Ids) -> (String, String, Value) {
    let id = if ids == Ids::ByName {
        String::new()
    } else {
        c.id.clone()
    };
    (id, c.name.clone(), c.args.clone())
}

/// Checks ids the gateway minted (Gemini) and blanks them for comparison.
fn blank_minted_ids(calls: &mut [(String, String, Value)], ids: Ids) {
    if ids != Ids::ByName {
        return;
    }
    let mut seen: Vec<String> = calls.iter().map(|c| c.0.clone()).collect();
    assert!(seen.iter().all(|id| id.starts_with("call_")), "{seen:?}");
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), calls.len(), "minted ids are unique");
    for c in calls {
        c.0.clear();
    }
}

fn from_completion(c: Completion, ids: Ids) -> Assembled {
    let mut calls: Vec<(String, String, Value)> = c
        .message
        .tool_calls
        .iter()
        .map(|tc| {
            let args = serde_json::from_str(&tc.function.arguments).expect("arguments are JSON");
            (tc.id.clone(), tc.function.name.clone(), args)
        })
        .collect();
    blank_minted_ids(&mut calls, ids);
    Assembled {
        text: c.message.content.unwrap_or_default(),
        calls,
        finish: c.finish_reason,
        usage: c.usage,
    }
}

/// Feeds `body` to a fresh decoder in pseudo-random splits (which cut lines, events
/// and UTF-8 characters) and assembles what it emits as a client would.
fn decode_stream(kind: ProviderKind, ids: Ids, body: &str, seed: u64) -> Assembled {
    let mut decoder = kind.adapter().stream_decoder();
    let mut events = Vec::new();
    let bytes = body.as_bytes();
    let mut state = seed | 1;
    let mut at = 0;
    while at < bytes.len() {
        // xorshift64: deterministic per case, so a failure replays.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 96) as usize;
        let end = (at + len).min(bytes.len());
        decoder
            .decode(&bytes[at..end], &mut events)
            .unwrap_or_else(|e| panic!("{kind:?} rejected its own stream: {e:?}\n{body}"));
        at = end;
    }
    decoder
        .finish(&mut events)
        .unwrap_or_else(|e| panic!("{kind:?} stream did not finish: {e:?}\n{body}"));

    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finishes = Vec::new();
    let mut usage = None;
    for ev in events {
        match ev {
            StreamEvent::Text(t) => text.push_str(&t),
            StreamEvent::Reasoning(t) => panic!("unexpected reasoning {t:?}"),
            StreamEvent::ToolCallStart { index, id, name } => {
                assert_eq!(
                    index as usize,
                    calls.len(),
                    "tool calls indexed from 0 in order"
                );
                calls.push((id, name, String::new()));
            }
            StreamEvent::ToolCallArgs { index, arguments } => {
                calls
                    .get_mut(index as usize)
                    .expect("arguments after the call's start")
                    .2
                    .push_str(&arguments);
            }
            StreamEvent::Finish(f) => finishes.push(f),
            StreamEvent::Usage(u) => usage = Some(u),
            StreamEvent::Logprobs(l) => panic!("unexpected logprobs {l}"),
        }
    }
    assert_eq!(finishes.len(), 1, "one finish reason: {finishes:?}");
    let mut calls: Vec<(String, String, Value)> = calls
        .into_iter()
        .map(|(id, name, args)| {
            let args = serde_json::from_str(&args).expect("streamed arguments are JSON");
            (id, name, args)
        })
        .collect();
    blank_minted_ids(&mut calls, ids);
    Assembled {
        text,
        calls,
        finish: finishes[0],
        usage: usage.expect("the stream reported usage"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn conversations_survive_every_request_format(msgs in arb::conversation()) {
        for (kind, ids, _) in PROVIDERS {
            let body = provider_body(kind, &msgs);
            let back = match kind {
                ProviderKind::Anthropic => inverse::anthropic(&body),
                ProviderKind::Gemini => inverse::gemini(&body),
                _ => inverse::openai(&body),
            };
            prop_assert_eq!(back, inverse::expected(&msgs, ids), "{:?}: {}", kind, body);
        }
    }

    #[test]
    fn answers_survive_every_response_body(a in arb::answer()) {
        for (kind, ids, wire) in PROVIDERS {
            let body = render::response(wire, &a).to_string();
            let parsed = kind
                .adapter()
                .parse_response(body.as_bytes())
                .unwrap_or_else(|e| panic!("{kind:?} rejected {body}: {e:?}"));
            prop_assert_eq!(
                from_completion(parsed, ids),
                expected_answer(&a, ids, wire),
                "{:?}: {}", kind, body
            );
        }
    }

    #[test]
    fn answers_survive_every_stream(a in arb::answer()) {
        for (kind, ids, wire) in PROVIDERS {
            let body = render::stream(wire, &a);
            prop_assert_eq!(
                decode_stream(kind, ids, &body, a.seed),
                expected_answer(&a, ids, wire),
                "{:?}: {}", kind, body
            );
        }
    }
}
