//! Provider actors: one supervised actor per provider account measuring latency,
//! time to first token, errors and heartbeats in sliding windows, running its circuit
//! breaker, and publishing health to the scheduler. [`Providers`] holds their
//! addresses, the live counters the request path updates without messages, and each
//! provider's key pool with its rate-limit buckets ([`keys`], [`limiter`]).

pub mod actor;
pub mod breaker;
pub mod estimate;
pub mod health;
pub mod keys;
pub mod limiter;
pub mod ratelimit_headers;
pub mod state;
pub mod window;

use std::sync::Arc;

use actix::{Addr, Recipient, Supervisor};

use crate::config::{Config, ConfigError, Resolved, Secret};
use crate::upstream::Upstream;
use actor::ProviderActor;
use health::{AttemptOutcome, HealthUpdate, ProviderShared};
use keys::KeyPool;

/// A running provider actor and its live counters.
pub struct ProviderHandle {
    pub addr: Addr<ProviderActor>,
    pub shared: Arc<ProviderShared>,
    /// The live keys and their buckets.
    pub keys: Arc<KeyPool>,
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
                let keys = Arc::new(KeyPool::new(p));
                let shared = Arc::new(ProviderShared::default());
                let actor = ProviderActor::new(
                    p.clone(),
                    models,
                    config.health.clone(),
                    scheduler.clone(),
                    upstream.clone(),
                    keys.clone(),
                    shared.clone(),
                );
                ProviderHandle {
                    addr: Supervisor::start(|_| actor),
                    shared,
                    keys,
                }
            })
            .collect();
        Self { handles }
    }

    /// The handle of provider `index`.
    pub fn get(&self, index: usize) -> Option<&ProviderHandle> {
        self.handles.get(index)
    }

    /// The key pool of provider `index`.
    pub fn keys(&self, index: usize) -> Option<&Arc<KeyPool>> {
        self.handles.get(index).map(|h| &h.keys)
    }

    /// The key pool of the provider named `name`.
    pub fn key_pool_named(&self, name: &str) -> Option<&Arc<KeyPool>> {
        self.handles
            .iter()
            .map(|h| &h.keys)
            .find(|pool| pool.provider() == name)
    }

    /// Requests in flight at provider `index`.
    pub fn in_flight(&self, index: usize) -> u32 {
        self.handles.get(index).map_or(0, |h| h.shared.in_flight())
    }

    /// Requests in progress to provider `index` and their ages, as of `now`.
    pub fn load(&self, index: usize, now: tokio::time::Instant) -> health::Load {
        self.handles
            .get(index)
            .map_or_else(health::Load::default, |h| h.shared.load(now))
    }

    /// Re-reads every provider's key sources (environment variables, files) and swaps
    /// the pools' keys. Requests in flight keep the key they hold. Returns the number
    /// of keys now loaded per provider. Nothing changes if any source fails.
    pub fn reload_keys(&self, config: &Config) -> Result<Vec<(String, usize)>, ConfigError> {
        let mut fresh = Vec::new();
        for p in &config.providers {
            let mut keys = Vec::new();
            for (i, source) in p.key_sources.iter().enumerate() {
                let at = format!("providers.{}.keys[{i}]", p.name);
                if let Resolved::Found(s) = source.resolve(&at, config.base_dir.as_deref())? {
                    keys.push(s);
                }
            }
            fresh.push(keys);
        }
        Ok(self.replace_keys(config, fresh))
    }

    /// Puts the keys a config reload resolved (`ProviderConfig::keys`) in the pools.
    /// The providers are the running ones: a reload that adds or removes one is
    /// refused before this.
    pub fn set_keys(&self, config: &Config) -> Vec<(String, usize)> {
        let keys = config.providers.iter().map(|p| p.keys.clone()).collect();
        self.replace_keys(config, keys)
    }

    fn replace_keys(&self, config: &Config, fresh: Vec<Vec<Secret>>) -> Vec<(String, usize)> {
        let mut loaded = Vec::new();
        for (p, keys) in config.providers.iter().zip(fresh) {
            let n = keys.len();
            if let Some(h) = self.handles.get(p.index) {
                h.keys.replace(keys);
            }
            tracing::info!(provider = %p.name, keys = n, "provider keys reloaded");
            loaded.push((p.name.to_string(), n));
        }
        loaded
    }

    /// Reports an attempt's outcome to its provider's actor (never waits; see
    /// [`ProviderShared`] for when the actor hears of it).
    pub fn report(&self, provider: usize, outcome: AttemptOutcome) {
        if let Some(h) = self.handles.get(provider)
            && h.shared.push_outcome(outcome)
        {
            h.addr.do_send(actor::DrainOutcomes);
        }
    }
}
