//! Runs a plan: for each candidate, the adapter builds the upstream request, reqwest
//! sends it, the adapter parses the answer; a retryable failure moves on to the next
//! candidate after the configured delay. Streams fail over invisibly until their first
//! event, then are relayed chunk by chunk as they arrive ([`relay`]).

pub mod relay;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::canonical::{ChatRequest, ChatResponse, ids};
use crate::config::{DispatchConfig, ModelConfig, Secret};
use crate::error::{GatewayError, UpstreamError};
use crate::providers::Providers;
use crate::providers::actor::Outcome as Report;
pub use relay::RelayStream;
use upstream::Upstream;

/// Longest `Retry-After` the gateway will wait out on the same candidate; longer waits
/// make it skip that candidate for the rest of the request.
const MAX_RETRY_AFTER_WAIT: Duration = Duration::from_secs(2);

/// Who answered and after how many attempts.
#[derive(Debug, Clone)]
pub struct Answered {
    pub model: Arc<ModelConfig>,
    pub attempts: u32,
}

/// A successful answer.
pub enum Outcome {
    Complete(ChatResponse),
    Stream(RelayStream),
}

/// A failed request and how many attempts it took.
#[derive(Debug)]
pub struct Failed {
    pub error: GatewayError,
    pub attempts: u32,
}

/// Sends requests upstream and reports every attempt to its provider's actor.
#[derive(Clone)]
pub struct Dispatcher {
    upstream: Upstream,
    providers: Arc<Providers>,
    config: DispatchConfig,
}

impl Dispatcher {
    /// A dispatcher sharing `upstream`'s connection pool.
    pub fn new(config: DispatchConfig, upstream: Upstream, providers: Arc<Providers>) -> Self {
        Self {
            upstream,
            providers,
            config,
        }
    }

    /// The provider actors.
    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    /// Tries the plan's candidates in order (cycling while attempts remain) until one
    /// answers, a non-retryable error occurs, or attempts run out.
    pub async fn run(
        &self,
        req: &ChatRequest,
        plan: &[Arc<ModelConfig>],
    ) -> Result<(Outcome, Answered), Failed> {
        let mut attempts = 0u32;
        let mut last: Option<UpstreamError> = None;
        let mut skipped = vec![false; plan.len()];
        let max = self.config.max_attempts;
        'outer: while attempts < max {
            let mut tried_any = false;
            for (i, model) in plan.iter().enumerate() {
                if attempts >= max {
                    break 'outer;
                }
                if skipped[i] {
                    continue;
                }
                if attempts > 0 {
                    tokio::time::sleep(self.config.retry_delay).await;
                }
                tried_any = true;
                attempts += 1;
                let key = model
                    .provider
                    .keys
                    .first()
                    .cloned()
                    .unwrap_or_else(|| Secret::new(""));
                match self.attempt(req, model, &key).await {
                    Ok(outcome) => {
                        return Ok((
                            outcome,
                            Answered {
                                model: model.clone(),
                                attempts,
                            },
                        ));
                    }
                    Err(AttemptError::Client(error)) => return Err(Failed { error, attempts }),
                    Err(AttemptError::Upstream(mut e)) => {
                        e.provider.clone_from(&model.provider.name);
                        redact(&mut e, &key);
                        tracing::warn!(
                            provider = %model.provider.name,
                            model = %model.name,
                            error = e.class.kind(),
                            status = e.status,
                            attempt = attempts,
                            "upstream attempt failed"
                        );
                        if !e.is_retryable() {
                            return Err(Failed {
                                error: e.into(),
                                attempts,
                            });
                        }
                        if e.retry_after.is_some_and(|d| d > MAX_RETRY_AFTER_WAIT) {
                            skipped[i] = true;
                        }
                        last = Some(e);
                    }
                }
            }
            if !tried_any {
                break;
            }
        }
        let error = match last {
            Some(e) => e.into(),
            None => GatewayError::Unavailable {
                message: "no candidate could be tried".to_owned(),
                retry_after: None,
            },
        };
        Err(Failed { error, attempts })
    }

    async fn attempt(
        &self,
        req: &ChatRequest,
        model: &Arc<ModelConfig>,
        key: &Secret,
    ) -> Result<Outcome, AttemptError> {
        let adapter = model.provider.kind.adapter();
        let up = adapter
            .build_request(req, model, key)
            .map_err(AttemptError::Client)?;
        let reporter = Reporter {
            providers: self.providers.clone(),
            model: model.clone(),
            started: Instant::now(),
            _in_flight: self
                .providers
                .get(model.provider.index)
                .map(|h| h.shared.begin()),
        };
        self.exchange(req, model, up, reporter).await
    }

    async fn exchange(
        &self,
        req: &ChatRequest,
        model: &Arc<ModelConfig>,
        up: crate::adapters::UpstreamRequest,
        reporter: Reporter,
    ) -> Result<Outcome, AttemptError> {
        let adapter = model.provider.kind.adapter();
        let resp = match self.upstream.send(&model.provider, up).await {
            Ok(r) => r,
            Err(e) => return Err(reporter.failed(e).into()),
        };
        if req.stream {
            match RelayStream::open(resp, adapter.stream_decoder(), model, req).await {
                Ok(relay) => Ok(Outcome::Stream(relay.with_reporter(reporter))),
                Err(e) => Err(reporter.failed(e).into()),
            }
        } else {
            let parsed = match upstream::read_body(resp).await {
                Ok(body) => adapter.parse_response(&body),
                Err(e) => Err(e),
            };
            let c = match parsed {
                Ok(c) => c,
                Err(e) => return Err(reporter.failed(e).into()),
            };
            reporter.succeeded(None, Some(c.usage.completion_tokens));
            Ok(Outcome::Complete(ChatResponse {
                id: ids::completion_id(),
                created: ids::unix_now(),
                model: model.name.clone(),
                message: c.message,
                finish_reason: c.finish_reason,
                usage: c.usage,
            }))
        }
    }
}

/// Why one attempt failed.
pub enum AttemptError {
    /// The request cannot be expressed for this provider: the client's fault, no retry.
    Client(GatewayError),
    /// The provider failed.
    Upstream(UpstreamError),
}

impl From<UpstreamError> for AttemptError {
    fn from(e: UpstreamError) -> Self {
        Self::Upstream(e)
    }
}

/// Reports one attempt's outcome to its provider actor and holds its in-flight count.
pub struct Reporter {
    providers: Arc<Providers>,
    model: Arc<ModelConfig>,
    started: Instant,
    _in_flight: Option<crate::providers::health::InFlight>,
}

impl Reporter {
    /// The attempt failed; passes the error through.
    pub fn failed(self, e: UpstreamError) -> UpstreamError {
        self.send(Some(&e), None, None);
        e
    }

    /// The attempt succeeded.
    pub fn succeeded(self, ttft: Option<Duration>, output_tokens: Option<u64>) {
        self.send(None, ttft, output_tokens);
    }

    fn send(&self, e: Option<&UpstreamError>, ttft: Option<Duration>, output_tokens: Option<u64>) {
        let latency = self.started.elapsed();
        crate::metrics::record_attempt(&self.model, e.map(|e| e.class), latency, ttft);
        self.providers.report(
            self.model.provider.index,
            Report {
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

/// Removes the key from a provider's message, should the provider have echoed it.
fn redact(e: &mut UpstreamError, key: &Secret) {
    let k = key.expose();
    if k.len() >= 8 && e.message.contains(k) {
        e.message = e.message.replace(k, "*****");
    }
}
