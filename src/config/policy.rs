//! The retry policy a request runs under: delay between attempts (fixed or exponential
//! with jitter), the whole-request deadline, the attempt cap, and whether a
//! context-length error may fall back to a larger window. `[dispatch]` sets the
//! defaults; each `[routes.X]` may override any of them (docs/failover.md).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// How the delay grows between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    /// Every wait is `retry_delay_ms`.
    #[default]
    None,
    /// `retry_delay_ms` doubled per failed attempt, capped at `max_retry_delay_ms`,
    /// with "equal jitter": half the wait fixed, half drawn at random.
    Exponential,
}

/// One route's (or the global) retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Wait before the next attempt after a retryable failure.
    pub retry_delay: Duration,
    pub backoff: Backoff,
    /// Cap on an exponential wait.
    pub max_retry_delay: Duration,
    /// Most attempts per request, across all candidates.
    pub max_attempts: u32,
    /// The whole request (queueing, attempts, waits) must be answered within this.
    pub request_timeout: Duration,
    /// A context-length error moves on to a candidate with a larger window.
    pub context_fallback: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retry_delay: Duration::from_millis(500),
            backoff: Backoff::None,
            max_retry_delay: Duration::from_millis(8_000),
            max_attempts: 3,
            request_timeout: Duration::from_millis(300_000),
            context_fallback: true,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt number `failures + 1`, after `failures` failed attempts
    /// (`failures >= 1`). `draw` is a random number in 0..1 (passed in for tests).
    pub fn delay(&self, failures: u32, draw: f64) -> Duration {
        match self.backoff {
            Backoff::None => self.retry_delay,
            Backoff::Exponential => {
                let shift = failures.saturating_sub(1).min(16);
                let full = self
                    .retry_delay
                    .saturating_mul(1u32 << shift)
                    .min(self.max_retry_delay);
                let half = full / 2;
                half + half.mul_f64(draw.clamp(0.0, 1.0))
            }
        }
    }
}

/// The global policy and each route's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policies {
    pub default: RetryPolicy,
    pub routes: BTreeMap<String, RetryPolicy>,
}

impl Policies {
    /// The policy of `route` (the global one when the route sets none or is `None`).
    pub fn for_route(&self, route: Option<&str>) -> &RetryPolicy {
        route
            .and_then(|r| self.routes.get(r))
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp() -> RetryPolicy {
        RetryPolicy {
            retry_delay: Duration::from_millis(100),
            backoff: Backoff::Exponential,
            max_retry_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn fixed_delay_ignores_the_attempt_number() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.3), Duration::from_millis(500));
        assert_eq!(p.delay(5, 0.9), Duration::from_millis(500));
    }

    #[test]
    fn exponential_doubles_within_its_jitter_band_and_caps() {
        let p = exp();
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(10, 1.0), Duration::from_millis(1000));
        assert_eq!(p.delay(u32::MAX, 1.0), Duration::from_millis(1000));
    }
}
