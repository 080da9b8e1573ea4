//! `[streaming.rechunk]` end to end: the same token-per-event stream relayed as the
//! provider sent it (off, the default) and re-chunked (on): fewer, larger chunks, the
//! same text, finish and usage; and a one-event answer split into small chunks.

mod common;

use common::{Stream, TestEnv, demo_config, edit_config, user_says};
use serde_json::{Value, json};

const MODEL: &str = "gpt-4o-mini";
const PROMPT: &str = "Tell the streaming test suite a story about many small tokens arriving";

/// The demo config with `[streaming.rechunk]` set to these values.
fn rechunk_config(coalesce_ms: i64, max_chunk_chars: i64) -> String {
    edit_config(demo_config(), |t| {
        let mut rechunk = toml::Table::new();
        rechunk.insert("coalesce_ms".into(), coalesce_ms.into());
        rechunk.insert("max_chunk_chars".into(), max_chunk_chars.into());
        common::set(t, "streaming", "rechunk", rechunk);
    })
}

/// The non-empty `delta.content` pieces of a stream, in order.
fn content_chunks(s: &Stream) -> Vec<String> {
    s.chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn stream_once(env: &TestEnv) -> Stream {
    let mut body = user_says(MODEL, PROMPT);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let s = env.chat_stream(body).await;
    assert_eq!(s.status, 200, "{}", s.raw);
    assert!(s.saw_done, "{}", s.raw);
    s
}

#[actix_web::test]
async fn token_per_event_streams_arrive_in_fewer_larger_chunks_with_the_same_text() {
    let off = TestEnv::start(demo_config()).await;
    let plain = stream_once(&off).await;
    let plain_chunks = content_chunks(&plain);
    let words = plain.text().split(' ').count();
    assert_eq!(
        plain_chunks.len(),
        words,
        "off: one chunk per token, as sent"
    );

    // A window far longer than the whole stream takes: everything after the first
    // token is joined, and the finish flushes it (it is never held for the window).
    let on = TestEnv::start(&rechunk_config(1000, 200)).await;
    let joined = stream_once(&on).await;
    let joined_chunks = content_chunks(&joined);
    assert_eq!(joined.text(), plain.text(), "the same text either way");
    assert!(
        joined_chunks.len() < plain_chunks.len() / 2,
        "fewer chunks: {joined_chunks:?}"
    );
    assert_eq!(
        joined_chunks[0], plain_chunks[0],
        "the first token is not held"
    );
    let longest = |c: &[String]| c.iter().map(String::len).max().unwrap_or(0);
    assert!(longest(&joined_chunks) > longest(&plain_chunks));

    assert_eq!(joined.finish_reasons(), plain.finish_reasons());
    let usage = |s: &Stream| s.chunks.last().expect("usage chunk")["usage"].clone();
    assert_eq!(usage(&joined), usage(&plain));
    assert_eq!(
        joined.chunks[0]["choices"][0]["delta"]["role"], "assistant",
        "the stream shape is unchanged"
    );
}

#[actix_web::test]
async fn a_whole_answer_in_one_event_is_split() {
    let env = TestEnv::start(&rechunk_config(20, 8)).await;
    env.mock_patch("openai", json!({"tokens_per_event": 1000}))
        .await;
    let s = stream_once(&env).await;
    let chunks = content_chunks(&s);
    assert_eq!(s.text(), format!("Hello from {MODEL}. You said: {PROMPT}"));
    assert!(chunks.len() >= s.text().chars().count() / 8, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.chars().count() <= 8), "{chunks:?}");
    assert_eq!(s.finish_reasons(), ["stop"]);
}
