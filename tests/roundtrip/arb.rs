//! Random canonical inputs: conversations (system text, user text, assistant text,
//! parallel tool calls with JSON-object arguments, tool results) and answers (text,
//! tool calls, finish reason, usage), with the split points their streams use.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Tool names the generated calls use; the request declares all of them.
pub const TOOL_NAMES: [&str; 3] = ["get_weather", "lookup", "search_docs"];

/// One message of a generated conversation.
#[derive(Debug, Clone)]
pub enum Msg {
    System(String),
    User(String),
    Assistant {
        text: Option<String>,
        calls: Vec<Call>,
    },
    Tool {
        call_id: String,
        content: String,
    },
}

/// A tool call: id, function name and a JSON object of arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: String,
    pub name: String,
    pub args: Value,
}

/// Non-blank text with characters JSON must escape and multi-byte UTF-8.
pub fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.!?'\"\\\\/\t\néß中😀<>&]{1,24}".prop_filter("not blank", |s| !s.trim().is_empty())
}

/// Ids as OpenAI mints them, and nine alphanumerics as Mistral does.
fn call_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9]{6,24}".prop_map(|s| format!("call_{s}")),
        "toolu_[A-Za-z0-9]{12}",
        "[A-Za-z0-9]{9}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        text().prop_map(Value::from),
        vec(any::<u8>(), 0..3).prop_map(|v| json!(v)),
    ]
}

/// A JSON object of up to four keys; values may nest one object deep. No key is
/// `result`, which Gemini's tool-result wrapping reserves.
pub fn object() -> impl Strategy<Value = Value> {
    let key = "[a-z]{1,6}".prop_filter("not result", |k| k != "result");
    let inner = btree_map(key.clone(), leaf(), 0..3).prop_map(|m| Value::Object(Map::from_iter(m)));
    let value = prop_oneof![3 => leaf(), 1 => inner];
    btree_map(key, value, 0..4).prop_map(|m| Value::Object(Map::from_iter(m)))
}

fn call() -> impl Strategy<Value = Call> {
    (call_id(), prop::sample::select(&TOOL_NAMES[..]), object()).prop_map(|(id, name, args)| Call {
        id,
        name: name.to_owned(),
        args,
    })
}

/// A tool result: plain text, or a JSON object as text.
fn tool_content() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.:%]{1,20}".prop_filter("not blank", |s| !s.trim().is_empty()),
        object().prop_map(|v| v.to_string()),
    ]
}

/// What the assistant does after a user turn.
#[derive(Debug, Clone)]
enum Step {
    Answer(String),
    Tools {
        before: Option<String>,
        calls: Vec<Call>,
        results: Vec<String>,
        after: Option<String>,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        text().prop_map(Step::Answer),
        (
            option::of(text()),
            vec(call(), 1..4),
            vec(tool_content(), 3),
            option::of(text())
        )
            .prop_map(|(before, calls, results, after)| Step::Tools {
                before,
                calls,
                results,
                after
            }),
    ]
}

/// A conversation: an optional system message, then one to three rounds of a user
/// turn and the assistant's step (an answer, or calls, their results in order and an
/// optional answer). Call ids are unique, as providers require.
pub fn conversation() -> impl Strategy<Value = Vec<Msg>> {
    (option::of(text()), vec((text(), step()), 1..4))
        .prop_map(|(system, rounds)| {
            let mut msgs: Vec<Msg> = system.into_iter().map(Msg::System).collect();
            for (user, step) in rounds {
                msgs.push(Msg::User(user));
                match step {
                    Step::Answer(t) => msgs.push(Msg::Assistant {
                        text: Some(t),
                        calls: Vec::new(),
                    }),
                    Step::Tools {
                        before,
                        calls,
                        results,
                        after,
                    } => {
                        let answers: Vec<Msg> = calls
                            .iter()
                            .zip(results)
                            .map(|(c, content)| Msg::Tool {
                                call_id: c.id.clone(),
                                content,
                            })
                            .collect();
                        msgs.push(Msg::Assistant {
                            text: before,
                            calls,
                        });
                        msgs.extend(answers);
                        if let Some(t) = after {
                            msgs.push(Msg::Assistant {
                                text: Some(t),
                                calls: Vec::new(),
                            });
                        }
                    }
                }
            }
            msgs
        })
        .prop_filter("call ids are unique", |msgs| {
            let mut ids: Vec<&str> = msgs
                .iter()
                .flat_map(|m| match m {
                    Msg::Assistant { calls, .. } => calls.iter().map(|c| c.id.as_str()).collect(),
                    _ => Vec::new(),
                })
                .collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            ids.len() == n
        })
}

/// The canonical request body of a conversation, declaring every tool.
pub fn request_json(msgs: &[Msg]) -> Value {
    let messages: Vec<Value> = msgs
        .iter()
        .map(|m| match m {
            Msg::System(t) => json!({"role": "system", "content": t}),
            Msg::User(t) => json!({"role": "user", "content": t}),
            Msg::Assistant { text, calls } => {
                let mut v = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    v["tool_calls"] = calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.args.to_string()}})
                        })
                        .collect();
                }
                v
            }
            Msg::Tool { call_id, content } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        })
        .collect();
    let tools: Vec<Value> = TOOL_NAMES
        .iter()
        .map(|n| json!({"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}))
        .collect();
    json!({"model": "m", "messages": messages, "tools": tools})
}

/// A model's answer as the provider would report it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer text in the pieces a stream delivers it; may be empty.
    pub text: Vec<String>,
    pub calls: Vec<Call>,
    /// Cut at max_tokens (only without calls).
    pub cut: bool,
    pub usage: Counts,
    /// Argument fragments are at most this many characters in streams.
    pub fragment_chars: usize,
    /// Seeds the byte boundaries at which stream bytes are fed to the decoder.
    pub seed: u64,
}

/// Token counts, read per provider: see `render::expected_usage`.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub thinking: u64,
}

fn counts() -> impl Strategy<Value = Counts> {
    (1..5000u64, 0..3000u64, 0..3000u64, 1..4000u64, 0..2000u64).prop_map(
        |(input, cache_read, cache_write, output, thinking)| Counts {
            input,
            cache_read,
            cache_write,
            output,
            thinking,
        },
    )
}

/// An answer with text, calls or both; ids unique.
pub fn answer() -> impl Strategy<Value = Answer> {
    (
        vec(text(), 0..4),
        vec(call(), 0..4),
        any::<bool>(),
        counts(),
        1..12usize,
        any::<u64>(),
    )
        .prop_filter("says something", |(text, calls, ..)| {
            !text.is_empty() || !calls.is_empty()
        })
        .prop_filter("call ids are unique", |(_, calls, ..)| {
            let mut ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len() == calls.len()
        })
        .prop_map(|(text, calls, cut, usage, fragment_chars, seed)| Answer {
            cut: cut && calls.is_empty(),
            text,
            calls,
            usage,
            fragment_chars,
            seed,
        })
}

/// `s` in pieces of at most `n` characters (never splitting a character).
pub fn fragments(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}
