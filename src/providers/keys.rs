//! A provider's key pool: the live keys (behind an `ArcSwap`, so a reload never
//! disturbs a request holding a key), each with its own rate-limit buckets.
//!
//! [`KeyPool::admit`] picks the key that can go soonest (fewest requests in flight
//! among equals, round robin among those), reserves its buckets and hands out a
//! [`Lease`]. A key the provider answers 401/403 is disabled: out of rotation until the
//! next reload, logged and counted by fingerprint, never by value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::limiter::{Available, KeyLimiter};
use super::ratelimit_headers::Observed;
use crate::config::{ProviderConfig, RateLimits, Secret};

/// One key and its live state.
#[derive(Debug)]
pub struct PoolKey {
    secret: Secret,
    fingerprint: String,
    disabled: AtomicBool,
    in_flight: AtomicU32,
    limiter: KeyLimiter,
}

impl PoolKey {
    fn new(secret: Secret, limits: &RateLimits, now: Instant) -> Self {
        Self {
            fingerprint: fingerprint(&secret),
            secret,
            disabled: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            limiter: KeyLimiter::new(limits, now),
        }
    }

    /// The key, for the request header.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// First 8 hex characters of the key's SHA-256: safe for logs and metric labels.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether the key is out of rotation.
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }
}

/// First 8 hex characters of SHA-256 of a key.
pub fn fingerprint(key: &Secret) -> String {
    let digest = Sha256::digest(key.expose().as_bytes());
    hex::encode(&digest[..4])
}

/// Whether a request may go to this provider now.
#[derive(Debug)]
pub enum Admission {
    /// Send now (after waiting the given time, if any; zero: at once).
    Go(Duration, Lease),
    /// Every key's buckets are empty for longer than the caller may wait, or the queue
    /// is full: move on. Carries when the soonest key frees up.
    Saturated(Duration),
    /// No key left in rotation.
    NoKeys,
}

/// The live keys of one provider.
#[derive(Debug)]
pub struct KeyPool {
    provider: String,
    limits: RateLimits,
    keys: ArcSwap<Vec<Arc<PoolKey>>>,
    next: AtomicUsize,
    waiting: Arc<AtomicUsize>,
}

impl KeyPool {
    /// A pool of `provider`'s configured keys.
    pub fn new(provider: &ProviderConfig) -> Self {
        let now = Instant::now();
        let keys = provider
            .keys
            .iter()
            .map(|k| Arc::new(PoolKey::new(k.clone(), &provider.limits, now)))
            .collect();
        Self {
            provider: provider.name.to_string(),
            limits: provider.limits.clone(),
            keys: ArcSwap::from_pointee(keys),
            next: AtomicUsize::new(0),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The per-key limits every key of the pool has.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Keys in rotation.
    pub fn enabled(&self) -> usize {
        self.keys.load().iter().filter(|k| !k.is_disabled()).count()
    }

    /// All keys, enabled or not.
    pub fn len(&self) -> usize {
        self.keys.load().len()
    }

    /// Whether the pool has no keys at all.
    pub fn is_empty(&self) -> bool {
        self.keys.load().is_empty()
    }

    /// Reserves a key for a request of an estimated `tokens`, waiting at most
    /// `budget` (further capped by the provider's `max_queue_ms`).
    pub fn admit(&self, tokens: u64, budget: Duration) -> Admission {
        let keys = self.keys.load();
        let n = keys.len();
        if n == 0 {
            return Admission::NoKeys;
        }
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(Duration, u32, &Arc<PoolKey>)> = None;
        for i in 0..n {
            let k = &keys[(start + i) % n];
            if k.is_disabled() {
                continue;
            }
            let wait = k.limiter.wait_for(tokens, now);
            let busy = k.in_flight.load(Ordering::Relaxed);
            if best.is_none_or(|(w, b, _)| (wait, busy) < (w, b)) {
                best = Some((wait, busy, k));
            }
        }
        let Some((wait, _, key)) = best else {
            return Admission::NoKeys;
        };
        let max_wait = budget.min(self.limits.max_queue);
        let queue_full =
            !wait.is_zero() && self.waiting.load(Ordering::Relaxed) >= self.limits.max_queue_len;
        if wait > max_wait || queue_full {
            self.count_limited();
            return Admission::Saturated(wait);
        }
        match key.limiter.reserve(tokens, max_wait, now) {
            Ok(wait) => {
                if !wait.is_zero() {
                    self.count_limited();
                }
                self.record(now);
                Admission::Go(wait, Lease::new(key.clone(), tokens, self, !wait.is_zero()))
            }
            Err(wait) => {
                self.count_limited();
                Admission::Saturated(wait)
            }
        }
    }

    /// Any key in rotation, for heartbeats (no buckets involved).
    pub fn any_key(&self) -> Option<Arc<PoolKey>> {
        let keys = self.keys.load();
        let n = keys.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &keys[(start + i) % n])
            .find(|k| !k.is_disabled())
            .cloned()
    }

    /// Another replica's provider asked for `wait` on the key with `fingerprint`:
    /// nothing more on it here either until then. Whether the key is in this pool.
    pub fn back_off_shared(&self, fingerprint: &str, wait: Duration) -> bool {
        let keys = self.keys.load();
        let Some(key) = keys.iter().find(|k| k.fingerprint == fingerprint) else {
            return false;
        };
        let now = Instant::now();
        key.limiter.block_until(now + wait, now);
        true
    }

    /// Takes a key the provider rejected (401/403) out of rotation.
    pub fn disable(&self, key: &PoolKey) {
        if !key.disabled.swap(true, Ordering::Relaxed) {
            tracing::error!(
                provider = %self.provider,
                key = key.fingerprint(),
                left = self.enabled(),
                "provider rejected a key; taken out of rotation"
            );
            metrics::counter!(
                "switchyard_provider_key_disabled_total",
                "provider" => self.provider.clone(),
                "key" => key.fingerprint.clone()
            )
            .increment(1);
        }
    }

    /// Replaces the keys. A key already in the pool keeps its buckets (its usage is
    /// the provider's to count, not ours to forget) but comes back into rotation.
    /// Requests holding an old key finish with it.
    pub fn replace(&self, secrets: Vec<Secret>) {
        let now = Instant::now();
        let old = self.keys.load();
        let keys: Vec<Arc<PoolKey>> = secrets
            .into_iter()
            .map(|s| match old.iter().find(|k| k.secret == s) {
                Some(k) => {
                    k.disabled.store(false, Ordering::Relaxed);
                    k.clone()
                }
                None => Arc::new(PoolKey::new(s, &self.limits, now)),
            })
            .collect();
        self.keys.store(Arc::new(keys));
    }

    fn count_limited(&self) {
        metrics::counter!("switchyard_rate_limited_total", "provider" => self.provider.clone())
            .increment(1);
    }

    /// Updates the bucket gauges (only for limits that are known).
    fn record(&self, now: Instant) {
        let mut total = Available::default();
        for k in self.keys.load().iter().filter(|k| !k.is_disabled()) {
            let a = k.limiter.available(now);
            total.requests = sum(total.requests, a.requests);
            total.tokens = sum(total.tokens, a.tokens);
        }
        for (kind, v) in [("requests", total.requests), ("tokens", total.tokens)] {
            if let Some(v) = v {
                crate::metrics::handles::set(
                    "switchyard_rate_limit_tokens_available",
                    &[("provider", &self.provider), ("kind", kind)],
                    v,
                );
            }
        }
    }
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

/// A reserved key for one attempt. Dropped before [`Lease::sent`], it gives its
/// reservation back; it counts as in flight on its key until dropped.
#[derive(Debug)]
pub struct Lease {
    key: Arc<PoolKey>,
    tokens: u64,
    sent: bool,
    /// Held while queued, so the queue depth is bounded.
    queued: Option<QueueSlot>,
}

#[derive(Debug)]
struct QueueSlot {
    waiting: Arc<AtomicUsize>,
    provider: String,
}

impl QueueSlot {
    fn new(waiting: &Arc<AtomicUsize>, provider: &str) -> Self {
        let depth = waiting.fetch_add(1, Ordering::Relaxed) + 1;
        crate::metrics::handles::set(
            "switchyard_rate_limit_queue_depth",
            &[("provider", provider)],
            depth as f64,
        );
        Self {
            waiting: waiting.clone(),
            provider: provider.to_owned(),
        }
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        let depth = self
            .waiting
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        crate::metrics::handles::set(
            "switchyard_rate_limit_queue_depth",
            &[("provider", &self.provider)],
            depth as f64,
        );
    }
}

impl Lease {
    fn new(key: Arc<PoolKey>, tokens: u64, pool: &KeyPool, queued: bool) -> Self {
        key.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            key,
            tokens,
            sent: false,
            queued: queued.then(|| QueueSlot::new(&pool.waiting, &pool.provider)),
        }
    }

    /// The key to send with.
    pub fn key(&self) -> &Arc<PoolKey> {
        &self.key
    }

    /// The request is on its way: the reservation is spent, the queue slot freed.
    pub fn sent(&mut self) {
        self.sent = true;
        self.queued = None;
    }

    /// Follows the rate-limit headers of the provider's answer.
    pub fn observe(&self, headers: &HeaderMap) -> Option<Observed> {
        let o = Observed::parse(headers, SystemTime::now())?;
        self.key.limiter.observe(&o, Instant::now());
        Some(o)
    }

    /// The provider asked for `wait` (429): nothing more on this key until then.
    pub fn back_off(&self, wait: Duration) {
        let now = Instant::now();
        self.key.limiter.block_until(now + wait, now);
    }

    /// Corrects the token estimate with the real usage.
    pub fn reconcile(&mut self, actual_tokens: u64) {
        self.key
            .limiter
            .reconcile(self.tokens, actual_tokens, Instant::now());
        self.tokens = actual_tokens;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.key.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.sent {
            self.key.limiter.refund(self.tokens, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests;
