//! Token buckets for one provider key: requests per minute and tokens per minute.
//!
//! Each bucket refills continuously (`limit / 60` per second) up to `limit`. A request
//! *reserves* before it is sent: one request and its estimated tokens are debited at
//! once, even if that takes a bucket below zero, and the caller is told how long to
//! wait until the debt is repaid (GCRA-style). So a queue needs no waker list: every
//! waiter already owns its slot in time, and a waiter that gives up refunds it.
//! Estimates are reconciled with the real usage when the answer is in.
//!
//! The provider's own rate-limit headers tighten the buckets (a bucket never holds more
//! than the provider says remains; "0 remaining, reset in 6s" blocks it for 6 s), and
//! a 429 with a wait blocks it outright, so the gateway stops before the provider has
//! to say 429 again.
//!
//! The state is a few floats behind a `std::sync::Mutex`, held for a handful of
//! arithmetic operations and never across an `.await`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::ratelimit_headers::{Observed, Window};
use crate::config::RateLimits;

/// Seconds per rate-limit window: limits are per minute.
const WINDOW_SECS: f64 = 60.0;

/// One bucket. `capacity` is infinite while no limit is known.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    capacity: f64,
    per_sec: f64,
    level: f64,
    /// Whether the capacity came from the config (headers may then only tighten it).
    configured: bool,
    /// Nothing may be taken before this (provider said 0 remaining, or 429).
    blocked_until: Option<Instant>,
}

impl Bucket {
    fn new(limit: Option<u32>) -> Self {
        match limit {
            Some(l) => Self::limited(f64::from(l), true),
            None => Self {
                capacity: f64::INFINITY,
                per_sec: 0.0,
                level: f64::INFINITY,
                configured: false,
                blocked_until: None,
            },
        }
    }

    fn limited(limit: f64, configured: bool) -> Self {
        Self {
            capacity: limit,
            per_sec: limit / WINDOW_SECS,
            level: limit,
            configured,
            blocked_until: None,
        }
    }

    fn refill(&mut self, elapsed: Duration) {
        if self.capacity.is_finite() {
            self.level = (self.level + self.per_sec * elapsed.as_secs_f64()).min(self.capacity);
        }
    }

    /// How long until `n` can be taken (after refilling).
    fn wait_for(&self, n: f64, now: Instant) -> Duration {
        let blocked = self
            .blocked_until
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        // A request larger than the whole bucket goes through when the bucket is full,
        // rather than never.
        let n = n.min(self.capacity);
        let refill = if self.level >= n || !self.capacity.is_finite() {
            Duration::ZERO
        } else if self.per_sec > 0.0 {
            Duration::from_secs_f64((n - self.level) / self.per_sec)
        } else {
            Duration::MAX
        };
        blocked.max(refill)
    }

    fn observe(&mut self, w: &Window, now: Instant) {
        if let Some(limit) = w.limit
            && !self.configured
            && limit > 0
        {
            let limit = limit as f64;
            if (self.capacity - limit).abs() > f64::EPSILON {
                let level = self.level.min(limit);
                *self = Self::limited(limit, false);
                self.level = level;
            }
        }
        if let Some(remaining) = w.remaining {
            self.level = self.level.min(remaining as f64);
            if remaining == 0
                && let Some(reset) = w.reset
            {
                self.block(now + reset);
            }
        }
    }

    fn block(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|t| t < until) {
            self.blocked_until = Some(until);
        }
    }
}

#[derive(Debug)]
struct State {
    requests: Bucket,
    tokens: Bucket,
    updated: Instant,
}

impl State {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated);
        self.requests.refill(elapsed);
        self.tokens.refill(elapsed);
        self.updated = now;
        for b in [&mut self.requests, &mut self.tokens] {
            if b.blocked_until.is_some_and(|t| t <= now) {
                b.blocked_until = None;
            }
        }
    }

    fn wait_for(&self, tokens: u64, now: Instant) -> Duration {
        self.requests
            .wait_for(1.0, now)
            .max(self.tokens.wait_for(tokens as f64, now))
    }
}

/// The buckets of one key.
#[derive(Debug)]
pub struct KeyLimiter {
    state: Mutex<State>,
}

/// How much a bucket holds right now (for the gauges); `None` when unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Available {
    pub requests: Option<f64>,
    pub tokens: Option<f64>,
}

impl KeyLimiter {
    /// Buckets for `limits`, full.
    pub fn new(limits: &RateLimits, now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                requests: Bucket::new(limits.rpm),
                tokens: Bucket::new(limits.tpm),
                updated: now,
            }),
        }
    }

    /// How long a request of `tokens` would wait now, without reserving.
    pub fn wait_for(&self, tokens: u64, now: Instant) -> Duration {
        self.with(now, |s| s.wait_for(tokens, now))
    }

    /// Reserves one request and `tokens` if the wait is at most `max_wait`; returns
    /// the wait (zero: go now). `Err` carries the wait that was too long.
    pub fn reserve(
        &self,
        tokens: u64,
        max_wait: Duration,
        now: Instant,
    ) -> Result<Duration, Duration> {
        self.with(now, |s| {
            let wait = s.wait_for(tokens, now);
            if wait > max_wait {
                return Err(wait);
            }
            s.requests.level -= 1.0;
            s.tokens.level -= (tokens as f64).min(s.tokens.capacity);
            Ok(wait)
        })
    }

    /// Gives back a reservation that was never sent.
    pub fn refund(&self, tokens: u64, now: Instant) {
        self.with(now, |s| {
            s.requests.level = (s.requests.level + 1.0).min(s.requests.capacity);
            let taken = (tokens as f64).min(s.tokens.capacity);
            s.tokens.level = (s.tokens.level + taken).min(s.tokens.capacity);
        });
    }

    /// Corrects a token estimate with the real usage.
    pub fn reconcile(&self, estimated: u64, actual: u64, now: Instant) {
        self.with(now, |s| {
            let delta = estimated as f64 - actual as f64;
            s.tokens.level = (s.tokens.level + delta).min(s.tokens.capacity);
        });
    }

    /// Follows the provider's own rate-limit headers.
    pub fn observe(&self, o: &Observed, now: Instant) {
        self.with(now, |s| {
            s.requests.observe(&o.requests, now);
            s.tokens.observe(&o.tokens, now);
        });
    }

    /// Blocks the key until `until` (a 429 with a wait).
    pub fn block_until(&self, until: Instant, now: Instant) {
        self.with(now, |s| {
            s.requests.block(until);
        });
    }

    /// What the buckets hold now.
    pub fn available(&self, now: Instant) -> Available {
        self.with(now, |s| {
            let level = |b: &Bucket| b.capacity.is_finite().then_some(b.level.max(0.0));
            Available {
                requests: level(&s.requests),
                tokens: level(&s.tokens),
            }
        })
    }

    fn with<T>(&self, now: Instant, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-arithmetic; the
        // floats are still usable.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.refill(now);
        f(&mut s)
    }
}

#[cfg(test)]
mod tests;
