//! Test-only inverse parsers: a provider request body (OpenAI-family, Anthropic,
//! Gemini) back to a normalised conversation, and the same normalisation applied to
//! the generated canonical conversation, so the two can be compared.
//!
//! Normal form: a flat list of blocks, each on a side (system, user, assistant), in
//! order; adjacent texts of one side are joined with a blank line (Anthropic joins
//! system messages that way; merged turns keep their texts as separate blocks, which
//! the join makes equal). Tool results sit on the user side, as Anthropic and Gemini
//! send them. How ids compare depends on the provider ([`Ids`]).

use serde_json::Value;
use switchyard::adapters::mistral::mistral_tool_call_id;

use super::arb::Msg;

/// Who a block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    System,
    User,
    Assistant,
}

/// One unit of content.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    /// `id` is `None` where the wire has no ids (Gemini).
    Call {
        id: Option<String>,
        name: String,
        args: Value,
    },
    /// `call` is the answered call's id, or its name where the wire has no ids.
    Result {
        call: String,
        content: Value,
    },
}

/// How a provider's wire format carries tool-call ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Verbatim (OpenAI, DeepSeek, Qwen, Anthropic).
    Kept,
    /// Rewritten to nine alphanumerics, deterministically (Mistral).
    Mistral,
    /// Absent: calls carry names, results answer by name (Gemini).
    ByName,
}

pub type Normal = Vec<(Side, Block)>;

/// Appends a block, joining adjacent same-side texts; empty texts are dropped.
fn push(out: &mut Normal, side: Side, block: Block) {
    if let Block::Text(t) = &block {
        if t.is_empty() {
            return;
        }
        if let Some((s, Block::Text(prev))) = out.last_mut()
            && *s == side
        {
            prev.push_str("\n\n");
            prev.push_str(t);
            return;
        }
    }
    out.push((side, block));
}

/// A tool result's content: a JSON object stays one, anything else is a string.
pub fn result_content(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v) if v.is_object() => v,
        _ => Value::String(text.to_owned()),
    }
}

/// The generated conversation in normal form, as `ids` would carry it.
pub fn expected(msgs: &[Msg], ids: Ids) -> Normal {
    let mut out = Normal::new();
    let map = |id: &str| match ids {
        Ids::Kept | Ids::ByName => id.to_owned(),
        Ids::Mistral => mistral_tool_call_id(id).into_owned(),
    };
    for m in msgs {
        match m {
            Msg::System(t) => push(&mut out, Side::System, Block::Text(t.clone())),
            Msg::User(t) => push(&mut out, Side::User, Block::Text(t.clone())),
            Msg::Assistant { text, calls } => {
                if let Some(t) = text {
                    push(&mut out, Side::Assistant, Block::Text(t.clone()));
                }
                for c in calls {
                    let id = (ids != Ids::ByName).then(|| map(&c.id));
                    let call = Block::Call {
                        id,
                        name: c.name.clone(),
                        args: c.args.clone(),
                    };
                    push(&mut out, Side::Assistant, call);
                }
            }
            Msg::Tool { call_id, content } => {
                let call = if ids == Ids::ByName {
                    msgs.iter()
                        .find_map(|m| match m {
                            Msg::Assistant { calls, .. } => calls.iter().find(|c| c.id == *call_id),
                            _ => None,
                        })
                        .map(|c| c.name.clone())
                        .unwrap_or_default()
                } else {
                    map(call_id)
                };
                let content = result_content(content);
                push(&mut out, Side::User, Block::Result { call, content });
            }
        }
    }
    out
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Text of a string or of an array of `{"type":"text","text":…}` parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .map(|p| str_of(&p["text"]))
            .collect(),
        _ => String::new(),
    }
}

/// `messages` of an OpenAI-family Chat Completions body.
pub fn openai(body: &Value) -> Normal {
    let mut out = Normal::new();
    for m in body["messages"].as_array().expect("messages") {
        let content = text_of(&m["content"]);
        match m["role"].as_str().expect("role") {
            "system" | "developer" => push(&mut out, Side::System, Block::Text(content)),
            "user" => push(&mut out, Side::User, Block::Text(content)),
            "assistant" => {
                push(&mut out, Side::Assistant, Block::Text(content));
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    assert_eq!(c["type"], "function", "{c}");
                    let args = serde_json::from_str(
                        c["function"]["arguments"].as_str().expect("arguments"),
                    )
                    .expect("arguments are JSON");
                    let call = Block::Call {
                        id: Some(str_of(&c["id"])),
                        name: str_of(&c["function"]["name"]),
                        args,
                    };
                    push(&mut out, Side::Assistant, call);
                }
            }
            "tool" => {
                let call = str_of(&m["tool_call_id"]);
                let content = result_content(&content);
                push(&mut out, Side::User, Block::Result { call, content });
            }
            other => panic!("unexpected role {other}"),
        }
    }
    out
}

/// `system` and `messages` of an Anthropic Messages body.
pub fn anthropic(body: &Value) -> Normal {
    let mut out = Normal::new();
    push(
        &mut out,
        Side::System,
        Block::Text(text_of(&body["system"])),
    );
    let mut expect = "user";
    for m in body["messages"].as_array().expect("messages") {
        let role = m["role"].as_str().expect("role");
        assert_eq!(role, expect, "roles alternate, starting with user: {body}");
        expect = if role == "user" { "assistant" } else { "user" };
        let side = if role == "user" {
            Side::User
        } else {
            Side::Assistant
        };
        let blocks = match &m["content"] {
            Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            other => panic!("content {other}"),
        };
        for b in blocks {
            let block = match b["type"].as_str().expect("block type") {
                "text" => Block::Text(str_of(&b["text"])),
                "tool_use" => Block::Call {
                    id: Some(str_of(&b["id"])),
                    name: str_of(&b["name"]),
                    args: b["input"].clone(),
                },
                "tool_result" => Block::Result {
                    call: str_of(&b["tool_use_id"]),
                    content: result_content(&text_of(&b["content"])),
                },
                other => panic!("unexpected block {other}"),
            };
            push(&mut out, side, block);
        }
    }
    out
}

/// `systemInstruction` and `contents` of a Gemini generateContent body.
pub fn gemini(body: &Value) -> Normal {
    let mut out = Normal::new();
    for p in body["systemInstruction"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        push(&mut out, Side::System, Block::Text(str_of(&p["text"])));
    }
    for c in body["contents"].as_array().expect("contents") {
        let side = match c["role"].as_str().expect("role") {
            "user" => Side::User,
            "model" => Side::Assistant,
            other => panic!("unexpected role {other}"),
        };
        for p in c["parts"].as_array().expect("parts") {
            let block = if let Some(t) = p.get("text") {
                Block::Text(str_of(t))
            } else if let Some(f) = p.get("functionCall") {
                Block::Call {
                    id: None,
                    name: str_of(&f["name"]),
                    args: f["args"].clone(),
                }
            } else if let Some(f) = p.get("functionResponse") {
                let r = &f["response"];
                let content = match r.as_object() {
                    Some(o) if o.len() == 1 && o.get("result").is_some_and(Value::is_string) => {
                        o["result"].clone()
                    }
                    _ => r.clone(),
                };
                Block::Result {
                    call: str_of(&f["name"]),
                    content,
                }
            } else {
                panic!("unexpected part {p}");
            };
            push(&mut out, side, block);
        }
    }
    out
}
