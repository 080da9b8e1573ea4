//! Translation per adapter, both directions, on golden inputs.
//!
//! - `build_request`: a parsed canonical request to the upstream request (URL, headers,
//!   body bytes) for each provider kind. `minimal` is one user message
//!   (tests/fixtures/gemini/minimal.request.json); `tool_round_trip` is a system prompt,
//!   two tools, three tool calls and their results (the `canonical` half of
//!   tests/fixtures/anthropic/request_tool_round_trip.json). Parsing the client's JSON is
//!   not part of it: the gateway parses once and translates once per attempt.
//! - `parse_response`: each provider's non-streamed answer (benches/fixtures/<kind>/
//!   response.json: the same 55-token paragraph in each wire format, with the metadata
//!   the real APIs send, after shared/reference/providers.md) to the canonical completion.
//!
//! - `read_request` (the inbound direction, issue 24): a client's body read into the
//!   canonical request, checked, per client API: Chat Completions (`parse_request` +
//!   `validate`, the gateway's own parse) and Anthropic Messages (`inbound::messages::
//!   read`: parse, check, translate, canonical check). `tool_round_trip` is the same
//!   conversation in each API's shape (both halves of the fixture above).
//! - `write_answer`: the complete answer (OpenAI's fixture, parsed) written as a
//!   `chat.completion` and as an Anthropic `message`.
//!
//! Budget: a small request well under 20 µs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard::canonical::request::parse_request;
use switchyard::canonical::{ChatRequest, ChatResponse, FinishReason, ids};
use switchyard::config::ProviderKind;
use switchyard::config::{ModelConfig, Secret};
use switchyard::inbound;
use switchyard::inbound::messages::response::MessageBody;

/// Each provider kind with a realistic upstream model name and its answer fixture.
const KINDS: [(ProviderKind, &str, &[u8]); 6] = [
    (
        ProviderKind::Openai,
        "gpt-4o-mini",
        include_bytes!("fixtures/openai/response.json"),
    ),
    (
        ProviderKind::Anthropic,
        "claude-sonnet-4-5-20250929",
        include_bytes!("fixtures/anthropic/response.json"),
    ),
    (
        ProviderKind::Gemini,
        "gemini-2.5-flash",
        include_bytes!("fixtures/gemini/response.json"),
    ),
    (
        ProviderKind::Deepseek,
        "deepseek-chat",
        include_bytes!("fixtures/deepseek/response.json"),
    ),
    (
        ProviderKind::Qwen,
        "qwen-plus",
        include_bytes!("fixtures/qwen/response.json"),
    ),
    (
        ProviderKind::Mistral,
        "mistral-small-latest",
        include_bytes!("fixtures/mistral/response.json"),
    ),
];

fn requests() -> [(&'static str, ChatRequest); 2] {
    let minimal = include_str!("../tests/fixtures/gemini/minimal.request.json");
    let round_trip: serde_json::Value = serde_json::from_str(include_str!(
        "../tests/fixtures/anthropic/request_tool_round_trip.json"
    ))
    .expect("fixture is JSON");
    let round_trip = round_trip["canonical"].to_string();
    [
        ("minimal", minimal),
        ("tool_round_trip", round_trip.as_str()),
    ]
    .map(|(name, body)| {
        let req = parse_request(body.as_bytes()).expect("fixture parses");
        req.validate().expect("fixture is valid");
        (name, req)
    })
}

fn build_request(c: &mut Criterion) {
    let key = Secret::new("sk-bench-0123456789abcdef0123456789abcdef");
    let mut group = c.benchmark_group("build_request");
    for (name, req) in requests() {
        for (kind, upstream, _) in KINDS {
            let model =
                ModelConfig::standalone(kind, "https://upstream.example/v1", upstream, 8192);
            let adapter = kind.adapter();
            let built = adapter.build_request(&req, &model, &key).expect("builds");
            group.throughput(Throughput::Bytes(built.body.len() as u64));
            group.bench_function(BenchmarkId::new(name, kind.as_str()), |b| {
                b.iter(|| {
                    let up = adapter
                        .build_request(black_box(&req), &model, &key)
                        .expect("builds");
                    black_box(up.body.len())
                })
            });
        }
    }
    group.finish();
}

fn parse_response(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_response");
    for (kind, _, body) in KINDS {
        let adapter = kind.adapter();
        let parsed = adapter.parse_response(body).expect("fixture parses");
        assert_eq!(parsed.finish_reason, FinishReason::Stop, "{kind:?}");
        assert_eq!(parsed.usage.prompt_tokens, 412, "{kind:?}");
        assert!(parsed.message.content.is_some_and(|t| t.len() > 200));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(kind.as_str(), |b| {
            b.iter(|| {
                let c = adapter.parse_response(black_box(body)).expect("parses");
                black_box(c.usage.completion_tokens)
            })
        });
    }
    group.finish();
}

/// `(name, Chat Completions body, Anthropic Messages body)` of one conversation.
fn inbound_bodies() -> [(&'static str, String, String); 2] {
    let minimal_chat = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}"#;
    let round_trip: serde_json::Value = serde_json::from_str(include_str!(
        "../tests/fixtures/anthropic/request_tool_round_trip.json"
    ))
    .expect("fixture is JSON");
    [
        ("minimal", minimal_chat.to_owned(), minimal_chat.to_owned()),
        (
            "tool_round_trip",
            round_trip["canonical"].to_string(),
            round_trip["anthropic"].to_string(),
        ),
    ]
}

fn read_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_request");
    for (name, chat, messages) in inbound_bodies() {
        group.throughput(Throughput::Bytes(chat.len() as u64));
        group.bench_function(BenchmarkId::new(name, "openai-chat"), |b| {
            b.iter(|| {
                let req = parse_request(black_box(chat.as_bytes())).expect("parses");
                req.validate().expect("valid");
                black_box(req.messages.len())
            })
        });
        inbound::messages::read(messages.as_bytes(), true).expect("fixture reads");
        group.throughput(Throughput::Bytes(messages.len() as u64));
        group.bench_function(BenchmarkId::new(name, "anthropic-messages"), |b| {
            b.iter(|| {
                let req =
                    inbound::messages::read(black_box(messages.as_bytes()), true).expect("reads");
                black_box(req.messages.len())
            })
        });
    }
    group.finish();
}

fn write_answer(c: &mut Criterion) {
    let (kind, _, body) = KINDS[0];
    let parsed = kind.adapter().parse_response(body).expect("fixture parses");
    let r = ChatResponse {
        id: ids::completion_id(),
        created: 0,
        model: "gpt-4o-mini".into(),
        message: parsed.message,
        finish_reason: parsed.finish_reason,
        usage: parsed.usage,
    };
    let mut group = c.benchmark_group("write_answer");
    group.bench_function("openai-chat", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1024);
            serde_json::to_writer(&mut out, black_box(&r)).expect("writes");
            black_box(out.len())
        })
    });
    group.bench_function("anthropic-messages", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1024);
            let id = ids::message_id();
            let body = MessageBody {
                id: &id,
                response: black_box(&r),
            };
            serde_json::to_writer(&mut out, &body).expect("writes");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short windows: the 18 cases take about a minute. On a shared machine medians move
    // between runs far more than within one: compare several runs, not one figure.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots();
    targets = build_request, parse_response, read_request, write_answer
}
criterion_main!(benches);
