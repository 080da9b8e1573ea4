//! Health as provider actors publish it and the scheduler reads it: plain values,
//! copied into one immutable snapshot per change.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::breaker::{CircuitState, OpenCause};
use super::estimate::Estimate;
use super::window::Percentiles;
use crate::error::ErrorClass;

/// Samples a window needs before its percentiles count as a live latency estimate.
pub const MIN_LIVE_SAMPLES: u64 = 3;

/// One provider's health.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderHealth {
    pub circuit: CircuitState,
    pub open_cause: Option<OpenCause>,
    /// Failed requests over all outcomes in the latency window, all models.
    pub error_rate: f64,
    /// Requests observed in the latency window.
    pub recent_requests: u64,
    pub heartbeat: HeartbeatHealth,
    /// The provider asked us (429 + Retry-After) to send nothing before this.
    #[serde(skip)]
    pub rate_limited_until: Option<Instant>,
    /// Times the supervisor restarted the actor.
    pub restarts: u64,
}

impl ProviderHealth {
    /// A provider nothing is known about yet.
    pub fn unknown() -> Self {
        Self {
            circuit: CircuitState::Closed,
            open_cause: None,
            error_rate: 0.0,
            recent_requests: 0,
            heartbeat: HeartbeatHealth::default(),
            rate_limited_until: None,
            restarts: 0,
        }
    }
}

/// Heartbeat results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HeartbeatHealth {
    /// Round-trip times over the latency window.
    pub rtt: Percentiles,
    /// Whether the latest heartbeat succeeded (`None` before the first).
    pub last_ok: Option<bool>,
    pub consecutive_failures: u32,
}

/// One model's measured behaviour at one provider.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelHealth {
    /// Whole-request latency over the latency window.
    pub latency: Percentiles,
    /// Time to first token over the latency window.
    pub ttft: Percentiles,
    /// Whole-request latency over the long (5-window) view.
    pub latency_long: Percentiles,
    pub ok: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub avg_output_tokens: Option<f64>,
    /// When the last outcome was recorded.
    #[serde(skip)]
    pub last_sample: Option<Instant>,
    /// The decayed estimates the scheduler scores from.
    pub estimate: Estimate,
}

impl ModelHealth {
    /// The tail of live latency the scheduler checks hard limits against: p90 of
    /// whole-request latency, or of time to first token for streams, when the window
    /// holds enough samples (the score itself uses the decayed mean, `estimate`).
    pub fn live_estimate_ms(&self, stream: bool) -> Option<f64> {
        let p = if stream && self.ttft.count >= MIN_LIVE_SAMPLES {
            &self.ttft
        } else {
            &self.latency
        };
        (p.count >= MIN_LIVE_SAMPLES).then_some(p.p90)
    }
}

/// What the request path and the provider actor share without messages: live
/// counters, and the mailbox of attempt outcomes.
///
/// Outcomes are not sent to the actor one message each: that was a cross-thread
/// wake-up per request, one of the largest costs on the request-path profile. They
/// wait in the mailbox until the actor's next publish tick (`[health]
/// publish_interval_ms`, the only time health reaches the scheduler anyway), unless
/// the outcome is urgent: a failure, or any outcome while the circuit is not closed,
/// wakes the actor at once so that breakers still open and close without delay.
#[derive(Debug, Default)]
pub struct ProviderShared {
    in_flight: AtomicU32,
    /// The start times of the requests in flight, summed (µs since [`epoch`]).
    started_us_sum: AtomicU64,
    outcomes: Mutex<Vec<AttemptOutcome>>,
    /// Set by the actor while its breaker is not closed or it is told to back off.
    urgent: AtomicBool,
}

impl ProviderShared {
    /// Queues an attempt's outcome; true when the actor should be woken now.
    pub fn push_outcome(&self, o: AttemptOutcome) -> bool {
        let urgent = o.error.is_some() || self.urgent.load(Ordering::Relaxed);
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(o);
        urgent
    }

    /// Takes the queued outcomes, oldest first (swapped with `spare`, which comes back
    /// empty, so the two buffers are reused).
    pub fn take_outcomes(&self, spare: &mut Vec<AttemptOutcome>) {
        spare.clear();
        std::mem::swap(
            &mut *self.outcomes.lock().unwrap_or_else(|e| e.into_inner()),
            spare,
        );
    }

    /// Whether every outcome should wake the actor (see the type's doc).
    pub fn set_urgent(&self, urgent: bool) {
        self.urgent.store(urgent, Ordering::Relaxed);
    }

    /// Requests to this provider in progress.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests in progress and how long they have been running, as of `now`.
    pub fn load(&self, now: Instant) -> Load {
        let requests = self.in_flight();
        let sum = self.started_us_sum.load(Ordering::Relaxed) as f64;
        // The two counters are read apart: a request beginning or ending in between
        // skews the sum for this one reading, so it is kept within sane bounds.
        let age_us = f64::from(requests) * micros_since_epoch(now) as f64 - sum;
        Load {
            requests,
            age_ms_sum: (age_us / 1000.0).clamp(0.0, f64::from(requests) * 3_600_000.0),
        }
    }

    /// Counts a request until the guard drops.
    pub fn begin(self: &std::sync::Arc<Self>) -> InFlight {
        let started = micros_since_epoch(Instant::now());
        self.started_us_sum.fetch_add(started, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone(), started)
    }
}

/// Requests in flight to one provider.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    pub requests: u32,
    /// The requests' ages summed, ms.
    pub age_ms_sum: f64,
}

impl Load {
    /// `requests` in flight, just begun.
    pub fn fresh(requests: u32) -> Self {
        Self {
            requests,
            age_ms_sum: 0.0,
        }
    }
}

/// The process's reference instant for in-flight start times.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn micros_since_epoch(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_micros() as u64
}

/// Decrements the in-flight count (and its start-time sum) when dropped.
#[derive(Debug)]
pub struct InFlight(std::sync::Arc<ProviderShared>, u64);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.started_us_sum.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// A provider actor's latest health.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub struct HealthUpdate {
    pub provider: usize,
    pub health: ProviderHealth,
    /// `(ModelConfig::index, health)` for the provider's models.
    pub models: Vec<(usize, ModelHealth)>,
}

/// The result of one upstream attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// `ModelConfig::index`.
    pub model: usize,
    /// Whole-attempt time (to the last byte for successes).
    pub latency: Duration,
    /// Time to the first stream event.
    pub ttft: Option<Duration>,
    /// `None` for a success.
    pub error: Option<ErrorClass>,
    /// What the provider asked us to wait.
    pub retry_after: Option<Duration>,
    pub output_tokens: Option<u64>,
}
