//! Request deduplication and response caching, in front of the dispatcher.
//!
//! [`Cache::serve`] wraps `Dispatcher::run_with`. Identical requests of one tenant
//! ([`key`]) that arrive while the first is being answered share its upstream call
//! ([`flight`]): a stream's canonical events are shared live, each client encoding
//! them with its own `ChunkEncoder` (own id, own `include_usage`), and a failure
//! reaches every waiter and is not kept. Finished answers of cacheable requests stay in
//! the [`store`] for their TTL, under a memory bound; a stream replays as a stream, and
//! a streamed answer can serve a non-stream client and vice versa ([`answer`]).
//! [`event_log`] keeps a flight's events compactly. [`outcome`] names what happened
//! (the `x-switchyard-cache` header) and prices a hit's saving for the usage ledger.
//! docs/caching.md is the operator's reference.

pub mod answer;
pub mod directive;
pub mod event_log;
pub mod flight;
pub mod key;
pub mod store;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::time::Instant;

use crate::canonical::stream::write_event;
use crate::canonical::{ChatRequest, ChatResponse, ChunkEncoder, ids};
use crate::config::{CacheConfig, CacheMode, Config, ModelConfig};
use crate::dispatch::{Answered, Dispatcher, Failed, Outcome, RunOptions};
use crate::error::GatewayError;
use crate::usage::Caller;
use crate::usage::{CacheStatus, Ticket};
use actix_web::ResponseError;
pub use directive::Directive;
use flight::{End, Flight, Head, Step, Subscription, Tee};
use key::{Key, Target};
pub use store::StoreStats;

/// SSE bytes for the HTTP layer.
pub type SseStream = Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>;

/// An answer ready to send.
pub enum Served {
    Complete(ChatResponse),
    Stream(SseStream),
}

/// What [`Cache::serve`] returns: the answer, who gave it, and what the cache did.
pub struct Reply {
    pub served: Served,
    /// On a hit `attempts` is 0: this request made no upstream attempt.
    pub answered: Answered,
    pub outcome: CacheStatus,
}

/// One request as the cache sees it.
pub struct Call<'a> {
    pub caller: &'a Caller,
    pub chat: ChatRequest,
    pub candidates: &'a [Arc<ModelConfig>],
    /// The route the planner resolved, if any.
    pub route: Option<&'a str>,
    /// The `x-switchyard-route` header, if any.
    pub route_header: Option<&'a str>,
    pub directive: Directive,
    /// The request's usage record, finished here (or by the stream it returns).
    pub ticket: Option<Ticket>,
    /// The client's deadline and latency budget, for the dispatcher.
    pub timeout: Option<Duration>,
    pub latency_budget: Option<Duration>,
}

/// Flights in progress and stored answers, under one mutex so that a request either
/// finds a flight or its stored answer, never neither in between. Held only for map
/// operations, never across an `.await`.
#[derive(Debug)]
struct State {
    flights: HashMap<Key, Arc<Flight>>,
    store: store::Store,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache and the single-flight table.
#[derive(Debug, Clone)]
pub struct Cache {
    /// Modes and TTLs, replaced by a config reload.
    settings: Arc<ArcSwap<Settings>>,
    shared: Arc<Shared>,
}

/// `[cache]` and every route's mode and TTL, resolved against it.
#[derive(Debug)]
struct Settings {
    config: CacheConfig,
    routes: HashMap<String, (CacheMode, Duration)>,
}

impl Settings {
    fn new(config: &Config) -> Self {
        let c = &config.cache;
        let routes = config
            .routes
            .iter()
            .map(|(name, r)| {
                let mode = r.cache.mode.unwrap_or(c.default_mode);
                (name.clone(), (mode, r.cache.ttl.unwrap_or(c.ttl)))
            })
            .collect();
        Self {
            config: c.clone(),
            routes,
        }
    }
}

impl Cache {
    /// A cache configured by `[cache]` and the routes' `cache` keys.
    pub fn new(config: &Config) -> Self {
        let c = &config.cache;
        Self {
            settings: Arc::new(ArcSwap::from_pointee(Settings::new(config))),
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    flights: HashMap::new(),
                    store: store::Store::new(c.max_bytes),
                }),
            }),
        }
    }

    /// The stored answers' counters.
    pub fn stats(&self) -> StoreStats {
        self.shared.lock().store.stats()
    }

    /// Takes a reloaded config's `[cache]` and route cache settings (all but
    /// `max_bytes`, which sizes the store and needs a restart). Stored answers stay.
    pub fn reconfigure(&self, config: &Config) {
        self.settings.store(Arc::new(Settings::new(config)));
    }

    fn mode(&self, route: Option<&str>) -> (CacheMode, Duration) {
        let s = self.settings.load();
        if !s.config.enabled {
            return (CacheMode::Off, s.config.ttl);
        }
        route
            .and_then(|r| s.routes.get(r).copied())
            .unwrap_or((s.config.default_mode, s.config.ttl))
    }

    /// Answers `call`: from the cache, by joining an identical request in flight, or by
    /// running the dispatcher (shared with whoever joins meanwhile).
    pub async fn serve(&self, dispatcher: &Dispatcher, call: Call<'_>) -> Result<Reply, Failed> {
        let (mode, ttl) = self.mode(call.route);
        let mut ticket = call.ticket;
        if mode == CacheMode::Off || call.directive == Directive::Bypass {
            crate::metrics::record_cache_event(CacheStatus::Bypass.as_str());
            let opts = RunOptions {
                route: call.route,
                timeout: call.timeout,
                latency_budget: call.latency_budget,
            };
            if let Some(t) = ticket.as_mut() {
                t.set_cache(CacheStatus::Bypass);
            }
            // Boxed: inline, the dispatcher's state (2 KiB) would make every request's
            // handler future that much larger, also on the cache path, which never
            // runs it here.
            let ran = Box::pin(dispatcher.run_with(&call.chat, call.candidates, opts)).await;
            let (outcome, answered) = match ran {
                Ok(done) => done,
                Err(f) => return Err(fail_ticket(ticket, f)),
            };
            if let Some(t) = ticket.as_mut() {
                t.set_answered(&answered.model, answered.attempts);
            }
            let served = match outcome {
                Outcome::Complete(r) => {
                    if let Some(t) = ticket.take() {
                        t.finish(&r.usage, 200, None);
                    }
                    Served::Complete(r)
                }
                Outcome::Stream(relay) => Served::Stream(Box::pin(
                    relay
                        .with_tenant(call.caller.tenant.clone())
                        .with_usage(ticket)
                        .into_sse(),
                )),
            };
            return Ok(Reply {
                served,
                answered,
                outcome: CacheStatus::Bypass,
            });
        }
        // Deterministic requests only, unless the client opts in (docs/caching.md).
        let cacheable = mode == CacheMode::Cache
            && (call.directive == Directive::Use || call.chat.temperature == Some(0.0));
        let target = Target {
            model: &call.chat.model,
            route_header: call.route_header,
            route: call.route,
        };
        let key = Key::new(&call.caller.tenant, target, &call.chat);
        let (mut sub, outcome, lead) = {
            let mut st = self.shared.lock();
            let stored = if cacheable {
                st.store.get(&key, Instant::now())
            } else {
                None
            };
            if let Some(f) = stored {
                (f.subscribe(false), CacheStatus::Hit, None)
            } else if let Some(f) = st.flights.get(&key) {
                if cacheable {
                    f.allow_store();
                }
                (f.subscribe(true), CacheStatus::Coalesced, None)
            } else {
                let f = Arc::new(Flight::new(cacheable));
                st.flights.insert(key.clone(), f.clone());
                (f.subscribe(false), CacheStatus::Miss, Some(f))
            }
        };
        crate::metrics::record_cache_event(outcome.as_str());
        let stream = call.chat.stream;
        let include_usage = call.chat.include_usage();
        if let Some(flight) = lead {
            let job = Job {
                entry: Entry {
                    shared: self.shared.clone(),
                    key,
                    flight,
                    ttl,
                },
                call: Box::new(Upcall {
                    dispatcher: dispatcher.clone(),
                    chat: call.chat,
                    candidates: call.candidates.to_vec(),
                    route: call.route.map(str::to_owned),
                    timeout: call.timeout,
                    latency_budget: call.latency_budget,
                }),
                tenant: call.caller.tenant.clone(),
            };
            actix_web::rt::spawn(job.run());
        }
        let status = outcome;
        let (served, head) = if stream {
            let head = match sub.head().await {
                Ok(h) => h,
                Err(f) => return Err(fail_ticket(ticket, f)),
            };
            let record = ticket.map(|t| Record {
                ticket: t,
                status,
                head: head.clone(),
            });
            let sse = sse(
                sub,
                ChunkEncoder::new(&head.model.name, include_usage),
                record,
            );
            (Served::Stream(Box::pin(sse)), head)
        } else {
            let (head, events, end) = match sub.complete().await {
                Ok(done) => done,
                Err(f) => return Err(fail_ticket(ticket, f)),
            };
            let r = complete(&head, &events, end, outcome == CacheStatus::Miss);
            if let Some(t) = ticket {
                Record {
                    ticket: t,
                    status,
                    head: head.clone(),
                }
                .finish(&r.usage);
            }
            (Served::Complete(r), head)
        };
        Ok(Reply {
            served,
            answered: Answered {
                attempts: if outcome == CacheStatus::Hit {
                    0
                } else {
                    head.attempts
                },
                model: head.model,
            },
            outcome,
        })
    }
}

/// A non-stream answer from a finished flight. The request that ran the flight
/// (`lead`) gets the completion as the dispatcher made it; a coalesced or replayed
/// answer gets an id and timestamp of its own.
fn complete(
    head: &Head,
    events: &[crate::canonical::StreamEvent],
    end: End,
    lead: bool,
) -> ChatResponse {
    let mut made = None;
    let (message, finish_reason, usage) = match end {
        End::Done {
            complete: Some(r), ..
        } => {
            if lead {
                made = Some((r.id.clone(), r.created));
            }
            (r.message.clone(), r.finish_reason, r.usage)
        }
        End::Done { usage, .. } => answer::assemble(events, usage),
        // `Subscription::complete` turns failures into errors before this point.
        End::Failed(_) => answer::assemble(events, crate::canonical::Usage::default()),
    };
    let (id, created) = made.unwrap_or_else(|| (ids::completion_id(), ids::unix_now()));
    ChatResponse {
        id,
        created,
        model: head.model.name.clone(),
        message,
        finish_reason,
        usage,
    }
}

/// One client's SSE: the flight's events through the client's own encoder.
fn sse(
    sub: Subscription,
    encoder: ChunkEncoder,
    record: Option<Record>,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some((sub, encoder, record)), |state| async move {
        let (mut sub, mut enc, record) = state?;
        let mut out = BytesMut::new();
        match sub.next().await? {
            Step::Events(events) => {
                out.reserve(events.len() * ChunkEncoder::BYTES_PER_EVENT_HINT);
                for ev in &events {
                    enc.push(ev, &mut out);
                }
                Some((Ok(out.freeze()), Some((sub, enc, record))))
            }
            Step::End(End::Done { usage, complete }) => {
                if let Some(r) = complete {
                    for ev in &answer::disassemble(&r) {
                        enc.push(ev, &mut out);
                    }
                }
                enc.finish(usage, &mut out);
                if let Some(rec) = record {
                    rec.finish(&enc.usage().unwrap_or(usage));
                }
                Some((Ok(out.freeze()), None))
            }
            Step::End(End::Failed(f)) => {
                write_event(&mut out, &f.error.body());
                if let Some(rec) = record {
                    rec.ticket
                        .failed(f.error.status_code().as_u16(), f.attempts);
                }
                Some((Ok(out.freeze()), None))
            }
        }
    })
}

/// A client's usage ticket and how the cache answered it. Dropped unfinished (the
/// client hung up), the ticket records the request as closed by the client.
struct Record {
    ticket: Ticket,
    status: CacheStatus,
    head: Head,
}

impl Record {
    /// A miss pays the provider; a hit or a coalesced answer records zero provider
    /// cost and the cost it saved.
    fn finish(mut self, usage: &crate::canonical::Usage) {
        if self.status == CacheStatus::Miss {
            self.ticket
                .set_answered(&self.head.model, self.head.attempts);
            self.ticket.set_cache(CacheStatus::Miss);
            self.ticket.finish(usage, 200, None);
        } else {
            self.ticket.cache_hit(&self.head.model, usage, self.status);
        }
    }
}

/// Records a failed request on its ticket and passes the failure on.
fn fail_ticket(ticket: Option<Ticket>, f: Failed) -> Failed {
    if let Some(t) = ticket {
        t.failed(f.error.status_code().as_u16(), f.attempts);
    }
    f
}

/// The upstream call of a flight, run in its own task so that it does not depend on
/// any one client staying connected; it stops when every client has left.
struct Job {
    entry: Entry,
    /// Boxed: a task holds its arguments for its whole life.
    call: Box<Upcall>,
    /// Whose cost the upstream call is.
    tenant: Arc<str>,
}

/// A flight's place in the single-flight table, kept for the flight's whole life.
struct Entry {
    shared: Arc<Shared>,
    key: Key,
    flight: Arc<Flight>,
    ttl: Duration,
}

/// What the dispatcher needs to answer a flight, freed as soon as it has answered.
struct Upcall {
    dispatcher: Dispatcher,
    chat: ChatRequest,
    candidates: Vec<Arc<ModelConfig>>,
    route: Option<String>,
    timeout: Option<Duration>,
    latency_budget: Option<Duration>,
}

impl Upcall {
    async fn run(self: Box<Self>) -> Result<(Outcome, Answered), Failed> {
        let opts = RunOptions {
            route: self.route.as_deref(),
            timeout: self.timeout,
            latency_budget: self.latency_budget,
        };
        self.dispatcher
            .run_with(&self.chat, &self.candidates, opts)
            .await
    }
}

impl Job {
    async fn run(self) {
        let Job {
            entry,
            call,
            tenant,
        } = self;
        let deserted = entry.deserted();
        tokio::pin!(deserted);
        let flight = &entry.flight;
        // A task keeps the size of its largest state for its whole life, and the
        // dispatcher's is by far the largest (2 KiB). Boxed, it is freed together with
        // the request once the upstream has answered, while a stream may go on for
        // minutes; the block ends the answer's own storage before the relay loop.
        let relay = {
            let ran = tokio::select! {
                r = Box::pin(call.run()) => Some(r),
                () = &mut deserted => None,
            };
            match ran {
                None => None,
                Some(Err(failed)) => {
                    flight.finish(End::Failed(failed));
                    None
                }
                Some(Ok((Outcome::Complete(r), answered))) => {
                    flight.set_head(head(answered));
                    flight.finish(End::Done {
                        usage: r.usage,
                        complete: Some(Arc::new(r)),
                    });
                    None
                }
                Some(Ok((Outcome::Stream(relay), answered))) => {
                    let tee = Tee {
                        flight: flight.clone(),
                        attempts: answered.attempts,
                    };
                    flight.set_head(head(answered));
                    // Every client encodes the teed events itself; driving the relay
                    // is what reads the upstream.
                    Some(relay.with_tenant(tenant).drive(Box::new(tee)))
                }
            }
        };
        if let Some(relay) = relay {
            tokio::select! {
                () = relay => {}
                () = &mut deserted => {}
            }
        }
        // Ends the flight if nothing else did (every client left).
        flight.finish(End::Failed(Failed {
            error: GatewayError::Internal,
            attempts: 0,
        }));
        entry.settle();
    }
}

impl Entry {
    /// Resolves when the last client has left, removing the flight from the table in
    /// the same critical section in which joiners subscribe, so no one joins a flight
    /// that is being abandoned.
    async fn deserted(&self) {
        loop {
            self.flight.deserted().await;
            let mut st = self.shared.lock();
            if self.flight.subscribers() == 0 {
                if st
                    .flights
                    .get(&self.key)
                    .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
                {
                    st.flights.remove(&self.key);
                }
                return;
            }
        }
    }

    /// Moves the finished flight from the table into the store (if it succeeded and
    /// may be kept), atomically for anyone looking it up.
    fn settle(&self) {
        let keep = self.flight.storable() && self.flight.done().is_some();
        let bytes = self.flight.bytes();
        let mut st = self.shared.lock();
        if st
            .flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            st.flights.remove(&self.key);
        }
        if keep {
            let evicted = st.store.insert(
                self.key.clone(),
                self.flight.clone(),
                bytes,
                Instant::now() + self.ttl,
            );
            drop(st);
            crate::metrics::record_cache_evictions(evicted);
        }
    }
}

fn head(a: Answered) -> Head {
    Head {
        model: a.model,
        attempts: a.attempts,
    }
}
