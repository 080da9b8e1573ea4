//! `[health]`: how provider actors measure and judge a provider's health: the
//! heartbeat, the circuit breaker's thresholds and cooldown, the latency window the
//! scheduler scores from, and how often health is published.

use std::time::Duration;

use super::raw::RawHealth;
use super::{ConfigError, invalid, positive};

/// Default heartbeat period: an outage shows within seconds, while a provider sees
/// only six extra calls a minute.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 10_000;
/// Default heartbeat timeout: half the period, so one heartbeat ends before the next.
pub const DEFAULT_HEARTBEAT_TIMEOUT_MS: u64 = 5_000;
/// Default failed requests in a row that open the circuit: more than a few unlucky
/// requests, few enough that a dead provider costs little traffic.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default failed heartbeats in a row that open the circuit: heartbeats are sparse, so
/// two (about 20 s) already make a pattern.
pub const DEFAULT_HEARTBEAT_FAILURE_THRESHOLD: u32 = 2;
/// Default time an open circuit stays open: one heartbeat period, so the probe comes
/// about when the next heartbeat would.
pub const DEFAULT_OPEN_COOLDOWN_MS: u64 = 10_000;
/// Default latency window: a minute follows a slowdown quickly and still holds enough
/// samples for stable percentiles.
pub const DEFAULT_LATENCY_WINDOW_MS: u64 = 60_000;
/// Default publish interval: the scheduler sees a change within a quarter second,
/// without one snapshot per request.
pub const DEFAULT_PUBLISH_INTERVAL_MS: u64 = 250;
/// Default half-life of the decayed estimates: a slowdown or a recovery outweighs
/// what came before within about two seconds of traffic, while a second of traffic
/// at a few requests per second still averages over several answers.
pub const DEFAULT_ESTIMATE_HALF_LIFE_MS: u64 = 1_500;

/// How provider health is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub failure_threshold: u32,
    pub heartbeat_failure_threshold: u32,
    pub open_cooldown: Duration,
    pub latency_window: Duration,
    pub publish_interval: Duration,
    pub estimate_half_life: Duration,
}

/// Checks `[health]`: every duration and count is above zero.
pub(super) fn validate(h: &RawHealth) -> Result<HealthConfig, ConfigError> {
    let ms = |field: &str, v: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(positive(
            "health", field, v, default,
        )?))
    };
    let count = |field: &str, v: Option<u32>, default: u32| -> Result<u32, ConfigError> {
        match v {
            Some(0) => Err(invalid(format!("health.{field}"), "expected a number > 0")),
            v => Ok(v.unwrap_or(default)),
        }
    };
    Ok(HealthConfig {
        heartbeat_interval: ms(
            "heartbeat_interval_ms",
            h.heartbeat_interval_ms,
            DEFAULT_HEARTBEAT_INTERVAL_MS,
        )?,
        heartbeat_timeout: ms(
            "heartbeat_timeout_ms",
            h.heartbeat_timeout_ms,
            DEFAULT_HEARTBEAT_TIMEOUT_MS,
        )?,
        failure_threshold: count(
            "failure_threshold",
            h.failure_threshold,
            DEFAULT_FAILURE_THRESHOLD,
        )?,
        heartbeat_failure_threshold: count(
            "heartbeat_failure_threshold",
            h.heartbeat_failure_threshold,
            DEFAULT_HEARTBEAT_FAILURE_THRESHOLD,
        )?,
        open_cooldown: ms(
            "open_cooldown_ms",
            h.open_cooldown_ms,
            DEFAULT_OPEN_COOLDOWN_MS,
        )?,
        latency_window: ms(
            "latency_window_ms",
            h.latency_window_ms,
            DEFAULT_LATENCY_WINDOW_MS,
        )?,
        publish_interval: ms(
            "publish_interval_ms",
            h.publish_interval_ms,
            DEFAULT_PUBLISH_INTERVAL_MS,
        )?,
        estimate_half_life: ms(
            "estimate_half_life_ms",
            h.estimate_half_life_ms,
            DEFAULT_ESTIMATE_HALF_LIFE_MS,
        )?,
    })
}
