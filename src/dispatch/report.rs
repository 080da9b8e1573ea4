//! [`Reporter`]: reports one attempt's outcome to its provider actor, updates the
//! attempt metrics, and settles the attempt's key lease (a 401/403 disables the key, a
//! 429's wait blocks it, the real usage reconciles the token estimate).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ModelConfig;
use crate::error::{ErrorClass, UpstreamError};
use crate::providers::Providers;
use crate::providers::health::AttemptOutcome;
use crate::providers::keys::{KeyPool, Lease};

/// Reports one attempt's outcome and holds its in-flight count and key lease.
pub struct Reporter {
    pub(super) providers: Arc<Providers>,
    pub(super) model: Arc<ModelConfig>,
    pub(super) started: Instant,
    pub(super) _in_flight: Option<crate::providers::health::InFlight>,
    pub(super) lease: Option<(Lease, Arc<KeyPool>)>,
    /// The cluster's reservation for the same key, with `[cluster]`.
    pub(super) shared: Option<super::cluster::ClusterLease>,
    /// Prompt tokens as estimated, until the provider reports them.
    pub(super) prompt_tokens: u64,
}

impl Reporter {
    /// The attempt failed; passes the error through.
    pub fn failed(mut self, e: UpstreamError) -> UpstreamError {
        if let Some((lease, pool)) = self.lease.take() {
            match e.class {
                ErrorClass::Auth => pool.disable(lease.key()),
                ErrorClass::RateLimited | ErrorClass::Overloaded => {
                    if let Some(wait) = e.retry_after {
                        lease.back_off(wait);
                        if let Some(shared) = &self.shared {
                            shared.share_backoff(pool.provider(), lease.key(), wait);
                        }
                    }
                }
                _ => {}
            }
        }
        self.send(Some(&e), None, None);
        e
    }

    /// The prompt tokens the provider counted (non-stream answers know them early).
    pub fn set_prompt_tokens(&mut self, n: u64) {
        self.prompt_tokens = n;
    }

    /// The attempt succeeded.
    pub fn succeeded(mut self, ttft: Option<Duration>, output_tokens: Option<u64>) {
        if let (Some((lease, _)), Some(out)) = (self.lease.as_mut(), output_tokens) {
            lease.reconcile(self.prompt_tokens + out);
        }
        if let (Some(shared), Some(out)) = (self.shared.take(), output_tokens) {
            shared.settle(self.prompt_tokens + out);
        }
        self.send(None, ttft, output_tokens);
    }

    fn send(&self, e: Option<&UpstreamError>, ttft: Option<Duration>, output_tokens: Option<u64>) {
        let latency = self.started.elapsed();
        crate::metrics::record_attempt(&self.model, e.map(|e| e.class), latency, ttft);
        self.providers.report(
            self.model.provider.index,
            AttemptOutcome {
                model: self.model.index,
                latency,
                ttft,
                error: e.map(|e| e.class),
                retry_after: e.and_then(|e| e.retry_after),
                output_tokens,
            },
        );
    }

    /// Time since the attempt started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
