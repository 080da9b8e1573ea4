//! What every simulated format's answer shares: the knobs' timing (the head delay,
//! time to first token, per-event delay, the whole generation time of a non-stream
//! answer), token batching, the SSE body that counts clients going away early, the
//! HTML page `garbage` answers with, and setting a list of headers on an answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use futures_util::stream;

use super::brain::Answer;
use super::{Knobs, MockProvider};

/// The delay before the head: latency plus jitter.
pub fn head_delay(k: &Knobs) -> Duration {
    let jitter = if k.jitter_ms > 0 {
        rand::random_range(0..=k.jitter_ms)
    } else {
        0
    };
    Duration::from_millis(k.latency_ms + jitter)
}

/// Waits `d`, returning at once when it is zero: tokio's timer rounds every sleep up to
/// its next 1 ms tick, so `sleep(ZERO)` would make a zero-latency mock answer in ~1 ms
/// and flatter every overhead measured against it.
pub async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// The whole generation time of a non-stream answer of `events` stream events.
pub fn total_delay(k: &Knobs, events: usize) -> Duration {
    head_delay(k) + Duration::from_millis(k.ttft_ms + k.token_delay_ms * events as u64)
}

/// Waits as long as generating all of `a` takes, for a non-stream answer.
pub async fn pause_whole(k: &Knobs, a: &Answer) {
    let events = a.tokens.len().div_ceil(k.tokens_per_event.max(1));
    pause(total_delay(k, events)).await;
}

/// A 200 that is not the provider's format (`garbage`): a proxy's HTML error page.
pub fn garbage() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html")
        .body("<html><body><h1>502 Bad Gateway</h1></body></html>")
}

/// Sets `(name, value)` headers on an answer; a value that is no valid header is skipped.
pub fn insert_headers(
    resp: &mut HttpResponse,
    pairs: impl IntoIterator<Item = (&'static str, String)>,
) {
    let headers = resp.headers_mut();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// Groups tokens into stream events of `tokens_per_event`.
pub fn batch(tokens: &[String], per_event: usize) -> Vec<String> {
    tokens
        .chunks(per_event.max(1))
        .map(|c| c.concat())
        .collect()
}

/// Streams pre-rendered SSE events with the knobs' timing. The first event goes out
/// after `ttft_ms`, the rest `token_delay_ms` apart; `cut_stream` drops the second half
/// (and the terminator). A client that goes away early is counted as a disconnect.
pub fn sse_response(
    provider: Arc<MockProvider>,
    k: &Knobs,
    mut events: Vec<Bytes>,
) -> HttpResponse {
    if k.cut_stream {
        events.truncate(events.len() / 2);
    }
    let ttft = Duration::from_millis(k.ttft_ms);
    let gap = Duration::from_millis(k.token_delay_ms);
    let guard = DisconnectGuard {
        provider,
        completed: false,
    };
    let body = stream::unfold(
        (events.into_iter(), 0usize, guard),
        move |(mut it, i, mut guard)| async move {
            let Some(ev) = it.next() else {
                guard.complete();
                return None;
            };
            let wait = if i == 0 { ttft } else { gap };
            pause(wait).await;
            Some((Ok::<_, actix_web::Error>(ev), (it, i + 1, guard)))
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}

struct DisconnectGuard {
    provider: Arc<MockProvider>,
    completed: bool,
}

impl DisconnectGuard {
    fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if !self.completed {
            self.provider
                .counters
                .disconnects
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}
