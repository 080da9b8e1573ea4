//! Re-chunking on paused time: the window, the split, and what is never delayed.

use std::time::Duration;

use tokio::time::{Instant, advance};

use super::*;
use crate::canonical::{FinishReason, Usage};
use crate::config::rechunk::{DEFAULT_COALESCE_MS, DEFAULT_MAX_CHUNK_CHARS};

fn config(coalesce_ms: u64, max_chunk_chars: usize) -> RechunkConfig {
    RechunkConfig {
        coalesce: Duration::from_millis(coalesce_ms),
        max_chunk_chars,
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::Text(t.to_owned())
}

/// Pushes `events` at the current (paused) time and returns what went out.
fn push_all(r: &mut Rechunker, events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    for e in events {
        r.push(e.clone(), Instant::now(), &mut out);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_first_delta_goes_out_at_once_and_later_ones_wait_for_the_window() {
    let mut r = Rechunker::new(config(20, 200));
    assert_eq!(push_all(&mut r, &[text("He")]), [text("He")]);
    assert_eq!(r.deadline(), None, "nothing held");

    let start = Instant::now();
    assert!(push_all(&mut r, &[text("llo"), text(" wor")]).is_empty());
    assert_eq!(r.deadline(), Some(start + Duration::from_millis(20)));

    advance(Duration::from_millis(19)).await;
    let mut out = Vec::new();
    r.flush_due(Instant::now(), &mut out);
    assert!(out.is_empty(), "still inside the window");
    assert!(push_all(&mut r, &[text("ld")]).is_empty());

    advance(Duration::from_millis(1)).await;
    r.flush_due(Instant::now(), &mut out);
    assert_eq!(out, [text("llo world")]);
    assert_eq!(r.deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn a_delta_arriving_after_the_window_flushes_what_was_held() {
    let mut r = Rechunker::new(config(20, 200));
    push_all(&mut r, &[text("a")]);
    assert!(push_all(&mut r, &[text("b")]).is_empty());
    advance(Duration::from_millis(25)).await;
    // The relay missed the deadline (busy): the next delta still cannot wait longer.
    assert_eq!(push_all(&mut r, &[text("c")]), [text("bc")]);
}

#[tokio::test(start_paused = true)]
async fn long_deltas_are_split_on_character_boundaries() {
    let mut r = Rechunker::new(config(20, 3));
    assert_eq!(
        push_all(&mut r, &[text("héllo中")]),
        [text("hél"), text("lo中")],
        "the first delta is split but not held"
    );
    // Later: full pieces go at once, the short rest waits for the window.
    assert_eq!(
        push_all(&mut r, &[text("abcdefg")]),
        [text("abc"), text("def")]
    );
    let mut out = Vec::new();
    r.flush(&mut out);
    assert_eq!(out, [text("g")]);
    // Exactly one full piece held is sent too.
    assert_eq!(push_all(&mut r, &[text("x"), text("yz")]), [text("xyz")]);
    assert_eq!(r.deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn finish_and_usage_are_never_delayed_and_follow_the_held_text() {
    let mut r = Rechunker::new(config(1000, 200));
    let usage = StreamEvent::Usage(Usage {
        prompt_tokens: 1,
        completion_tokens: 2,
        ..Usage::default()
    });
    let finish = StreamEvent::Finish(FinishReason::Stop);
    let out = push_all(
        &mut r,
        &[
            text("a"),
            text("b"),
            text("c"),
            finish.clone(),
            usage.clone(),
        ],
    );
    assert_eq!(out, [text("a"), text("bc"), finish, usage]);
    assert_eq!(r.deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn tool_call_deltas_pass_unchanged_after_the_held_text() {
    let mut r = Rechunker::new(config(1000, 2));
    let start = StreamEvent::ToolCallStart {
        index: 0,
        id: "call_1".into(),
        name: "get_weather".into(),
    };
    let args = StreamEvent::ToolCallArgs {
        index: 0,
        arguments: "{\"city\": \"Paris, the long way round\"}".into(),
    };
    let out = push_all(
        &mut r,
        &[
            text("a"),
            text("b"),
            start.clone(),
            args.clone(),
            args.clone(),
        ],
    );
    assert_eq!(out, [text("a"), text("b"), start, args.clone(), args]);
}

#[tokio::test(start_paused = true)]
async fn answer_and_reasoning_are_never_joined() {
    let mut r = Rechunker::new(config(1000, 200));
    let think = |t: &str| StreamEvent::Reasoning(t.to_owned());
    let mut out = push_all(
        &mut r,
        &[think("x"), think("y"), think("z"), text("a"), text("b")],
    );
    r.flush(&mut out);
    assert_eq!(out, [think("x"), think("yz"), text("ab")]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_window_only_splits() {
    let mut r = Rechunker::new(config(0, 4));
    let out = push_all(&mut r, &[text("a"), text("b"), text("cdefgh")]);
    assert_eq!(out, [text("a"), text("b"), text("cdef"), text("gh")]);
    assert_eq!(r.deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn text_survives_any_window_and_size() {
    let deltas = [
        "Hel",
        "lo",
        ", ",
        "wörld",
        "",
        "! ",
        "中文",
        "abcdefghijklmnop",
        ".",
    ];
    let whole: String = deltas.concat();
    for (coalesce_ms, max) in [(0, 1), (5, 2), (20, 3), (20, 200), (1000, 7)] {
        let mut r = Rechunker::new(config(coalesce_ms, max));
        let mut out = Vec::new();
        for d in deltas {
            r.push(text(d), Instant::now(), &mut out);
            advance(Duration::from_millis(3)).await;
            r.flush_due(Instant::now(), &mut out);
        }
        r.flush(&mut out);
        let mut joined = String::new();
        for e in &out {
            let StreamEvent::Text(t) = e else {
                panic!("only text expected: {e:?}");
            };
            assert!(!t.is_empty() && t.chars().count() <= max, "{t:?} > {max}");
            joined.push_str(t);
        }
        assert_eq!(joined, whole, "coalesce {coalesce_ms} ms, max {max}");
    }
}

#[test]
fn defaults_are_documented_values() {
    let d = RechunkConfig::default();
    assert_eq!(d.coalesce, Duration::from_millis(DEFAULT_COALESCE_MS));
    assert_eq!(d.max_chunk_chars, DEFAULT_MAX_CHUNK_CHARS);
}
