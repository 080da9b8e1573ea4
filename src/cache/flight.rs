//! One upstream call shared by every client asking the same thing (single-flight).
//!
//! A [`Flight`] is an append-only log: who answered ([`Head`]), the canonical events
//! so far (kept compactly, [`EventLog`]), and how it ended ([`End`]). One task writes
//! it (the flight's upstream task, `Job::run` in `super`); any number of
//! [`Subscription`]s read it from the start at their own pace, so a late joiner gets
//! what was already sent, then the rest live. A finished flight is immutable, which is
//! what the response cache stores: a hit is a subscription to a finished flight.
//!
//! The log sits behind a mutex held only to append or to copy a slice out, never across
//! an `.await`; readers wait on a `watch` channel that the writer bumps after each
//! append, marking it seen before reading so no append is missed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, watch};

use super::answer;
use super::event_log::EventLog;
use crate::canonical::{ChatResponse, StreamEvent, Usage};
use crate::config::ModelConfig;
use crate::dispatch::{EventSink, Failed};
use crate::error::{GatewayError, UpstreamError};

/// Who answered.
#[derive(Debug, Clone)]
pub struct Head {
    pub model: Arc<ModelConfig>,
    /// Upstream attempts the answer took.
    pub attempts: u32,
}

/// How a flight ended.
#[derive(Debug, Clone)]
pub enum End {
    /// Complete. `complete` is the answer when it came back whole (non-stream); the
    /// events are then empty.
    Done {
        usage: Usage,
        complete: Option<Arc<ChatResponse>>,
    },
    /// Failed: every client gets this error (as a status, or as an error event when its
    /// stream had started). Failed flights are never stored.
    Failed(Failed),
}

#[derive(Debug, Default)]
struct Log {
    head: Option<Head>,
    events: EventLog,
    end: Option<End>,
}

/// A shared answer in progress, or finished.
#[derive(Debug)]
pub struct Flight {
    log: Mutex<Log>,
    version: watch::Sender<u64>,
    subscribers: AtomicUsize,
    /// Signalled when the last subscriber leaves.
    deserted: Notify,
    /// Whether any client of this flight may have the answer stored.
    storable: AtomicBool,
}

impl Flight {
    /// An empty flight; `storable` if its first client's answer may be cached.
    pub fn new(storable: bool) -> Self {
        Self {
            log: Mutex::default(),
            version: watch::Sender::new(0),
            subscribers: AtomicUsize::new(0),
            deserted: Notify::new(),
            storable: AtomicBool::new(storable),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, f: impl FnOnce(&mut Log)) {
        {
            let mut log = self.log();
            if log.end.is_some() {
                return;
            }
            f(&mut log);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Records who answered; the stream may start.
    pub fn set_head(&self, head: Head) {
        self.append(|log| log.head = Some(head));
    }

    /// Appends one event.
    pub fn push(&self, event: StreamEvent) {
        self.append(|log| log.events.push(event));
    }

    /// Ends the flight; later calls (and appends) are ignored.
    pub fn finish(&self, end: End) {
        self.append(|log| log.end = Some(end));
    }

    /// The answer's usage and model, once it is complete.
    pub fn done(&self) -> Option<(Head, Usage)> {
        let log = self.log();
        match (&log.head, &log.end) {
            (Some(h), Some(End::Done { usage, .. })) => Some((h.clone(), *usage)),
            _ => None,
        }
    }

    /// Bytes the finished answer holds (what the cache's memory bound counts).
    pub fn bytes(&self) -> usize {
        let log = self.log();
        let complete = match &log.end {
            Some(End::Done {
                complete: Some(r), ..
            }) => answer::response_bytes(r),
            _ => 0,
        };
        std::mem::size_of::<Self>() + log.events.bytes() + complete
    }

    /// Marks the answer storable (a cacheable client joined).
    pub fn allow_store(&self) {
        self.storable.store(true, Ordering::Relaxed);
    }

    /// Whether the answer may be stored.
    pub fn storable(&self) -> bool {
        self.storable.load(Ordering::Relaxed)
    }

    /// Current subscribers.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }

    /// Resolves once the last subscriber has left (possibly already).
    pub async fn deserted(&self) {
        self.deserted.notified().await;
    }

    /// A reader from the start of the log. `coalesced` readers are counted in the
    /// coalesced-waiters gauge while they live.
    pub fn subscribe(self: &Arc<Self>, coalesced: bool) -> Subscription {
        self.subscribers.fetch_add(1, Ordering::AcqRel);
        if coalesced {
            crate::metrics::record_cache_waiters(1.0);
        }
        Subscription {
            flight: self.clone(),
            seen: self.version.subscribe(),
            cursor: 0,
            ended: false,
            coalesced,
        }
    }
}

/// What a subscription reads next.
#[derive(Debug)]
pub enum Next {
    /// Events not yet seen by this reader.
    Events(Vec<StreamEvent>),
    /// The end, once.
    End(End),
}

/// One client's reader of a flight.
#[derive(Debug)]
pub struct Subscription {
    flight: Arc<Flight>,
    seen: watch::Receiver<u64>,
    cursor: usize,
    ended: bool,
    coalesced: bool,
}

impl Subscription {
    /// Waits until `ready` finds what it looks for in the log.
    async fn wait<T>(&mut self, mut ready: impl FnMut(&mut Self, &Log) -> Option<T>) -> T {
        loop {
            self.seen.borrow_and_update();
            {
                let flight = self.flight.clone();
                let log = flight.log();
                if let Some(v) = ready(self, &log) {
                    return v;
                }
            }
            if self.seen.changed().await.is_err() {
                // The sender lives as long as the flight, which this reader holds.
                self.flight.finish(End::Failed(internal()));
            }
        }
    }

    /// Who answered, once known; the error if the flight failed before that.
    pub async fn head(&mut self) -> Result<Head, Failed> {
        self.wait(|_, log| match (&log.head, &log.end) {
            (Some(h), _) => Some(Ok(h.clone())),
            (None, Some(End::Failed(f))) => Some(Err(f.clone())),
            (None, Some(End::Done { .. })) => Some(Err(internal())),
            (None, None) => None,
        })
        .await
    }

    /// The whole answer: who answered, the events, and the end.
    pub async fn complete(&mut self) -> Result<(Head, Vec<StreamEvent>, End), Failed> {
        self.wait(|_, log| match (&log.head, &log.end) {
            (_, Some(End::Failed(f))) => Some(Err(f.clone())),
            (Some(h), Some(end)) => Some(Ok((h.clone(), log.events.to_vec(), end.clone()))),
            (None, Some(End::Done { .. })) => Some(Err(internal())),
            (_, None) => None,
        })
        .await
    }

    /// The next events, then the end, then `None`.
    pub async fn next(&mut self) -> Option<Next> {
        if self.ended {
            return None;
        }
        let step = self
            .wait(|me, log| {
                if me.cursor < log.events.len() {
                    let new = log.events.read_from(me.cursor);
                    me.cursor = log.events.len();
                    Some(Next::Events(new))
                } else {
                    log.end.clone().map(Next::End)
                }
            })
            .await;
        self.ended = matches!(step, Next::End(_));
        Some(step)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.coalesced {
            crate::metrics::record_cache_waiters(-1.0);
        }
        if self.flight.subscribers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // `notify_one` keeps a permit when nobody waits yet, so the writer sees it.
            self.flight.deserted.notify_one();
        }
    }
}

fn internal() -> Failed {
    Failed {
        error: GatewayError::Internal,
        attempts: 0,
    }
}

/// The relay's tee into a flight.
#[derive(Debug)]
pub struct Tee {
    pub flight: Arc<Flight>,
    pub attempts: u32,
}

impl EventSink for Tee {
    fn event(&mut self, event: &StreamEvent) {
        self.flight.push(event.clone());
    }

    fn end(&mut self, result: Result<Usage, &UpstreamError>) {
        self.flight.finish(match result {
            Ok(usage) => End::Done {
                usage,
                complete: None,
            },
            Err(e) => End::Failed(Failed {
                error: GatewayError::Upstream(e.clone()),
                attempts: self.attempts,
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::FinishReason;
    use crate::config::ProviderKind;

    fn head() -> Head {
        Head {
            model: Arc::new(ModelConfig::standalone(
                ProviderKind::Openai,
                "http://x",
                "m",
                16,
            )),
            attempts: 1,
        }
    }

    async fn read_all(mut sub: Subscription) -> (Vec<StreamEvent>, Option<End>) {
        let mut events = Vec::new();
        let mut end = None;
        while let Some(step) = sub.next().await {
            match step {
                Next::Events(e) => events.extend(e),
                Next::End(e) => end = Some(e),
            }
        }
        (events, end)
    }

    #[tokio::test]
    async fn early_and_late_readers_see_the_whole_log() {
        let flight = Arc::new(Flight::new(true));
        let early = tokio::spawn(read_all(flight.subscribe(false)));
        flight.set_head(head());
        flight.push(StreamEvent::Text("a".into()));
        let late = flight.subscribe(true);
        flight.push(StreamEvent::Text("b".into()));
        flight.push(StreamEvent::Finish(FinishReason::Stop));
        flight.finish(End::Done {
            usage: Usage::default(),
            complete: None,
        });
        let late = read_all(late).await;
        let early = early.await.unwrap();
        for (events, end) in [early, late] {
            assert_eq!(events.len(), 3);
            assert!(matches!(end, Some(End::Done { .. })));
        }
        assert_eq!(flight.subscribers(), 0);
    }

    #[tokio::test]
    async fn a_failure_before_the_head_reaches_every_waiter() {
        let flight = Arc::new(Flight::new(true));
        let mut a = flight.subscribe(false);
        let mut b = flight.subscribe(true);
        flight.finish(End::Failed(internal()));
        assert!(a.head().await.is_err());
        assert!(b.complete().await.is_err());
    }

    #[tokio::test]
    async fn the_last_reader_leaving_deserts_the_flight() {
        let flight = Arc::new(Flight::new(false));
        let a = flight.subscribe(false);
        let b = flight.subscribe(false);
        drop(a);
        assert_eq!(flight.subscribers(), 1);
        drop(b);
        flight.deserted().await;
    }
}
