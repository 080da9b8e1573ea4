//! Request deduplication and response caching, in front of the dispatcher.
//!
//! [`Cache::serve`] wraps `Dispatcher::run_with`. Identical requests of one tenant
//! ([`key`]) that arrive while the first is being answered share its upstream call
//! ([`flight`]): a stream's canonical events are shared live, each client encoding
//! them with its own `ChunkEncoder` (own id, own `include_usage`), and a failure
//! reaches every waiter and is not kept. Finished answers of cacheable requests stay in
//! the [`store`] for their TTL, under a memory bound; a stream replays as a stream, and
//! a streamed answer can serve a non-stream client and vice versa ([`answer`]).
//! [`event_log`] keeps a flight's events compactly; `job` runs a flight's upstream
//! call in its own task. Every client stream, shared or not, is written by one
//! [`client::ClientStream`], which also finishes the client's usage ticket.
//! [`directive`] is what the client asked of the cache; [`shutdown`] ends every open
//! client stream with an error event when the gateway stops.
//!
//! Deadlines (`x-switchyard-timeout-ms`) are each request's own: a flight's upstream
//! call runs under the route's cap, and every client waits for its answer (for a
//! stream, its first event) only until its own deadline, then leaves the flight with a
//! 504. The flight goes on while anyone still waits and stops when the last one has
//! left, so the first client's deadline never cuts off those that joined it.
//! docs/caching.md is the operator's reference.

pub mod answer;
pub mod client;
pub mod directive;
pub mod event_log;
pub mod flight;
mod job;
pub mod key;
pub mod shutdown;
pub mod store;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::Instant;

use crate::canonical::{ChatRequest, ChatResponse, StreamEvent, Usage, ids};
use crate::config::{CacheConfig, CacheMode, Config, ModelConfig};
use crate::dispatch::relay::RelayStream;
use crate::dispatch::{Answered, Dispatcher, Failed, Outcome, RunOptions};
use crate::error::{ErrorClass, GatewayError, UpstreamError};
use crate::inbound::Api;
use crate::usage::{CacheStatus, Caller, Ticket};
use client::{ClientStream, Record};
pub use directive::Directive;
use flight::{End, Flight, Head, Next, Subscription};
use job::{Entry, Job, Upcall};
use key::{Key, Target};
pub use shutdown::Shutdown;
use shutdown::Stopping;
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
    /// The client API the request arrived in: which encoder writes its stream.
    pub api: Api,
    pub chat: ChatRequest,
    pub candidates: &'a [Arc<ModelConfig>],
    /// The route the planner resolved, if any.
    pub route: Option<&'a str>,
    /// The `x-switchyard-route` header, if any.
    pub route_header: Option<&'a str>,
    pub directive: Directive,
    /// The request's usage record: taken when an answer starts (and finished when it
    /// ends), left in place when the request fails.
    pub ticket: &'a mut Option<Ticket>,
    /// The request's prompt-token estimate (`ChatRequest::prompt_tokens_estimate`).
    pub prompt_tokens: u64,
    /// The client's deadline (for the dispatcher, or for this client's wait on a
    /// flight) and latency budget.
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
    /// Ends the client streams when the gateway stops.
    shutdown: Shutdown,
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
            shutdown: Shutdown::default(),
        }
    }

    /// The signal that ends every client stream when the gateway stops.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
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
    /// running the dispatcher (shared with whoever joins meanwhile). The call's ticket
    /// is taken when an answer starts; on failure it is left for the caller to finish.
    pub async fn serve(&self, dispatcher: &Dispatcher, call: Call<'_>) -> Result<Reply, Failed> {
        let deadline = call.timeout.map(|t| Instant::now() + t);
        let (mode, ttl) = self.mode(call.route);
        if mode == CacheMode::Off || call.directive == Directive::Bypass {
            crate::metrics::record_cache_event(CacheStatus::Bypass.as_str());
            return bypass(dispatcher, call, &self.shutdown).await;
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
        let (sub, status, lead) = self.join(&key, cacheable);
        crate::metrics::record_cache_event(status.as_str());
        let wants = Wants::of(&call.chat, call.api);
        if let Some(flight) = lead {
            let entry = Entry {
                shared: self.shared.clone(),
                key,
                flight,
                ttl,
            };
            let job = Job {
                entry,
                tenant: call.caller.tenant.clone(),
                call: Box::new(Upcall {
                    dispatcher: dispatcher.clone(),
                    prompt_tokens: call.prompt_tokens,
                    chat: call.chat,
                    candidates: call.candidates.to_vec(),
                    route: call.route.map(str::to_owned),
                    latency_budget: queue_budget(call.latency_budget, call.timeout),
                }),
            };
            actix_web::rt::spawn(job.run());
        }
        let client = Client {
            wants,
            deadline,
            prompt_tokens: call.prompt_tokens,
            shutdown: &self.shutdown,
        };
        answer_from(sub, status, client, call.ticket).await
    }

    /// Finds the stored answer or the flight in progress for `key`, or starts a flight
    /// this request leads, all in one critical section.
    fn join(&self, key: &Key, cacheable: bool) -> (Subscription, CacheStatus, Option<Arc<Flight>>) {
        let mut st = self.shared.lock();
        let stored = if cacheable {
            st.store.get(key, Instant::now())
        } else {
            None
        };
        if let Some(f) = stored {
            (f.subscribe(false), CacheStatus::Hit, None)
        } else if let Some(f) = st.flights.get(key) {
            if cacheable {
                f.allow_store();
            }
            (f.subscribe(true), CacheStatus::Coalesced, None)
        } else {
            let f = Arc::new(Flight::new(cacheable));
            st.flights.insert(key.clone(), f.clone());
            (f.subscribe(false), CacheStatus::Miss, Some(f))
        }
    }
}

/// What the client asked for beyond the answer's content.
#[derive(Debug, Clone, Copy)]
struct Wants {
    stream: bool,
    include_usage: bool,
    api: Api,
}

impl Wants {
    fn of(chat: &ChatRequest, api: Api) -> Self {
        Self {
            stream: chat.stream,
            include_usage: chat.include_usage(),
            api,
        }
    }
}

/// What one client of a flight asked for and how long it waits.
struct Client<'a> {
    wants: Wants,
    /// When this client stops waiting for its answer (a stream: for its first event).
    deadline: Option<Instant>,
    /// The request's prompt-token estimate, to bill a stream that ends early.
    prompt_tokens: u64,
    shutdown: &'a Shutdown,
}

/// How long the flight's upstream call may queue for a rate-limited key: the leader's
/// latency budget and its deadline, as when it runs alone (docs/failover.md, "the wait
/// must fit the request's remaining deadline"). The queueing happens when the call
/// starts, when the leader is usually its only client.
fn queue_budget(latency_budget: Option<Duration>, timeout: Option<Duration>) -> Option<Duration> {
    match (latency_budget, timeout) {
        (Some(b), Some(t)) => Some(b.min(t)),
        (b, t) => b.or(t),
    }
}

/// `wait` unless `deadline` passes first; then this client's 504, the dispatcher's
/// deadline error (`Run::into_failure` in `crate::dispatch`).
async fn until<T>(
    deadline: Option<Instant>,
    wait: impl Future<Output = Result<T, Failed>>,
) -> Result<T, Failed> {
    let Some(at) = deadline else {
        return wait.await;
    };
    tokio::time::timeout_at(at, wait).await.unwrap_or_else(|_| {
        Err(Failed {
            error: GatewayError::Upstream(UpstreamError::new(
                ErrorClass::Timeout,
                "no answer within the request deadline",
            )),
            attempts: 0,
        })
    })
}

/// Runs the dispatcher for this request alone: the cache is bypassed.
async fn bypass(
    dispatcher: &Dispatcher,
    call: Call<'_>,
    shutdown: &Shutdown,
) -> Result<Reply, Failed> {
    let opts = RunOptions {
        route: call.route,
        timeout: call.timeout,
        latency_budget: call.latency_budget,
        prompt_tokens: call.prompt_tokens,
    };
    if let Some(t) = call.ticket.as_mut() {
        t.set_cache(CacheStatus::Bypass);
    }
    // Boxed: inline, the dispatcher's state (2 KiB) would make every request's handler
    // future that much larger, also on the cache path, which never runs it here.
    let (outcome, answered) =
        Box::pin(dispatcher.run_with(&call.chat, call.candidates, opts)).await?;
    let record = call.ticket.take().map(|ticket| Record {
        ticket,
        status: CacheStatus::Bypass,
        head: Head {
            model: answered.model.clone(),
            attempts: answered.attempts,
        },
    });
    let served = match outcome {
        Outcome::Complete(r) => {
            if let Some(rec) = record {
                rec.finish(&r.usage);
            }
            Served::Complete(r)
        }
        Outcome::Stream(relay) => {
            let client = ClientStream::new(
                &answered.model.name,
                call.api,
                call.chat.include_usage(),
                call.prompt_tokens,
                record,
            );
            Served::Stream(Box::pin(relay_sse(
                relay.with_tenant(call.caller.tenant.clone()),
                client,
                shutdown.stopping(),
            )))
        }
    };
    Ok(Reply {
        served,
        answered,
        outcome: CacheStatus::Bypass,
    })
}

/// This client's answer from a flight (stored, shared or led): as a stream through its
/// own encoder, or assembled whole. Past the client's deadline it leaves the flight
/// (dropping `sub`) with a 504.
async fn answer_from(
    mut sub: Subscription,
    status: CacheStatus,
    client: Client<'_>,
    ticket: &mut Option<Ticket>,
) -> Result<Reply, Failed> {
    let Client {
        wants,
        deadline,
        prompt_tokens,
        shutdown,
    } = client;
    let head = if wants.stream {
        until(deadline, sub.head()).await?
    } else {
        let (head, events, end) = until(deadline, sub.complete()).await?;
        let r = complete(&head, &events, end, status == CacheStatus::Miss);
        if let Some(ticket) = ticket.take() {
            Record {
                ticket,
                status,
                head: head.clone(),
            }
            .finish(&r.usage);
        }
        return Ok(reply(Served::Complete(r), head, status));
    };
    let record = ticket.take().map(|ticket| Record {
        ticket,
        status,
        head: head.clone(),
    });
    let client = ClientStream::new(
        &head.model.name,
        wants.api,
        wants.include_usage,
        prompt_tokens,
        record,
    );
    Ok(reply(
        Served::Stream(Box::pin(flight_sse(sub, client, shutdown.stopping()))),
        head,
        status,
    ))
}

fn reply(served: Served, head: Head, status: CacheStatus) -> Reply {
    Reply {
        served,
        answered: Answered {
            // A hit made no upstream attempt of its own.
            attempts: if status == CacheStatus::Hit {
                0
            } else {
                head.attempts
            },
            model: head.model,
        },
        outcome: status,
    }
}

/// A non-stream answer from a finished flight. The request that ran the flight
/// (`lead`) gets the completion as the dispatcher made it; a coalesced or replayed
/// answer gets an id and timestamp of its own.
fn complete(head: &Head, events: &[StreamEvent], end: End, lead: bool) -> ChatResponse {
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
        End::Failed(_) => answer::assemble(events, Usage::default()),
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

/// One client reading a relay alone: each batch the relay decodes, encoded for it,
/// until the relay ends or the gateway stops.
fn relay_sse(
    relay: Box<RelayStream>,
    client: ClientStream,
    stopping: Stopping,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let state = Some((relay, client, stopping));
    futures_util::stream::unfold(state, |state| async move {
        let (mut relay, mut client, mut stopping) = state?;
        let more = tokio::select! {
            biased;
            () = &mut stopping => None,
            more = relay.step(&mut client) => Some(more),
        };
        match more {
            Some(true) => Some((Ok(client.take()), Some((relay, client, stopping)))),
            Some(false) => None,
            // The relay is dropped with this state, which ends the upstream stream.
            None => {
                client.shutting_down();
                let bytes = client.take();
                // Empty if the answer had just ended: then there is nothing to add.
                (!bytes.is_empty()).then_some((Ok(bytes), None))
            }
        }
    })
}

/// One client reading a flight: the flight's events through the client's encoder,
/// until the flight ends or the gateway stops.
fn flight_sse(
    sub: Subscription,
    client: ClientStream,
    stopping: Stopping,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some((sub, client, stopping)), |state| async move {
        let (mut sub, mut client, mut stopping) = state?;
        let next = tokio::select! {
            biased;
            () = &mut stopping => {
                // Dropping `sub` leaves the flight; the last client to leave ends it.
                client.shutting_down();
                return Some((Ok(client.take()), None));
            }
            next = sub.next() => next?,
        };
        match next {
            Next::Events(events) => {
                client.events(&events);
                Some((Ok(client.take()), Some((sub, client, stopping))))
            }
            Next::End(End::Done { usage, complete }) => {
                client.done(usage, complete.as_deref());
                Some((Ok(client.take()), None))
            }
            Next::End(End::Failed(f)) => {
                client.failed(&f);
                Some((Ok(client.take()), None))
            }
        }
    })
}
