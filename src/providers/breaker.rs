//! The circuit breaker: explicit states, logged transitions.
//!
//! - Closed: traffic flows; `failure_threshold` consecutive failed requests open it.
//! - Open: no traffic. Opened by requests, it half-opens after `cooldown`. Opened by
//!   failed heartbeats, it half-opens on the first heartbeat that succeeds again.
//! - Half-open: one request at a time may probe; a success closes the circuit, a
//!   failure opens it again. A successful heartbeat also closes a circuit that
//!   heartbeats opened.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The breaker state as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    /// A number for the circuit-state gauge: 0 closed, 1 half-open, 2 open.
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// What opened the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenCause {
    Requests,
    Heartbeats,
}

/// A state change, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: CircuitState,
    pub to: CircuitState,
}

/// One provider's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    state: CircuitState,
    cause: OpenCause,
    opened_at: Option<Instant>,
    consecutive_failures: u32,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: CircuitState::Closed,
            cause: OpenCause::Requests,
            opened_at: None,
            consecutive_failures: 0,
            threshold,
            cooldown,
        }
    }

    /// The current state (call [`Breaker::poll`] first to apply the cooldown).
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// What opened it last.
    pub fn cause(&self) -> OpenCause {
        self.cause
    }

    /// When an open circuit will half-open, if it is open because of requests.
    pub fn reopens_at(&self) -> Option<Instant> {
        match (self.state, self.cause) {
            (CircuitState::Open, OpenCause::Requests) => self.opened_at.map(|t| t + self.cooldown),
            _ => None,
        }
    }

    /// Consecutive failed requests.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn go(&mut self, to: CircuitState) -> Option<Transition> {
        let from = self.state;
        (from != to).then(|| {
            self.state = to;
            Transition { from, to }
        })
    }

    /// A request succeeded.
    pub fn on_success(&mut self) -> Option<Transition> {
        self.consecutive_failures = 0;
        match self.state {
            CircuitState::HalfOpen => self.go(CircuitState::Closed),
            _ => None,
        }
    }

    /// A request failed in a way that counts against the provider.
    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let trip = match self.state {
            CircuitState::HalfOpen => true,
            CircuitState::Closed => self.consecutive_failures >= self.threshold,
            CircuitState::Open => false,
        };
        if trip {
            self.cause = OpenCause::Requests;
            self.opened_at = Some(now);
            self.go(CircuitState::Open)
        } else {
            None
        }
    }

    /// Heartbeats failed `threshold` times in a row: open regardless of requests.
    pub fn on_heartbeats_failed(&mut self, now: Instant) -> Option<Transition> {
        if self.state == CircuitState::Open {
            return None;
        }
        self.cause = OpenCause::Heartbeats;
        self.opened_at = Some(now);
        self.go(CircuitState::Open)
    }

    /// A heartbeat succeeded: a circuit that heartbeats opened closes again.
    pub fn on_heartbeat_ok(&mut self) -> Option<Transition> {
        match (self.state, self.cause) {
            (CircuitState::Open | CircuitState::HalfOpen, OpenCause::Heartbeats) => {
                self.consecutive_failures = 0;
                self.go(CircuitState::Closed)
            }
            _ => None,
        }
    }

    /// Applies the cooldown: a request-opened circuit half-opens once it has passed.
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        match self.reopens_at() {
            Some(at) if now >= at => self.go(CircuitState::HalfOpen),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_half_opens_after_cooldown_closes_on_probe() {
        let mut b = Breaker::new(3, Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(b.on_failure(t), None);
        assert_eq!(b.on_failure(t), None);
        let tr = b.on_failure(t).unwrap();
        assert_eq!((tr.from, tr.to), (CircuitState::Closed, CircuitState::Open));
        assert_eq!(b.poll(t + Duration::from_secs(9)), None);
        assert_eq!(
            b.poll(t + Duration::from_secs(10)).unwrap().to,
            CircuitState::HalfOpen
        );
        // A failed probe re-opens at once.
        assert_eq!(
            b.on_failure(t + Duration::from_secs(10)).unwrap().to,
            CircuitState::Open
        );
        b.poll(t + Duration::from_secs(20));
        assert_eq!(b.on_success().unwrap().to, CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeat_opened_circuit_waits_for_a_good_heartbeat() {
        let mut b = Breaker::new(3, Duration::from_secs(1));
        let t = Instant::now();
        b.on_heartbeats_failed(t);
        assert_eq!(
            b.poll(t + Duration::from_secs(60)),
            None,
            "cooldown alone does not reopen"
        );
        assert_eq!(b.on_heartbeat_ok().unwrap().to, CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_count() {
        let mut b = Breaker::new(2, Duration::from_secs(1));
        let t = Instant::now();
        b.on_failure(t);
        b.on_success();
        assert_eq!(b.on_failure(t), None);
    }
}
