//! The cache key of one request: its normalised fields serialised straight into BLAKE3
//! (`cache::key::Key::new`), computed for every request whose route caches. `small` is
//! one user message (tests/fixtures/gemini/minimal.request.json); `large` is a
//! 20-message conversation of about 8 KB, the size of a chat session a few turns in.
//! For comparison, the whole request hashed two ways: serialised straight into the
//! hasher (as the key was until 2026-11-24) and serialised into one buffer, then hashed
//! in one call (as the key is now, into a reused per-thread buffer).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use switchyard::cache::key::{Key, Target};
use switchyard::canonical::request::parse_request;

/// A system prompt and 19 alternating user and assistant turns, each a few sentences.
fn large() -> String {
    const USER: &str = "I am planning a week in Italy in late May with two children aged \
        eight and eleven. We land in Rome on a Saturday morning and fly home from Milan. \
        What should we see on day {n}, and how long does the train between cities take? \
        Please keep walking under ten kilometres a day; we prefer museums in the morning \
        and something outdoors after lunch.";
    const ASSISTANT: &str = "For day {n}, start early at the main sight before the tour \
        groups arrive, then take a long lunch break in the shade. The high-speed train \
        takes about three hours between Rome and Milan, with stops in Florence and Bologna; \
        book seats a week ahead for the family fare. In the afternoon, a park or a gelato \
        workshop keeps the children happy while you rest. Carry water: fountains are common, \
        but queues in the sun are long.";
    let mut messages = vec![json!({"role": "system", "content":
        "You are a careful travel assistant. Answer in short paragraphs, give times in \
         24-hour format and prices in euros, and say when something needs booking."})];
    for n in 1..20 {
        let (role, text) = if n % 2 == 1 {
            ("user", USER)
        } else {
            ("assistant", ASSISTANT)
        };
        messages.push(json!({"role": role, "content": text.replace("{n}", &n.to_string())}));
    }
    json!({"model": "auto", "temperature": 0.3, "max_tokens": 800, "messages": messages})
        .to_string()
}

fn bench(c: &mut Criterion) {
    let large = large();
    assert!(
        (7_000..9_000).contains(&large.len()),
        "{} bytes",
        large.len()
    );
    let small = include_str!("../tests/fixtures/gemini/minimal.request.json");
    let tenant: Arc<str> = Arc::from("tenant-acme");
    let mut group = c.benchmark_group("cache_key");
    for (name, body) in [("small", small), ("large", large.as_str())] {
        let req = parse_request(body.as_bytes()).expect("request parses");
        let target = Target {
            model: &req.model,
            route_header: None,
            route: Some("auto"),
        };
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("key", name), |b| {
            b.iter(|| Key::new(&tenant, black_box(target), black_box(&req)))
        });
        // The whole request (not the key's field set) two ways over the same bytes:
        // written into the hasher as serde produces it (the key's old way), and into one
        // buffer hashed in one call (its way now). Their ratio is what buffering saved.
        group.bench_function(BenchmarkId::new("request_to_hasher", name), |b| {
            b.iter(|| {
                let mut hasher = blake3::Hasher::new();
                serde_json::to_writer(&mut hasher, black_box(&req)).expect("serialises");
                hasher.finalize()
            })
        });
        group.bench_function(BenchmarkId::new("request_to_vec_then_hash", name), |b| {
            b.iter(|| {
                let bytes = serde_json::to_vec(black_box(&req)).expect("serialises");
                blake3::hash(&bytes)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots();
    targets = bench
}
criterion_main!(benches);
