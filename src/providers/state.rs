//! One provider's measured state as a pure machine over explicit time: the models'
//! windows, the provider-wide window, heartbeats, the breaker and the provider's own
//! back-off. The [`super::actor::ProviderActor`] feeds it outcomes and heartbeats and
//! publishes what [`ProviderState::health`] says; the routing benchmark
//! (`benches/routing`) drives the very same machine on a virtual clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::{Breaker, CircuitState, Transition};
use super::estimate::Estimate;
use super::health::{AttemptOutcome, HeartbeatHealth, ModelHealth, ProviderHealth};
use super::window::{Sample, WINDOWS_KEPT, Window};
use crate::config::{HealthConfig, ModelConfig};
use crate::error::ErrorClass;

/// What recording one outcome changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recorded {
    /// The outcome counted (client faults do not).
    pub counted: bool,
    /// The breaker moved.
    pub transition: Option<Transition>,
    /// The provider asked for a longer pause than the one already kept: this long.
    pub backoff: Option<Duration>,
}

/// The measured state of one provider and its models.
#[derive(Debug)]
pub struct ProviderState {
    /// `ModelConfig::index` of each model, in the order of `windows`.
    models: Vec<usize>,
    windows: Vec<Window>,
    /// The decayed estimates of each model, in the order of `windows`.
    estimates: Vec<Estimate>,
    /// All of the provider's outcomes, for its error rate.
    all: Window,
    heartbeats: Window,
    heartbeat_failures: u32,
    heartbeat_last_ok: Option<bool>,
    breaker: Breaker,
    rate_limited_until: Option<Instant>,
    cfg: HealthConfig,
}

impl ProviderState {
    /// Nothing measured yet for `models`.
    pub fn new(models: &[Arc<ModelConfig>], cfg: HealthConfig, now: Instant) -> Self {
        Self {
            models: models.iter().map(|m| m.index).collect(),
            windows: models
                .iter()
                .map(|_| Window::new(cfg.latency_window, now))
                .collect(),
            estimates: vec![Estimate::new(cfg.estimate_half_life); models.len()],
            all: Window::new(cfg.latency_window, now),
            heartbeats: Window::new(cfg.latency_window, now),
            heartbeat_failures: 0,
            heartbeat_last_ok: None,
            breaker: Breaker::new(cfg.failure_threshold, cfg.open_cooldown),
            rate_limited_until: None,
            cfg,
        }
    }

    /// Whether `model` (a `ModelConfig::index`) is one of this provider's.
    pub fn serves(&self, model: usize) -> bool {
        self.models.contains(&model)
    }

    /// The breaker, as it stands.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// A fresh closed breaker (after the actor found its state broken).
    pub fn reset_breaker(&mut self) {
        self.breaker = Breaker::new(self.cfg.failure_threshold, self.cfg.open_cooldown);
    }

    /// Whether the breaker is closed and no back-off is kept.
    pub fn calm(&self) -> bool {
        self.breaker.state() == CircuitState::Closed && self.rate_limited_until.is_none()
    }

    /// Records one attempt's outcome at `now`. An outcome for a model this provider
    /// does not serve is not recorded (`counted` false, see [`Self::serves`]).
    pub fn record(&mut self, o: &AttemptOutcome, now: Instant) -> Recorded {
        let Some(pos) = self.models.iter().position(|m| *m == o.model) else {
            return Recorded::default();
        };
        // The client's own mistakes say nothing about the provider's health.
        if o.error.is_some_and(is_client_fault) {
            return Recorded::default();
        }
        let sample = Sample {
            latency: o.error.is_none().then_some(o.latency),
            ttft: o.ttft,
            error: o.error,
            output_tokens: o.output_tokens,
        };
        self.windows[pos].record(now, sample);
        let ok = o.error.is_none().then_some((o.latency, o.ttft));
        self.estimates[pos].observe(now, ok);
        self.all.record(now, sample);
        let transition = match o.error {
            None => self.breaker.on_success(),
            // A 429 is the provider protecting itself, not failing: honour the wait.
            Some(ErrorClass::RateLimited) => None,
            Some(_) => self.breaker.on_failure(now),
        };
        let mut backoff = None;
        if let Some(wait) = o.retry_after
            && matches!(
                o.error,
                Some(ErrorClass::RateLimited | ErrorClass::Overloaded)
            )
        {
            let until = now + wait;
            if self.rate_limited_until.is_none_or(|u| u < until) {
                self.rate_limited_until = Some(until);
                backoff = Some(wait);
            }
        }
        Recorded {
            counted: true,
            transition,
            backoff,
        }
    }

    /// Records a heartbeat's result; returns the breaker's move, and whether the
    /// published heartbeat state changed at all.
    pub fn on_heartbeat(
        &mut self,
        ok: bool,
        rtt: Duration,
        now: Instant,
    ) -> (Option<Transition>, bool) {
        let t = if ok {
            self.heartbeats.record(
                now,
                Sample {
                    latency: Some(rtt),
                    ..Sample::default()
                },
            );
            self.heartbeat_failures = 0;
            self.breaker.on_heartbeat_ok()
        } else {
            self.heartbeat_failures += 1;
            if self.heartbeat_failures >= self.cfg.heartbeat_failure_threshold {
                self.breaker.on_heartbeats_failed(now)
            } else {
                None
            }
        };
        let changed = self.heartbeat_last_ok != Some(ok) || t.is_some();
        self.heartbeat_last_ok = Some(ok);
        (t, changed)
    }

    /// Consecutive failed heartbeats.
    pub fn heartbeat_failures(&self) -> u32 {
        self.heartbeat_failures
    }

    /// Applies the passage of time: the breaker's cooldown, the end of a back-off.
    /// Returns the breaker's move, and whether anything changed.
    pub fn poll(&mut self, now: Instant) -> (Option<Transition>, bool) {
        let t = self.breaker.poll(now);
        let mut changed = t.is_some();
        if self.rate_limited_until.is_some_and(|until| until <= now) {
            self.rate_limited_until = None;
            changed = true;
        }
        (t, changed)
    }

    /// The provider's health and its models' as of `now`.
    pub fn health(
        &self,
        now: Instant,
        restarts: u64,
    ) -> (ProviderHealth, Vec<(usize, ModelHealth)>) {
        let span = self.cfg.latency_window;
        let all = self.all.summary(now, span);
        let hb = self.heartbeats.summary(now, span);
        let health = ProviderHealth {
            circuit: self.breaker.state(),
            open_cause: (self.breaker.state() != CircuitState::Closed)
                .then(|| self.breaker.cause()),
            error_rate: all.error_rate(),
            recent_requests: all.ok + all.errors,
            heartbeat: HeartbeatHealth {
                rtt: hb.latency,
                last_ok: self.heartbeat_last_ok,
                consecutive_failures: self.heartbeat_failures,
            },
            rate_limited_until: self.rate_limited_until.filter(|t| *t > now),
            restarts,
        };
        let models = self
            .models
            .iter()
            .zip(self.windows.iter().zip(&self.estimates))
            .map(|(&index, (w, estimate))| {
                let s = w.summary(now, span);
                let long = w.summary(now, span * WINDOWS_KEPT);
                let health = ModelHealth {
                    latency: s.latency,
                    ttft: s.ttft,
                    latency_long: long.latency,
                    ok: s.ok,
                    errors: s.errors,
                    error_rate: s.error_rate(),
                    avg_output_tokens: long.avg_output_tokens,
                    last_sample: w.last_sample(),
                    estimate: *estimate,
                };
                (index, health)
            })
            .collect();
        (health, models)
    }
}

/// Errors caused by the request, not the provider.
fn is_client_fault(c: ErrorClass) -> bool {
    matches!(
        c,
        ErrorClass::InvalidRequest
            | ErrorClass::ContextLength
            | ErrorClass::NotFound
            | ErrorClass::ContentFilter
    )
}
