//! The upstream call of a flight: a task of its own, so that the call does not depend
//! on any one client staying connected. It stops when every client has left, ends the
//! flight with the answer or the failure, and settles it into the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Shared;
use super::flight::{End, Flight, Head, Tee};
use super::key::Key;
use crate::canonical::ChatRequest;
use crate::config::ModelConfig;
use crate::dispatch::{Answered, Dispatcher, Failed, Outcome, RunOptions};
use crate::error::GatewayError;

/// The upstream call of a flight, run in its own task so that it does not depend on
/// any one client staying connected; it stops when every client has left.
pub(super) struct Job {
    pub(super) entry: Entry,
    /// Boxed: a task holds its arguments for its whole life.
    pub(super) call: Box<Upcall>,
    /// Whose cost the upstream call is.
    pub(super) tenant: Arc<str>,
}

/// A flight's place in the single-flight table, kept for the flight's whole life.
pub(super) struct Entry {
    pub(super) shared: Arc<Shared>,
    pub(super) key: Key,
    pub(super) flight: Arc<Flight>,
    pub(super) ttl: Duration,
}

/// What the dispatcher needs to answer a flight, freed as soon as it has answered.
pub(super) struct Upcall {
    pub(super) dispatcher: Dispatcher,
    pub(super) chat: ChatRequest,
    pub(super) candidates: Vec<Arc<ModelConfig>>,
    pub(super) route: Option<String>,
    pub(super) latency_budget: Option<Duration>,
    pub(super) prompt_tokens: u64,
}

impl Upcall {
    async fn run(self: Box<Self>) -> Result<(Outcome, Answered), Failed> {
        let opts = RunOptions {
            route: self.route.as_deref(),
            // The route's cap: each client's own deadline bounds only its own wait, and
            // the call stops when the last client has left (`super`'s module doc).
            timeout: None,
            latency_budget: self.latency_budget,
            prompt_tokens: self.prompt_tokens,
        };
        self.dispatcher
            .run_with(&self.chat, &self.candidates, opts)
            .await
    }
}

impl Job {
    /// Runs the call and the relay behind the flight, then settles it.
    pub(super) async fn run(self) {
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
