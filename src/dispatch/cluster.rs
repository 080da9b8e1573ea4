//! Provider-key admission in cluster mode. The local bucket (full limits) has admitted a
//! key; the cluster's bucket for that key ([`GlobalLimits`]) then decides for every
//! replica at once. While the engine does not answer, each replica admits on a local
//! bucket at its share of the limits (`limit / expected_replicas`), so the cluster as a
//! whole still stays within them, and it goes back to the shared bucket by itself
//! when the engine answers again.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::config::RateLimits;
use crate::providers::keys::{KeyPool, PoolKey};
use crate::providers::limiter::KeyLimiter;
use crate::state::rate::{GlobalLimits, KeyLimits, Verdict};

/// The cluster's say on one admission.
#[derive(Debug)]
pub enum Admitted {
    /// Send after this wait; settle the reservation with the real usage afterwards.
    Go(Duration, Option<ClusterLease>),
    /// Every replica together is at this key's limit for longer than the request may
    /// wait: the key frees up after this long.
    Saturated(Duration),
}

/// A reservation in the cluster's bucket, corrected when the real usage is known.
#[derive(Debug)]
pub struct ClusterLease {
    global: Arc<GlobalLimits>,
    key: String,
    estimated: u64,
}

impl ClusterLease {
    /// Tells the other replicas that `provider` asked for `wait` on `key`, so they
    /// stop sending with it too.
    pub fn share_backoff(&self, provider: &str, key: &PoolKey, wait: Duration) {
        self.global
            .engine()
            .publish_backoff(provider, key.fingerprint(), wait);
    }

    /// Corrects the reservation's token estimate with the real count.
    pub fn settle(self, actual_tokens: u64) {
        self.global
            .reconcile(&self.key, self.estimated, actual_tokens);
    }
}

/// Shared buckets, and the local share buckets used while the engine is down.
#[derive(Debug)]
pub struct ClusterAdmission {
    global: Arc<GlobalLimits>,
    expected_replicas: u32,
    /// Per provider key (provider and fingerprint): this replica's share.
    shares: DashMap<String, KeyLimiter>,
}

impl ClusterAdmission {
    /// Admission against `global`, falling back to `1 / expected_replicas` of each limit.
    pub fn new(global: Arc<GlobalLimits>, expected_replicas: u32) -> Self {
        Self {
            global,
            expected_replicas: expected_replicas.max(1),
            shares: DashMap::new(),
        }
    }

    /// Admits one request of `tokens` estimated tokens on `key` of `pool`, waiting at
    /// most `budget`. Keys without limits need no round trip.
    pub async fn admit(
        &self,
        pool: &KeyPool,
        key: &PoolKey,
        tokens: u64,
        budget: Duration,
    ) -> Admitted {
        let limits = pool.limits();
        if limits.rpm.is_none() && limits.tpm.is_none() {
            return Admitted::Go(Duration::ZERO, None);
        }
        // The provider's own queue bound applies to the cluster's wait as to the local one.
        let budget = budget.min(limits.max_queue);
        let name = format!("{}:{}", pool.provider(), key.fingerprint());
        let wanted = KeyLimits {
            rpm: limits.rpm,
            tpm: limits.tpm,
        };
        match self.global.admit(&name, wanted, tokens, budget).await {
            Verdict::Go(wait) => {
                crate::metrics::record_cluster_admission("go");
                let lease = ClusterLease {
                    global: self.global.clone(),
                    key: name,
                    estimated: tokens,
                };
                Admitted::Go(wait, Some(lease))
            }
            Verdict::Saturated(free_in) => {
                crate::metrics::record_cluster_admission("saturated");
                Admitted::Saturated(free_in)
            }
            Verdict::Unavailable => {
                crate::metrics::record_cluster_admission("local");
                self.admit_share(name, limits, tokens, budget)
            }
        }
    }

    /// This replica's share while the engine is down.
    fn admit_share(
        &self,
        name: String,
        limits: &RateLimits,
        tokens: u64,
        budget: Duration,
    ) -> Admitted {
        let now = Instant::now();
        let share = self
            .shares
            .entry(name)
            .or_insert_with(|| KeyLimiter::new(&self.share_of(limits), now));
        match share.reserve(tokens, budget, now) {
            Ok(wait) => Admitted::Go(wait, None),
            Err(free_in) => Admitted::Saturated(free_in),
        }
    }

    fn share_of(&self, limits: &RateLimits) -> RateLimits {
        let n = self.expected_replicas;
        RateLimits {
            rpm: limits.rpm.map(|l| (l / n).max(1)),
            tpm: limits.tpm.map(|l| (l / n).max(1)),
            ..limits.clone()
        }
    }
}
