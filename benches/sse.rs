//! Stream relay per adapter: each provider's SSE bytes through its `StreamDecoder` to
//! canonical events, and through the `ChunkEncoder` back to OpenAI SSE bytes — the work
//! `dispatch::relay` does per upstream read, without the network.
//!
//! Inputs (benches/fixtures/<kind>/stream.sse) are the same 55-token answer in each
//! provider's real stream shape, after shared/reference/providers.md: OpenAI's role
//! chunk, `obfuscation` padding and separate usage chunk; Anthropic's `message_start`,
//! `ping` and block events; Gemini's `\r\n\r\n` frames with `usageMetadata` on every
//! chunk; DeepSeek's `: keep-alive` and usage on the finish chunk; Qwen's key order and
//! usage chunk; Mistral's `p` padding. Every provider sends one token per event here
//! (the real Gemini API batches several), so the figures compare like with like.
//!
//! One iteration is one whole stream, fed one upstream event per read (what a
//! token-by-token stream delivers); it includes the per-stream set-up (decoder, encoder
//! with its id) and the `[DONE]` tail. Throughput counts upstream events, so criterion's
//! elements/s is the per-chunk cost. Budget: well under 2 µs per chunk.
//!
//! `client_encoder` (issue 24) isolates the last step per client API: the canonical
//! events of the OpenAI fixture, decoded once, written by the `ChunkEncoder` (OpenAI
//! chunks) and by the `MessagesEncoder` (Anthropic's event stream), one batch per
//! event as the relay hands them on.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard::canonical::{ChunkEncoder, StreamEvent, Usage};
use switchyard::config::ProviderKind;
use switchyard::inbound::messages::MessagesEncoder;

const STREAMS: [(ProviderKind, &[u8]); 6] = [
    (
        ProviderKind::Openai,
        include_bytes!("fixtures/openai/stream.sse"),
    ),
    (
        ProviderKind::Anthropic,
        include_bytes!("fixtures/anthropic/stream.sse"),
    ),
    (
        ProviderKind::Gemini,
        include_bytes!("fixtures/gemini/stream.sse"),
    ),
    (
        ProviderKind::Deepseek,
        include_bytes!("fixtures/deepseek/stream.sse"),
    ),
    (
        ProviderKind::Qwen,
        include_bytes!("fixtures/qwen/stream.sse"),
    ),
    (
        ProviderKind::Mistral,
        include_bytes!("fixtures/mistral/stream.sse"),
    ),
];

/// Splits a transcript after each blank line, one slice per upstream event.
fn events(transcript: &[u8]) -> Vec<&[u8]> {
    let sep: &[u8] = if transcript.windows(4).any(|w| w == b"\r\n\r\n") {
        b"\r\n\r\n"
    } else {
        b"\n\n"
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..transcript.len() {
        if transcript[i..].starts_with(sep) {
            out.push(&transcript[start..i + sep.len()]);
            start = i + sep.len();
        }
    }
    assert_eq!(start, transcript.len(), "transcript ends with a blank line");
    out
}

/// Relays one whole stream, showing each canonical event to `seen`; returns the client
/// bytes written.
fn relay(kind: ProviderKind, events: &[&[u8]], mut seen: impl FnMut(&StreamEvent)) -> usize {
    let mut decoder = kind.adapter().stream_decoder();
    let mut encoder = ChunkEncoder::new("bench-model", true);
    let mut pending = Vec::new();
    let mut written = 0;
    let mut encode = |pending: &mut Vec<StreamEvent>, out: &mut BytesMut| {
        for ev in pending.drain(..) {
            seen(&ev);
            encoder.push(&ev, out);
        }
    };
    for event in events {
        // A fresh buffer per read, frozen and handed on, as the relay does.
        let mut out = BytesMut::new();
        decoder.decode(event, &mut pending).expect("decodes");
        encode(&mut pending, &mut out);
        written += black_box(out.freeze()).len();
    }
    let mut out = BytesMut::new();
    decoder.finish(&mut pending).expect("stream finished");
    encode(&mut pending, &mut out);
    encoder.finish(Usage::default(), &mut out);
    written + black_box(out.freeze()).len()
}

fn decode_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse_relay");
    let mut answer: Option<String> = None;
    for (kind, transcript) in STREAMS {
        let events = events(transcript);
        // Every fixture carries the same answer; a decoder that drops or repeats a
        // fragment would make the timings meaningless.
        let mut text = String::new();
        let (mut finished, mut prompt_tokens) = (false, 0);
        relay(kind, &events, |ev| match ev {
            StreamEvent::Text(t) => text.push_str(t),
            StreamEvent::Finish(_) => finished = true,
            StreamEvent::Usage(u) => prompt_tokens = u.prompt_tokens,
            _ => {}
        });
        assert!(finished && prompt_tokens == 412, "{kind:?}");
        assert_eq!(
            text,
            *answer.get_or_insert_with(|| text.clone()),
            "{kind:?}"
        );
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(kind.as_str(), |b| {
            b.iter(|| relay(kind, black_box(&events), |_| {}))
        });
    }
    group.finish();
}

/// A client encoder, as `cache::client` drives one.
trait Encode {
    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut);
    fn finish(&mut self, out: &mut BytesMut);
}

impl Encode for ChunkEncoder {
    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        ChunkEncoder::push(self, ev, out);
    }
    fn finish(&mut self, out: &mut BytesMut) {
        ChunkEncoder::finish(self, Usage::default(), out);
    }
}

impl Encode for MessagesEncoder {
    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        MessagesEncoder::push(self, ev, out);
    }
    fn finish(&mut self, out: &mut BytesMut) {
        MessagesEncoder::finish(self, Usage::default(), out);
    }
}

/// Writes `events` as one client stream, one output buffer per event; returns the
/// bytes written.
fn encode_all(mut enc: impl Encode, events: &[StreamEvent]) -> usize {
    let mut written = 0;
    for ev in events {
        let mut out = BytesMut::new();
        enc.push(ev, &mut out);
        written += black_box(out.freeze()).len();
    }
    let mut out = BytesMut::new();
    enc.finish(&mut out);
    written + black_box(out.freeze()).len()
}

fn client_encoder(c: &mut Criterion) {
    let (kind, transcript) = STREAMS[0];
    let mut decoded = Vec::new();
    relay(kind, &events(transcript), |ev| decoded.push(ev.clone()));
    let mut group = c.benchmark_group("client_encoder");
    group.throughput(Throughput::Elements(decoded.len() as u64));
    group.bench_function("openai-chat", |b| {
        b.iter(|| encode_all(ChunkEncoder::new("bench-model", true), black_box(&decoded)))
    });
    group.bench_function("anthropic-messages", |b| {
        b.iter(|| {
            encode_all(
                MessagesEncoder::new("bench-model", 412),
                black_box(&decoded),
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short windows keep the six cases near 30 s. On a shared machine medians move
    // between runs far more than within one: compare several runs, not one figure.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots();
    targets = decode_encode, client_encoder
}
criterion_main!(benches);
