//! Provider actors: one supervised actor per provider account measuring latency,
//! time to first token, errors and heartbeats in sliding windows, running its circuit
//! breaker, and publishing health to the scheduler. [`Providers`] holds their
//! addresses and the live counters the request path updates without messages.

pub mod actor;
pub mod breaker;
pub mod health;
pub mod window;

use std::sync::Arc;

use actix::{Addr, Recipient, Supervisor};

use crate::config::Config;
use crate::dispatch::upstream::Upstream;
use crate::scheduler::actor::HealthUpdate;
use actor::{Outcome, ProviderActor};
use health::ProviderShared;

/// A running provider actor and its live counters.
pub struct ProviderHandle {
    pub addr: Addr<ProviderActor>,
    pub shared: Arc<ProviderShared>,
}

/// All provider actors, indexed by `ProviderConfig::index`.
pub struct Providers {
    handles: Vec<ProviderHandle>,
}

impl Providers {
    /// Starts one supervised actor per configured provider. Must run inside an actix
    /// system.
    pub fn start(config: &Config, scheduler: Recipient<HealthUpdate>, upstream: &Upstream) -> Self {
        let handles = config
            .providers
            .iter()
            .map(|p| {
                let models = config
                    .models
                    .iter()
                    .filter(|m| m.provider.index == p.index)
                    .cloned()
                    .collect();
                let actor = ProviderActor::new(
                    p.clone(),
                    models,
                    config.health.clone(),
                    scheduler.clone(),
                    upstream.clone(),
                );
                ProviderHandle {
                    addr: Supervisor::start(|_| actor),
                    shared: Arc::new(ProviderShared::default()),
                }
            })
            .collect();
        Self { handles }
    }

    /// The handle of provider `index`.
    pub fn get(&self, index: usize) -> Option<&ProviderHandle> {
        self.handles.get(index)
    }

    /// Requests in flight at provider `index`.
    pub fn in_flight(&self, index: usize) -> u32 {
        self.handles.get(index).map_or(0, |h| h.shared.in_flight())
    }

    /// Reports an attempt's outcome to its provider's actor (never waits).
    pub fn report(&self, provider: usize, outcome: Outcome) {
        if let Some(h) = self.handles.get(provider) {
            h.addr.do_send(outcome);
        }
    }
}
