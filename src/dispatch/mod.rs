//! Runs a plan: for each candidate, a key and a rate-limit reservation from the
//! provider's pool, the adapter builds the upstream request, reqwest sends it, the
//! adapter parses the answer; a retryable failure moves on to the next candidate after
//! the route's retry delay ([`crate::config::policy`]). Streams fail over invisibly until their first
//! event, then are relayed chunk by chunk as they arrive ([`relay`]). The rules are in
//! docs/failover.md.

pub mod cluster;
pub mod rechunk;
pub mod relay;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;

use crate::canonical::{ChatRequest, ChatResponse, ids};
use crate::config::policy::RetryPolicy;
use crate::config::{DispatchConfig, ModelConfig};
use crate::error::{ErrorClass, GatewayError, UpstreamError};
use crate::providers::Providers;
use crate::providers::keys::{Admission, KeyPool, Lease, PoolKey};
use crate::upstream::{self, Upstream};
use cluster::{Admitted, ClusterAdmission, ClusterLease};
pub use relay::EventSink;
pub use relay::RelayStream;
pub use report::Reporter;

/// Longest `Retry-After` the gateway will wait out on the same candidate; longer waits
/// make it skip that candidate for the rest of the request.
const MAX_RETRY_AFTER_WAIT: Duration = Duration::from_secs(2);
/// Output tokens reserved in the token bucket when the request sets no `max_tokens`.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// Who answered and after how many attempts.
#[derive(Debug, Clone)]
pub struct Answered {
    pub model: Arc<ModelConfig>,
    pub attempts: u32,
}

/// A successful answer.
pub enum Outcome {
    Complete(ChatResponse),
    /// Boxed: a relay carries its decoder, encoder and buffers.
    Stream(Box<RelayStream>),
}

/// A failed request and how many attempts it took.
#[derive(Debug, Clone)]
pub struct Failed {
    pub error: GatewayError,
    pub attempts: u32,
}

/// What the request says about itself beyond its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions<'a> {
    /// The route the plan came from: its retry policy applies.
    pub route: Option<&'a str>,
    /// The client's own deadline (`x-switchyard-timeout-ms`); the route's still caps it.
    pub timeout: Option<Duration>,
    /// The client's latency budget (`x-switchyard-max-latency-ms`): a rate-limit queue
    /// longer than this moves on to the next candidate instead.
    pub latency_budget: Option<Duration>,
    /// The request's [`ChatRequest::prompt_tokens_estimate`], computed once by the API.
    pub prompt_tokens: u64,
}

/// Sends requests upstream and reports every attempt to its provider's actor.
#[derive(Clone)]
pub struct Dispatcher {
    upstream: Upstream,
    providers: Arc<Providers>,
    /// Replaced by a config reload; each run reads it once.
    config: Arc<ArcSwap<DispatchConfig>>,
    /// With `[cluster]`: the provider keys' buckets shared by every replica.
    cluster: Option<Arc<ClusterAdmission>>,
}

/// The bookkeeping of one [`Dispatcher::run_with`].
struct Run<'p> {
    plan: &'p [Arc<ModelConfig>],
    policy: &'p RetryPolicy,
    deadline: Instant,
    attempts: u32,
    /// Retryable failures so far (the backoff exponent).
    failures: u32,
    /// Wait before the next attempt.
    delay: Duration,
    /// Candidates out of this request: long Retry-After, saturated, no keys, too small.
    skipped: Vec<bool>,
    /// A short Retry-After: not before this.
    not_before: Vec<Option<Instant>>,
    last: Option<UpstreamError>,
    /// The soonest a saturated candidate frees up.
    saturated: Option<Duration>,
    /// The soonest a candidate skipped for its provider's long 429 Retry-After may be
    /// asked again.
    backing_off: Option<Duration>,
    deadline_passed: bool,
}

impl Dispatcher {
    /// A dispatcher sharing `upstream`'s connection pool.
    pub fn new(config: DispatchConfig, upstream: Upstream, providers: Arc<Providers>) -> Self {
        Self {
            upstream,
            providers,
            config: Arc::new(ArcSwap::from_pointee(config)),
            cluster: None,
        }
    }

    /// Admits every request also through the cluster's shared buckets.
    pub fn with_cluster(mut self, cluster: Arc<ClusterAdmission>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Takes a reloaded config's retry policies and rechunking; runs already under
    /// way finish with the ones they started with.
    pub fn reconfigure(&self, config: DispatchConfig) {
        self.config.store(Arc::new(config));
    }

    /// The provider actors.
    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    /// Tries the plan's candidates in order (cycling while attempts remain) until one
    /// answers, a non-retryable error occurs, attempts run out or the deadline passes.
    pub async fn run_with(
        &self,
        req: &ChatRequest,
        plan: &[Arc<ModelConfig>],
        opts: RunOptions<'_>,
    ) -> Result<(Outcome, Answered), Failed> {
        let config = self.config.load_full();
        let policy = config.policies.for_route(opts.route);
        let timeout = opts
            .timeout
            .map_or(policy.request_timeout, |t| t.min(policy.request_timeout));
        let mut run = Run::new(plan, policy, Instant::now() + timeout);
        let output = req
            .max_output_tokens()
            .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        let tokens = opts.prompt_tokens + output;
        'cycle: while run.attempts < policy.max_attempts {
            let mut tried_any = false;
            let mut i = 0;
            while i < plan.len() {
                if run.attempts >= policy.max_attempts {
                    break 'cycle;
                }
                match self.turn(&mut run, i, req, tokens, &opts).await {
                    Turn::Skip => i += 1,
                    Turn::Retry(step) => {
                        tried_any = true;
                        if matches!(step, Step::Next) {
                            i += 1;
                        }
                    }
                    Turn::Deadline => {
                        run.deadline_passed = true;
                        break 'cycle;
                    }
                    Turn::Done(result) => return result,
                }
            }
            if !tried_any {
                break;
            }
        }
        Err(run.into_failure())
    }

    /// A key of candidate `i`'s provider with room for `tokens` within `budget`: from
    /// the local buckets, then (with `[cluster]`) the cluster's. `None`: the candidate
    /// is skipped for this request (saturated, or without keys).
    async fn admit(
        &self,
        run: &mut Run<'_>,
        i: usize,
        pool: &KeyPool,
        tokens: u64,
        budget: Duration,
    ) -> Option<(Duration, Lease, Option<ClusterLease>)> {
        let (queued, lease) = match pool.admit(tokens, budget) {
            Admission::Go(queued, lease) => (queued, lease),
            Admission::Saturated(free_in) => {
                tracing::debug!(provider = %pool.provider(), wait_ms = free_in.as_millis() as u64, "rate limit: candidate saturated, moving on");
                run.saturated(i, free_in);
                return None;
            }
            Admission::NoKeys => {
                run.skipped[i] = true;
                return None;
            }
        };
        let Some(cluster) = &self.cluster else {
            return Some((queued, lease, None));
        };
        match cluster.admit(pool, lease.key(), tokens, budget).await {
            Admitted::Go(wait, shared) => Some((queued.max(wait), lease, shared)),
            Admitted::Saturated(free_in) => {
                // The lease goes back unused: the local bucket is refunded.
                run.saturated(i, free_in);
                None
            }
        }
    }

    /// Candidate `i`'s turn: skipped, or waited for, admitted and tried once.
    async fn turn(
        &self,
        run: &mut Run<'_>,
        i: usize,
        req: &ChatRequest,
        tokens: u64,
        opts: &RunOptions<'_>,
    ) -> Turn {
        if run.skipped[i] {
            return Turn::Skip;
        }
        let plan = run.plan;
        let model = &plan[i];
        let Some(pool) = self.providers.keys(model.provider.index) else {
            run.skipped[i] = true;
            return Turn::Skip;
        };
        // The retry delay, or the provider's own short Retry-After.
        let now = Instant::now();
        let mut wait = run.delay;
        if let Some(t) = run.not_before[i] {
            wait = wait.max(t.saturating_duration_since(now));
        }
        if now + wait >= run.deadline {
            return Turn::Deadline;
        }
        let budget = (run.deadline - now - wait).min(opts.latency_budget.unwrap_or(Duration::MAX));
        let Some((queued, lease, shared)) = self.admit(run, i, pool, tokens, budget).await else {
            return Turn::Skip;
        };
        let wait = wait.max(queued);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        run.attempts += 1;
        run.delay = Duration::ZERO;
        let key = lease.key().clone();
        let attempt = self.attempt(
            req,
            model,
            (lease, pool.clone(), shared),
            opts.prompt_tokens,
        );
        let Ok(result) = tokio::time::timeout_at(run.deadline, attempt).await else {
            return Turn::Deadline;
        };
        match result {
            Ok(outcome) => Turn::Done(Ok((
                outcome,
                Answered {
                    model: model.clone(),
                    attempts: run.attempts,
                },
            ))),
            Err(AttemptError::Client(error)) => Turn::Done(Err(Failed {
                error,
                attempts: run.attempts,
            })),
            Err(AttemptError::Upstream(e)) => run.failed(i, e, &key, pool),
        }
    }

    async fn attempt(
        &self,
        req: &ChatRequest,
        model: &Arc<ModelConfig>,
        (mut lease, pool, shared): (Lease, Arc<KeyPool>, Option<ClusterLease>),
        prompt_tokens: u64,
    ) -> Result<Outcome, AttemptError> {
        let adapter = model.provider.kind.adapter();
        let up = adapter
            .build_request(req, model, lease.key().secret())
            .map_err(AttemptError::Client)?;
        lease.sent();
        let reporter = Reporter {
            providers: self.providers.clone(),
            model: model.clone(),
            started: Instant::now(),
            _in_flight: self
                .providers
                .get(model.provider.index)
                .map(|h| h.shared.begin()),
            lease: Some((lease, pool)),
            shared,
            prompt_tokens,
        };
        self.exchange(req, model, up, reporter).await
    }

    async fn exchange(
        &self,
        req: &ChatRequest,
        model: &Arc<ModelConfig>,
        up: crate::adapters::UpstreamRequest,
        mut reporter: Reporter,
    ) -> Result<Outcome, AttemptError> {
        let adapter = model.provider.kind.adapter();
        let mut observed = None;
        let sent = self
            .upstream
            .send_observed(&model.provider, up, req.stream, |h| {
                observed = reporter.lease.as_ref().and_then(|(l, _)| l.observe(h));
            })
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(mut e) => {
                // A 429 without Retry-After: the exhausted limit's reset says how long.
                if e.class == ErrorClass::RateLimited && e.retry_after.is_none() {
                    e.retry_after = observed.and_then(|o| o.retry_after());
                }
                return Err(reporter.failed(e).into());
            }
        };
        if req.stream {
            let prompt_estimate = reporter.prompt_tokens;
            match RelayStream::open(resp, adapter.stream_decoder(), model, prompt_estimate).await {
                Ok(relay) => Ok(Outcome::Stream(Box::new(
                    relay
                        .with_rechunk(self.config.load().rechunk)
                        .with_reporter(reporter),
                ))),
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
            reporter.set_prompt_tokens(c.usage.prompt_tokens);
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

/// How a candidate's turn ended.
#[expect(
    clippy::large_enum_variant,
    reason = "a Turn is moved once, on the stack; boxing the answer would allocate per request"
)]
enum Turn {
    /// Not tried: skipped, saturated, or without keys.
    Skip,
    /// Tried and failed retryably: what to do next.
    Retry(Step),
    /// The request's deadline came first.
    Deadline,
    /// The request's answer or final failure.
    Done(Result<(Outcome, Answered), Failed>),
}

/// What to do after a failed attempt.
enum Step {
    /// Try the same candidate again at once (another key).
    Same,
    /// Move on to the next candidate.
    Next,
    /// Answer the client with this error.
    Stop,
}

impl<'p> Run<'p> {
    fn new(plan: &'p [Arc<ModelConfig>], policy: &'p RetryPolicy, deadline: Instant) -> Self {
        Self {
            plan,
            policy,
            deadline,
            attempts: 0,
            failures: 0,
            delay: Duration::ZERO,
            skipped: vec![false; plan.len()],
            not_before: vec![None; plan.len()],
            last: None,
            saturated: None,
            backing_off: None,
            deadline_passed: false,
        }
    }

    /// Candidate `i` is at its rate limit for `free_in`: out of this request.
    fn saturated(&mut self, i: usize, free_in: Duration) {
        self.saturated = Some(self.saturated.map_or(free_in, |s| s.min(free_in)));
        self.skipped[i] = true;
    }

    /// Candidate `i`'s attempt failed upstream with `e`: logged (the key redacted,
    /// named by fingerprint only), then retried, moved on from, or answered.
    fn failed(&mut self, i: usize, mut e: UpstreamError, key: &PoolKey, pool: &KeyPool) -> Turn {
        let model = &self.plan[i];
        e.provider = model.provider.name.to_string();
        redact(&mut e, key.secret().expose());
        tracing::warn!(
            provider = %model.provider.name,
            model = %model.name,
            key = key.fingerprint(),
            error = e.class.kind(),
            status = e.status,
            attempt = self.attempts,
            "upstream attempt failed"
        );
        let step = self.next_step(i, &e, pool);
        if matches!(step, Step::Stop) {
            return Turn::Done(Err(Failed {
                error: e.into(),
                attempts: self.attempts,
            }));
        }
        self.last = Some(e);
        Turn::Retry(step)
    }

    /// Decides the next step after candidate `i` failed with `e`.
    fn next_step(&mut self, i: usize, e: &UpstreamError, pool: &KeyPool) -> Step {
        match e.class {
            // The gateway's key, not the request: the pool has disabled it. Another key
            // of the same provider goes at once; with none left, the next candidate.
            ErrorClass::Auth => {
                if pool.enabled() > 0 {
                    return Step::Same;
                }
                self.skipped[i] = true;
                Step::Next
            }
            // Too long for this window: only candidates with a larger one may answer.
            ErrorClass::ContextLength if self.policy.context_fallback => {
                let window = self.plan[i].context_window;
                let mut any = false;
                for (j, m) in self.plan.iter().enumerate() {
                    if m.context_window <= window {
                        self.skipped[j] = true;
                    } else {
                        any |= !self.skipped[j];
                    }
                }
                if any { Step::Next } else { Step::Stop }
            }
            _ if !e.is_retryable() => Step::Stop,
            _ => {
                self.failures += 1;
                self.delay = self.policy.delay(self.failures, rand::random());
                match e.retry_after {
                    Some(d) if d > MAX_RETRY_AFTER_WAIT => {
                        self.skipped[i] = true;
                        if e.class == ErrorClass::RateLimited {
                            self.backing_off = Some(self.backing_off.map_or(d, |b| b.min(d)));
                        }
                    }
                    Some(d) => self.not_before[i] = Some(Instant::now() + d),
                    None => {}
                }
                Step::Next
            }
        }
    }

    /// The answer when no candidate answered.
    fn into_failure(self) -> Failed {
        let attempts = self.attempts;
        let all_skipped = self.skipped.iter().all(|s| *s);
        // The soonest a rate-limited candidate is free: at its limit here, or asked by
        // its provider to back off (the provider's own wait, e.g. Gemini's retryDelay).
        let rate_limited = self.saturated.into_iter().chain(self.backing_off).min();
        let error = match (rate_limited, self.last) {
            // Every candidate left is rate limited: the client should come back.
            (Some(free_in), last)
                if all_skipped
                    && last.as_ref().is_none_or(|e| e.class == ErrorClass::RateLimited) =>
            {
                GatewayError::Saturated {
                    message: "every candidate provider is at its rate limit; retry after the indicated time".to_owned(),
                    retry_after: Some(free_in.max(Duration::from_secs(1))),
                }
            }
            _ if self.deadline_passed => GatewayError::Upstream(UpstreamError::new(
                ErrorClass::Timeout,
                "no answer within the request deadline",
            )),
            (_, Some(e)) => e.into(),
            (Some(free_in), None) => GatewayError::Saturated {
                message: "every candidate provider is at its rate limit; retry after the indicated time".to_owned(),
                retry_after: Some(free_in.max(Duration::from_secs(1))),
            },
            (None, None) => GatewayError::Unavailable {
                message: "no candidate could be tried: no provider key in rotation".to_owned(),
                retry_after: None,
            },
        };
        Failed { error, attempts }
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

/// Removes the key from a provider's message, should the provider have echoed it.
fn redact(e: &mut UpstreamError, key: &str) {
    if key.len() >= 8 && e.message.contains(key) {
        e.message = e.message.replace(key, "*****");
    }
}
