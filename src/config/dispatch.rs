//! How plans are run ([`DispatchConfig`]: the retry policies and stream re-chunking),
//! validation of the retry policies (`[dispatch]`, `[routes.X]`) and of the provider
//! rate limits (`[providers.X] rpm, tpm, max_queue_ms, max_queue`).

use std::time::Duration;

use super::raw::{RawDispatch, RawProvider, RawRoute};
use super::{ConfigError, RechunkConfig, invalid, positive};
use crate::config::policy::{Backoff, Policies, RetryPolicy};

/// Default `max_queue_ms`: a second of queueing is "a slightly slower answer"; past
/// that, another candidate is the better bet.
const DEFAULT_MAX_QUEUE_MS: u64 = 1_000;
/// Default `max_queue`: waiters per provider before new requests go elsewhere.
const DEFAULT_MAX_QUEUE: usize = 64;

/// How a plan is run.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchConfig {
    /// The global retry policy and each route's.
    pub policies: Policies,
    /// `[streaming.rechunk]`; `None` relays deltas as the provider sent them.
    pub rechunk: Option<RechunkConfig>,
}

/// A provider's own limits, enforced per key by [`crate::providers::limiter`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Requests per minute per key.
    pub rpm: Option<u32>,
    /// Tokens per minute per key.
    pub tpm: Option<u32>,
    /// Longest wait for a bucket.
    pub max_queue: Duration,
    /// Most waiters at once.
    pub max_queue_len: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            max_queue: Duration::from_millis(DEFAULT_MAX_QUEUE_MS),
            max_queue_len: DEFAULT_MAX_QUEUE,
        }
    }
}

/// The retry fields `[dispatch]` and `[routes.X]` share.
struct Fields {
    retry_delay_ms: Option<u64>,
    max_attempts: Option<u32>,
    backoff: Option<Backoff>,
    max_retry_delay_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    context_fallback: Option<bool>,
}

/// The global policy from `[dispatch]`.
pub fn global_policy(d: &RawDispatch) -> Result<RetryPolicy, ConfigError> {
    apply(
        "dispatch",
        &RetryPolicy::default(),
        Fields {
            retry_delay_ms: d.retry_delay_ms,
            max_attempts: d.max_attempts,
            backoff: d.backoff,
            max_retry_delay_ms: d.max_retry_delay_ms,
            request_timeout_ms: d.request_timeout_ms,
            context_fallback: d.context_fallback,
        },
    )
}

/// A route's policy: `base` with the route's own fields applied.
pub fn route_policy(
    at: &str,
    base: &RetryPolicy,
    r: &RawRoute,
) -> Result<RetryPolicy, ConfigError> {
    apply(
        at,
        base,
        Fields {
            retry_delay_ms: r.retry_delay_ms,
            max_attempts: r.max_attempts,
            backoff: r.backoff,
            max_retry_delay_ms: r.max_retry_delay_ms,
            request_timeout_ms: r.request_timeout_ms,
            context_fallback: r.context_fallback,
        },
    )
}

fn apply(at: &str, base: &RetryPolicy, f: Fields) -> Result<RetryPolicy, ConfigError> {
    let ms = |d: Duration| d.as_millis() as u64;
    let max_attempts = match f.max_attempts {
        Some(0) => {
            return Err(invalid(
                format!("{at}.max_attempts"),
                "expected a number > 0",
            ));
        }
        v => v.unwrap_or(base.max_attempts),
    };
    let policy = RetryPolicy {
        // 0 is a valid delay (tests, latency-critical routes).
        retry_delay: Duration::from_millis(f.retry_delay_ms.unwrap_or(ms(base.retry_delay))),
        backoff: f.backoff.unwrap_or(base.backoff),
        max_retry_delay: Duration::from_millis(
            f.max_retry_delay_ms.unwrap_or(ms(base.max_retry_delay)),
        ),
        max_attempts,
        request_timeout: Duration::from_millis(positive(
            at,
            "request_timeout_ms",
            f.request_timeout_ms,
            ms(base.request_timeout),
        )?),
        context_fallback: f.context_fallback.unwrap_or(base.context_fallback),
    };
    if policy.backoff == Backoff::Exponential && policy.max_retry_delay < policy.retry_delay {
        return Err(invalid(
            format!("{at}.max_retry_delay_ms"),
            "expected a value >= retry_delay_ms",
        ));
    }
    Ok(policy)
}

/// A provider's rate limits.
pub fn rate_limits(at: &str, p: &RawProvider) -> Result<RateLimits, ConfigError> {
    for (field, v) in [("rpm", p.rpm), ("tpm", p.tpm)] {
        if v == Some(0) {
            return Err(invalid(
                format!("{at}.{field}"),
                "expected a number > 0 (leave it out for no limit)",
            ));
        }
    }
    if p.max_queue == Some(0) {
        return Err(invalid(format!("{at}.max_queue"), "expected a number > 0"));
    }
    Ok(RateLimits {
        rpm: p.rpm,
        tpm: p.tpm,
        // 0 is valid: never queue, reroute at once.
        max_queue: Duration::from_millis(p.max_queue_ms.unwrap_or(DEFAULT_MAX_QUEUE_MS)),
        max_queue_len: p.max_queue.unwrap_or(DEFAULT_MAX_QUEUE),
    })
}
