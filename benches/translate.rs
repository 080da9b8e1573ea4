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
//! Budget: a small request well under 20 µs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard::canonical::request::parse_request;
use switchyard::canonical::{ChatRequest, FinishReason};
use switchyard::config::ProviderKind;
use switchyard::config::{ModelConfig, Secret};

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

criterion_group! {
    name = benches;
    // Short windows: the 18 cases take about a minute. On a shared machine medians move
    // between runs far more than within one: compare several runs, not one figure.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots();
    targets = build_request, parse_response
}
criterion_main!(benches);
