//! One supervised actor per provider account: it owns the provider's sliding windows,
//! breaker and heartbeats, and publishes its health to the scheduler.
//!
//! Requests report outcomes through a shared mailbox the actor drains on its tick, or
//! at once (a `do_send`, never awaited) when the outcome is urgent (see
//! [`ProviderShared`]). Heartbeats run as spawned futures that report back to the
//! actor. A handler that finds its state broken (or the admin crash hook) stops the
//! actor; its `Supervisor` restarts it, and `restarting` rebuilds what was broken while
//! keeping configuration and statistics.

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient,
    Supervised, WrapFuture,
};
use tokio::time::Instant;

use super::breaker::Transition;
use super::health::{AttemptOutcome, HealthUpdate, ProviderShared};
use super::keys::KeyPool;
use super::state::ProviderState;
use crate::config::{HealthConfig, ModelConfig, ProviderConfig};
use crate::error::{ErrorClass, UpstreamError};
use crate::upstream::Upstream;

/// Wakes the actor to take the outcomes queued in its [`ProviderShared`] mailbox now
/// rather than at its next tick.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DrainOutcomes;

/// Stops the actor as if its state were broken (admin chaos hook and tests); the
/// supervisor restarts it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Crash;

/// The provider actor.
pub struct ProviderActor {
    provider: Arc<ProviderConfig>,
    /// Windows, heartbeats, breaker and back-off: everything measured.
    state: ProviderState,
    heartbeat_running: bool,
    cfg: HealthConfig,
    restarts: u64,
    broken: bool,
    dirty: bool,
    scheduler: Recipient<HealthUpdate>,
    upstream: Upstream,
    keys: Arc<KeyPool>,
    shared: Arc<ProviderShared>,
    /// The outcome buffer swapped with the mailbox's (kept to reuse its allocation).
    drained: Vec<AttemptOutcome>,
}

impl ProviderActor {
    /// An actor for `provider` serving `models`.
    pub fn new(
        provider: Arc<ProviderConfig>,
        models: Vec<Arc<ModelConfig>>,
        cfg: HealthConfig,
        scheduler: Recipient<HealthUpdate>,
        upstream: Upstream,
        keys: Arc<KeyPool>,
        shared: Arc<ProviderShared>,
    ) -> Self {
        Self {
            state: ProviderState::new(&models, cfg.clone(), Instant::now()),
            heartbeat_running: false,
            provider,
            cfg,
            restarts: 0,
            broken: false,
            dirty: true,
            scheduler,
            upstream,
            keys,
            shared,
            drained: Vec::new(),
        }
    }

    fn log_transition(&self, t: Option<Transition>) {
        if let Some(t) = t {
            tracing::warn!(
                provider = %self.provider.name,
                from = ?t.from,
                to = ?t.to,
                cause = ?self.state.breaker().cause(),
                "circuit state changed"
            );
            crate::metrics::record_circuit(&self.provider.name, t.to.as_gauge());
        }
    }

    fn publish(&mut self) {
        let (health, models) = self.state.health(Instant::now(), self.restarts);
        crate::metrics::record_circuit(&self.provider.name, health.circuit.as_gauge());
        crate::metrics::record_error_rate(&self.provider.name, health.error_rate);
        self.scheduler.do_send(HealthUpdate {
            provider: self.provider.index,
            health,
            models,
        });
        self.dirty = false;
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.drain(ctx);
        let (t, changed) = self.state.poll(Instant::now());
        self.dirty |= changed;
        self.log_transition(t);
        if self.dirty {
            self.publish();
        }
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.heartbeat_running {
            return;
        }
        // Heartbeats use a key in rotation; with none left (all revoked) they fail,
        // and the circuit opens: the provider cannot serve anything anyway.
        let Some(key) = self.keys.any_key() else {
            self.on_heartbeat(false, Duration::ZERO);
            return;
        };
        self.heartbeat_running = true;
        let req = self
            .provider
            .kind
            .adapter()
            .heartbeat_request(&self.provider, key.secret());
        let upstream = self.upstream.clone();
        let provider = self.provider.clone();
        let pool = self.keys.clone();
        let timeout = self.cfg.heartbeat_timeout;
        let started = Instant::now();
        let ping = async move {
            let result = tokio::time::timeout(timeout, async {
                let resp = upstream.send(&provider, req).await?;
                crate::upstream::read_body(resp).await.map(|_| ())
            })
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::new(
                    ErrorClass::Timeout,
                    "no answer within the heartbeat timeout",
                ))
            });
            if let Err(e) = &result
                && e.class == ErrorClass::Auth
            {
                pool.disable(&key);
            }
            result
        };
        ctx.spawn(ping.into_actor(self).map(move |result, act, _ctx| {
            if let Err(e) = &result {
                // The class and the provider's reason, which never holds a key.
                tracing::debug!(
                    provider = %act.provider.name,
                    class = e.class.kind(),
                    reason = %e.message,
                    "heartbeat error"
                );
            }
            act.on_heartbeat(result.is_ok(), started.elapsed());
        }));
    }

    fn on_heartbeat(&mut self, ok: bool, rtt: Duration) {
        self.heartbeat_running = false;
        crate::metrics::record_heartbeat(&self.provider.name, ok, rtt);
        let (t, changed) = self.state.on_heartbeat(ok, rtt, Instant::now());
        if !ok {
            tracing::debug!(provider = %self.provider.name, failures = self.state.heartbeat_failures(), "heartbeat failed");
        }
        self.dirty |= changed;
        self.log_transition(t);
        if t.is_some() {
            self.publish();
        }
    }
}

impl Actor for ProviderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.publish();
        self.heartbeat(ctx);
        ctx.run_interval(self.cfg.heartbeat_interval, |act, ctx| act.heartbeat(ctx));
        ctx.run_interval(self.cfg.publish_interval, |act, ctx| act.tick(ctx));
    }
}

impl Supervised for ProviderActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts += 1;
        if self.broken {
            // Rebuild what may be inconsistent; configuration and windows stay.
            self.state.reset_breaker();
            self.heartbeat_running = false;
            self.broken = false;
        }
        self.dirty = true;
        tracing::warn!(provider = %self.provider.name, restarts = self.restarts, "provider actor restarted");
    }
}

impl ProviderActor {
    /// Records every outcome waiting in the mailbox, oldest first.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        let mut batch = std::mem::take(&mut self.drained);
        self.shared.take_outcomes(&mut batch);
        for o in batch.drain(..) {
            if self.broken {
                break;
            }
            self.record(o, ctx);
        }
        self.drained = batch;
        // While the breaker is not closed (or the provider asked for a pause), every
        // outcome matters at once: successes close a half-open circuit.
        self.shared.set_urgent(!self.state.calm());
    }

    fn record(&mut self, o: AttemptOutcome, ctx: &mut Context<Self>) {
        if !self.state.serves(o.model) {
            // An outcome for a model this actor does not serve: its state is not what
            // the dispatcher believes. Stop and let the supervisor rebuild it.
            tracing::error!(provider = %self.provider.name, model = o.model, "outcome for an unknown model");
            self.broken = true;
            ctx.stop();
            return;
        }
        let r = self.state.record(&o, Instant::now());
        if !r.counted {
            return;
        }
        if let Some(wait) = r.backoff {
            tracing::info!(provider = %self.provider.name, wait_ms = wait.as_millis() as u64, "provider asked to back off");
            self.publish();
        }
        self.dirty = true;
        // A failure moves the estimates the scheduler leaves a provider by: at once.
        if r.transition.is_some() || o.error.is_some() {
            self.log_transition(r.transition);
            self.publish();
        }
    }
}

impl Handler<DrainOutcomes> for ProviderActor {
    type Result = ();

    fn handle(&mut self, _: DrainOutcomes, ctx: &mut Context<Self>) {
        self.drain(ctx);
    }
}

impl Handler<Crash> for ProviderActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        tracing::warn!(provider = %self.provider.name, "provider actor crash requested");
        self.broken = true;
        ctx.stop();
    }
}
