//! Canonical request → OpenAI-family `chat/completions` body. One builder for the
//! whole family: the [`Quirks`] decide the max-tokens and seed fields, which roles and
//! names pass, how thinking is switched on and how tool-call ids are rewritten, and
//! their [`Accepts`] which optional parameters (`logprobs`, `logit_bias`,
//! `service_tier`, keys outside the typed request) are forwarded. Wire structs borrow
//! from the canonical request.

use std::borrow::Cow;

use serde::Serialize;

use serde::ser::SerializeMap;
use serde_json::Value;

use super::{MaxTokensField, Quirks, SeedField, Thinking};
use crate::canonical::params::Accepts;
use crate::canonical::request::StreamOptions;
use crate::canonical::{ChatRequest, Content, Message, ResponseFormat, Role, Tool, ToolChoice};

#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    random_seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_thinking: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logit_bias: Option<&'a serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    /// The request's extra keys this provider takes, after the typed fields.
    #[serde(flatten)]
    extra: Extra<'a>,
}

/// Extra keys, written as members of the body itself.
struct Extra<'a>(Vec<(&'a str, &'a Value)>);

impl Serialize for Extra<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'a str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: WireName<'a>,
    },
}

#[derive(Serialize)]
struct WireName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` is meaningful for an assistant message that only calls tools.
    content: Option<&'a Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a crate::canonical::FunctionCall,
}

pub(super) fn wire_request<'a>(
    q: &Quirks,
    req: &'a ChatRequest,
    upstream_model: &'a str,
) -> WireRequest<'a> {
    let a = &q.accepts;
    let messages = req.messages.iter().map(|m| wire_message(q, m)).collect();
    let max = req.max_output_tokens();
    let (max_tokens, max_completion_tokens) = match q.max_tokens {
        MaxTokensField::MaxTokens => (max, None),
        MaxTokensField::MaxCompletionTokens => (None, max),
    };
    let seed_in = req.seed.filter(|_| a.seed);
    let (seed, random_seed) = match q.seed_field {
        SeedField::Seed => (seed_in, None),
        SeedField::RandomSeed => (None, seed_in),
    };
    let effort = req
        .reasoning_effort
        .as_deref()
        .filter(|_| a.reasoning_effort);
    let (reasoning_effort, thinking, enable_thinking) = thinking_fields(q.thinking, effort);
    // The builder's own keys that are not canonical fields win over extra keys.
    let extra = extra(a, req, |k| match k {
        "random_seed" => random_seed.is_some(),
        "thinking" => thinking.is_some(),
        "enable_thinking" => enable_thinking.is_some(),
        _ => false,
    });
    let tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::None => WireToolChoice::Mode("none"),
        ToolChoice::Auto => WireToolChoice::Mode("auto"),
        ToolChoice::Required => WireToolChoice::Mode(q.required_tool_choice),
        ToolChoice::Function(name) => WireToolChoice::Named {
            kind: "function",
            function: WireName { name },
        },
    });
    WireRequest {
        model: upstream_model,
        messages,
        stream: req.stream,
        // Always ask for usage upstream: the gateway accounts every stream.
        stream_options: (req.stream && q.stream_options).then_some(StreamOptions {
            include_usage: Some(true),
        }),
        temperature: req.temperature,
        top_p: req.top_p,
        seed,
        random_seed,
        stop: req.stop.as_ref().map(|s| s.as_slice()),
        max_tokens,
        max_completion_tokens,
        presence_penalty: req.presence_penalty.filter(|_| a.penalties),
        frequency_penalty: req.frequency_penalty.filter(|_| a.penalties),
        tools: req.tools.as_deref().filter(|t| !t.is_empty()),
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| a.parallel_tool_calls),
        response_format: req.response_format.as_ref(),
        user: req.user.as_deref().filter(|_| a.user && q.names),
        extra,
        reasoning_effort,
        thinking,
        enable_thinking,
        logprobs: req.logprobs.filter(|_| a.logprobs),
        top_logprobs: req.top_logprobs.filter(|_| a.logprobs),
        logit_bias: req.logit_bias.as_ref().filter(|_| a.logit_bias),
        service_tier: req.service_tier.as_deref().filter(|_| a.service_tier),
        top_k: req.top_k.filter(|_| a.top_k),
    }
}

/// The extra keys `a` lets through, but those the builder already `set` (the
/// provider's thinking switch from `reasoning_effort`, Mistral's `random_seed`): a
/// key must not appear twice. Without `reasoning_effort`, a client's own
/// `enable_thinking` reaches Qwen.
fn extra<'a>(a: &Accepts, req: &'a ChatRequest, set: impl Fn(&str) -> bool) -> Extra<'a> {
    if req.extra.is_empty() {
        return Extra(Vec::new());
    }
    Extra(
        req.extra
            .iter()
            .filter(|(k, _)| a.extra.forwards(k) && !set(k))
            .map(|(k, v)| (k.as_str(), v))
            .collect(),
    )
}

/// `(reasoning_effort, thinking, enable_thinking)`: how `effort` is spelled for a
/// provider that switches thinking on its `thinking` way.
fn thinking_fields(
    thinking: Thinking,
    effort: Option<&str>,
) -> (Option<&str>, Option<WireThinking>, Option<bool>) {
    let thinking_off = matches!(effort, Some("none" | "minimal"));
    match (thinking, effort) {
        (_, None) | (Thinking::Ignore, _) => (None, None, None),
        (Thinking::ReasoningEffort, e) => (e, None, None),
        (Thinking::DeepSeek, Some(_)) if thinking_off => {
            (None, Some(WireThinking { kind: "disabled" }), None)
        }
        (Thinking::DeepSeek, Some(e)) => (
            Some(if matches!(e, "xhigh" | "max") {
                "max"
            } else {
                "high"
            }),
            Some(WireThinking { kind: "enabled" }),
            None,
        ),
        (Thinking::Qwen, Some(_)) => (None, None, Some(!thinking_off)),
    }
}

fn wire_message<'a>(q: &Quirks, m: &'a Message) -> WireMessage<'a> {
    let role = match m.role {
        Role::System => "system",
        Role::Developer if q.developer_role => "developer",
        Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let tool_calls = m
        .tool_calls
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|calls| {
            calls
                .iter()
                .map(|c| WireToolCall {
                    id: (q.tool_call_id)(&c.id),
                    kind: "function",
                    function: &c.function,
                })
                .collect()
        });
    // Tool messages may carry `name` everywhere in the family; other roles only where accepted.
    let name = m
        .name
        .as_deref()
        .filter(|_| q.names || m.role == Role::Tool);
    WireMessage {
        role,
        content: m.content.as_ref(),
        name,
        tool_calls,
        tool_call_id: m.tool_call_id.as_deref().map(q.tool_call_id),
        reasoning_content: m
            .reasoning_content
            .as_deref()
            .filter(|_| q.replay_reasoning && m.role == Role::Assistant),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::canonical::params::AskedParams;
    use crate::canonical::request::parse_request;
    use crate::config::{ModelConfig, ProviderKind, Secret};

    /// A request with every optional parameter, a known-but-untyped OpenAI key, a
    /// provider extension and an unknown key.
    fn everything() -> Value {
        json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2,
            "logprobs": true, "top_logprobs": 3, "logit_bias": {"50256": -100, "11": 2.5},
            "service_tier": "flex", "user": "u-1", "parallel_tool_calls": false,
            "reasoning_effort": "low",
            "store": true, "safe_prompt": true, "top_k": 40, "frobnicate": [1, {"a": null}],
        })
    }

    /// The upstream body bytes `kind` gets for `req`.
    fn body(kind: ProviderKind, req: &Value) -> Vec<u8> {
        let req = parse_request(req.to_string().as_bytes()).unwrap();
        let m = ModelConfig::standalone(kind, "http://up/v1", "up", 100);
        kind.adapter()
            .build_request(&req, &m, &Secret::new("sk-test"))
            .unwrap()
            .body
    }

    fn keys(bytes: &[u8]) -> Vec<String> {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn openai_receives_logprobs_logit_bias_and_its_documented_extras() {
        let bytes = body(ProviderKind::Openai, &everything());
        let text = std::str::from_utf8(&bytes).unwrap();
        // As the client wrote them: integers stay integers.
        assert!(
            text.contains(
                r#""logprobs":true,"top_logprobs":3,"logit_bias":{"11":2.5,"50256":-100}"#
            ),
            "{text}"
        );
        assert!(text.contains(r#""service_tier":"flex""#), "{text}");
        assert!(text.contains(r#""parallel_tool_calls":false"#), "{text}");
        assert!(text.contains(r#""user":"u-1""#), "{text}");
        assert!(
            text.ends_with(r#""store":true}"#),
            "extras come last: {text}"
        );
        for absent in ["safe_prompt", "top_k", "frobnicate"] {
            assert!(
                !keys(&bytes).contains(&absent.to_owned()),
                "{absent} in {text}"
            );
        }
    }

    #[test]
    fn each_member_receives_exactly_what_it_does_not_report_as_dropped() {
        let req = everything();
        let parsed = parse_request(req.to_string().as_bytes()).unwrap();
        for kind in [
            ProviderKind::Openai,
            ProviderKind::OpenaiCompatible,
            ProviderKind::Deepseek,
            ProviderKind::Qwen,
            ProviderKind::Mistral,
        ] {
            let sent = keys(&body(kind, &req));
            let asked = AskedParams::of(&parsed);
            let dropped = asked.dropped_by(kind.adapter().accepts());
            for name in req.as_object().unwrap().keys() {
                let name = name.as_str();
                // Renamed or respelled by the quirks, not dropped.
                let wire = match (kind, name) {
                    (ProviderKind::Mistral, "seed") => "random_seed",
                    (ProviderKind::Deepseek, "reasoning_effort") => "thinking",
                    (ProviderKind::Qwen, "reasoning_effort") => "enable_thinking",
                    _ => name,
                };
                assert_eq!(
                    sent.iter().any(|k| k == wire),
                    !dropped.contains(&name),
                    "{kind:?} {name}: sent {sent:?}, dropped {dropped:?}"
                );
            }
        }
    }

    #[test]
    fn members_differ_as_their_providers_do() {
        let dropped = |kind: ProviderKind| {
            let req = parse_request(everything().to_string().as_bytes()).unwrap();
            AskedParams::of(&req)
                .dropped_by(kind.adapter().accepts())
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        // Known parameters in reference order, then extra keys sorted.
        assert_eq!(
            dropped(ProviderKind::Openai),
            ["top_k", "frobnicate", "safe_prompt"]
        );
        assert_eq!(
            dropped(ProviderKind::Mistral),
            [
                "logprobs",
                "top_logprobs",
                "logit_bias",
                "service_tier",
                "user",
                "top_k",
                "frobnicate",
                "store"
            ]
        );
        assert_eq!(
            dropped(ProviderKind::Deepseek),
            [
                "logit_bias",
                "service_tier",
                "top_k",
                "frobnicate",
                "safe_prompt",
                "store"
            ]
        );
        assert_eq!(
            dropped(ProviderKind::Qwen),
            [
                "logit_bias",
                "service_tier",
                "frobnicate",
                "safe_prompt",
                "store"
            ]
        );
        assert_eq!(
            dropped(ProviderKind::OpenaiCompatible),
            ["service_tier", "reasoning_effort"]
        );
    }

    #[test]
    fn an_extra_key_never_duplicates_one_the_builder_sets() {
        // Qwen: the client's own switch passes without reasoning_effort…
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "enable_thinking": false});
        let bytes = body(ProviderKind::Qwen, &req);
        assert!(
            std::str::from_utf8(&bytes)
                .unwrap()
                .contains(r#""enable_thinking":false"#)
        );
        // …and gives way to the one reasoning_effort sets.
        let mut req = req;
        req["reasoning_effort"] = json!("high");
        let text = String::from_utf8(body(ProviderKind::Qwen, &req)).unwrap();
        assert_eq!(text.matches("enable_thinking").count(), 1, "{text}");
        assert!(text.contains(r#""enable_thinking":true"#), "{text}");
        // Compatible servers get every extra key, but one spelled as a wire-only field
        // the builder set is not repeated (none is set here, so it passes).
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "top_k": 40, "chat_template_kwargs": {"enable_thinking": false}, "random_seed": 1});
        let text = String::from_utf8(body(ProviderKind::OpenaiCompatible, &req)).unwrap();
        assert!(
            text.contains(r#""chat_template_kwargs":{"enable_thinking":false}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""top_k":40"#) && text.contains(r#""random_seed":1"#),
            "{text}"
        );
    }

    #[test]
    fn a_plain_request_is_unchanged_by_the_pass_through() {
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5});
        let text = String::from_utf8(body(ProviderKind::Openai, &req)).unwrap();
        assert_eq!(
            text,
            r#"{"model":"up","messages":[{"role":"user","content":"hi"}],"temperature":0.5}"#
        );
    }
}
