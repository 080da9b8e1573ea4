//! Plans: which candidates may answer a request, best first.
//!
//! [`Planner::plan`] resolves the request's target (a route, a model name, or
//! `provider/model`), applies route rules and the caller's tier, scores every candidate
//! against the current [`Snapshot`] (see `score`), ranks them with tie spreading and a
//! little exploration, and appends the route's and tier's fallback chains. It is pure
//! given the snapshot and the random draws, and allocates only the plan itself (plus
//! the explanation when one is asked for).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::time::Instant;

use super::actor::Snapshot;
pub use super::explain::{Decision, Explained, Explanation};
use super::explain::{DecisionLog, explain_entry};
use super::score::{self, CandidateInput, LatencySource, Terms};
use crate::config::weights::{PartialWeights, Weights};
use crate::config::{Config, ModelConfig, RouteRule, SchedulerConfig};
use crate::error::GatewayError;
use crate::providers::breaker::CircuitState;
use crate::providers::health::MIN_LIVE_SAMPLES;

/// What the planner needs to know about a request.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest<'a> {
    /// The `model` field, or the `x-switchyard-route` header when given.
    pub target: &'a str,
    pub tier: &'a str,
    /// `x-switchyard-task`, for route rules.
    pub task: Option<&'a str>,
    /// `x-switchyard-weights`.
    pub weights: PartialWeights,
    pub max_cost_usd: Option<f64>,
    pub max_latency_ms: Option<f64>,
    pub input_tokens: u64,
    pub max_output_tokens: Option<u32>,
    pub has_tools: bool,
    pub stream: bool,
    pub explain: bool,
}

/// Random draws in 0..1, passed in so planning stays deterministic under test.
#[derive(Debug, Clone, Copy)]
pub struct Draws {
    /// Below the exploration share → explore.
    pub explore: f64,
    /// Which of the tied (or stale) candidates leads.
    pub pick: f64,
}

impl Draws {
    /// Fresh random draws.
    pub fn random() -> Self {
        Self {
            explore: rand::random(),
            pick: rand::random(),
        }
    }
}

/// The ordered candidates, and why.
#[derive(Debug)]
pub struct Plan {
    pub candidates: Vec<Arc<ModelConfig>>,
    /// The route the request resolved to, if any.
    pub route: Option<Arc<str>>,
    pub explanation: Option<Explanation>,
}

#[derive(Debug)]
struct RoutePlan {
    name: Arc<str>,
    candidates: Vec<Arc<ModelConfig>>,
    fallbacks: Vec<Arc<ModelConfig>>,
    decisions: DecisionLog,
}

#[derive(Debug)]
struct TierPlan {
    routes: Option<HashSet<String>>,
    fallbacks: Vec<Arc<ModelConfig>>,
}

/// Resolves and ranks. Built once from the config.
#[derive(Debug)]
pub struct Planner {
    by_name: HashMap<String, Vec<Arc<ModelConfig>>>,
    by_qualified: HashMap<String, Arc<ModelConfig>>,
    routes: HashMap<String, RoutePlan>,
    route_names: Vec<String>,
    rules: Vec<RouteRule>,
    tiers: HashMap<String, TierPlan>,
    settings: SchedulerConfig,
}

/// Why a candidate was left out.
fn exclusion(
    snap: &Snapshot,
    m: &ModelConfig,
    in_flight: u32,
    now: Instant,
) -> Option<&'static str> {
    let p = snap.providers.get(m.provider.index)?;
    match p.circuit {
        CircuitState::Open => return Some("circuit_open"),
        CircuitState::HalfOpen if in_flight > 0 => return Some("probe_in_flight"),
        _ => {}
    }
    if p.rate_limited_until.is_some_and(|t| t > now) {
        return Some("rate_limited");
    }
    None
}

impl Planner {
    /// Indexes the config's models, routes, rules and tiers.
    pub fn new(config: &Config) -> Self {
        let mut by_name: HashMap<String, Vec<Arc<ModelConfig>>> = HashMap::new();
        let mut by_qualified = HashMap::new();
        for m in &config.models {
            by_name
                .entry(m.name.to_string())
                .or_default()
                .push(m.clone());
            by_qualified.insert(format!("{}/{}", m.provider.name, m.name), m.clone());
        }
        let expand = |names: &[String]| -> Vec<Arc<ModelConfig>> {
            let mut out: Vec<Arc<ModelConfig>> = Vec::new();
            for n in names {
                let found: Vec<Arc<ModelConfig>> = match by_qualified.get(n) {
                    Some(m) => vec![m.clone()],
                    None => by_name.get(n).cloned().unwrap_or_default(),
                };
                for m in found {
                    if !out.iter().any(|o| o.index == m.index) {
                        out.push(m);
                    }
                }
            }
            out
        };
        let routes = config
            .routes
            .iter()
            .map(|(name, r)| {
                (
                    name.clone(),
                    RoutePlan {
                        name: name.as_str().into(),
                        candidates: expand(&r.candidates),
                        fallbacks: expand(&r.fallbacks),
                        decisions: DecisionLog::default(),
                    },
                )
            })
            .collect();
        let tiers = config
            .tiers
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    TierPlan {
                        routes: t.routes.as_ref().map(|r| r.iter().cloned().collect()),
                        fallbacks: expand(&t.fallbacks),
                    },
                )
            })
            .collect();
        Self {
            by_name,
            by_qualified,
            routes,
            route_names: config.routes.keys().cloned().collect(),
            rules: config.route_rules.clone(),
            tiers,
            settings: config.scheduler.clone(),
        }
    }

    /// Route names, in config order.
    pub fn route_names(&self) -> &[String] {
        &self.route_names
    }

    /// Every `provider/model` offer.
    pub fn offers(&self) -> impl Iterator<Item = &Arc<ModelConfig>> {
        self.by_qualified.values()
    }

    /// The last decisions made for `route`, newest first.
    pub fn decisions(&self, route: &str) -> Option<Vec<Decision>> {
        Some(self.routes.get(route)?.decisions.recent())
    }

    fn rule_route(&self, req: &PlanRequest<'_>) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| {
                r.min_prompt_tokens.is_none_or(|n| req.input_tokens >= n)
                    && r.tools.is_none_or(|t| t == req.has_tools)
                    && r.task.as_deref().is_none_or(|t| req.task == Some(t))
            })
            .map(|r| r.route.as_str())
    }

    /// Plans a request. `in_flight(provider index)` reads live load.
    pub fn plan(
        &self,
        snap: &Snapshot,
        in_flight: impl Fn(usize) -> u32,
        req: &PlanRequest<'_>,
        draws: Draws,
    ) -> Result<Plan, GatewayError> {
        let tier = self.tiers.get(req.tier);
        let mut target = req.target;
        if target == "auto"
            && let Some(r) = self.rule_route(req)
        {
            target = r;
        }
        let (route, candidates, mut fallbacks): (
            Option<&RoutePlan>,
            &[Arc<ModelConfig>],
            Vec<&Arc<ModelConfig>>,
        ) = if let Some(r) = self.routes.get(target) {
            if let Some(allowed) = tier.and_then(|t| t.routes.as_ref())
                && !allowed.contains(target)
            {
                return Err(GatewayError::Forbidden(format!(
                    "your key's tier '{}' may not use route '{target}'",
                    req.tier
                )));
            }
            (Some(r), &r.candidates, r.fallbacks.iter().collect())
        } else if let Some(ms) = self.by_name.get(target) {
            (None, ms, Vec::new())
        } else if let Some(m) = self.by_qualified.get(target) {
            // Pinned to one provider: no fallbacks.
            let plan = self.plan_pinned(snap, m, &in_flight, req)?;
            return Ok(plan);
        } else {
            return Err(GatewayError::ModelNotFound(target.to_owned()));
        };
        if let Some(t) = tier {
            fallbacks.extend(t.fallbacks.iter());
        }
        let weights = snap
            .weights
            .resolve(req.tier, route.map(|r| &*r.name), &req.weights);
        let now = Instant::now();
        let learned = self.learned_output(snap, candidates);

        let mut inputs: Vec<CandidateInput> = Vec::with_capacity(candidates.len());
        let mut eligible: Vec<usize> = Vec::with_capacity(candidates.len());
        let mut explained: Vec<Explained> = Vec::new();
        let mut health_excluded = false;
        let mut limit_excluded = false;
        for (i, m) in candidates.iter().enumerate() {
            let load = in_flight(m.provider.index);
            let input = self.candidate_input(snap, m, load, req, learned);
            let excluded = exclusion(snap, m, load, now).or_else(|| self.over_limit(&input, req));
            match excluded {
                Some("over_max_cost" | "over_max_latency") => limit_excluded = true,
                Some(_) => health_excluded = true,
                None => {
                    eligible.push(i);
                    inputs.push(input);
                }
            }
            if req.explain {
                explained.push(explain_entry(m, &input, excluded, false));
            }
        }
        let mut terms = Vec::with_capacity(inputs.len());
        score::score(&inputs, &weights, &mut terms);
        let mut order = Vec::with_capacity(inputs.len());
        score::rank(&terms, self.settings.tie_band, draws.pick, &mut order);
        let explored = self.explore(&inputs, &mut order, draws);

        let mut plan: Vec<Arc<ModelConfig>> = order
            .iter()
            .map(|&k| candidates[eligible[k]].clone())
            .collect();
        for f in fallbacks {
            if plan.iter().any(|p| p.index == f.index) {
                continue;
            }
            let load = in_flight(f.provider.index);
            let input = self.candidate_input(snap, f, load, req, learned);
            let excluded = exclusion(snap, f, load, now).or_else(|| self.over_limit(&input, req));
            if excluded.is_none() {
                plan.push(f.clone());
            }
            if req.explain {
                explained.push(explain_entry(f, &input, excluded, true));
            }
        }

        if plan.is_empty() {
            return Err(self.nothing_eligible(
                snap,
                candidates,
                req,
                health_excluded,
                limit_excluded,
                now,
            ));
        }
        if let Some(r) = route {
            let ranked = order
                .iter()
                .take(4)
                .map(|&k| (candidates[eligible[k]].index, terms[k].total))
                .collect();
            r.decisions.record(plan[0].index, ranked, explored);
        }
        let explanation = req.explain.then(|| {
            for (pos, m) in plan.iter().enumerate() {
                if let Some(e) = explained
                    .iter_mut()
                    .find(|e| *e.model == *m.name && *e.provider == *m.provider.name)
                {
                    e.rank = Some(pos + 1);
                }
            }
            for (k, &ci) in eligible.iter().enumerate() {
                let m = &candidates[ci];
                if let Some(e) = explained
                    .iter_mut()
                    .find(|e| !e.fallback && *e.model == *m.name && *e.provider == *m.provider.name)
                {
                    e.terms = terms.get(k).copied();
                }
            }
            explained.sort_by_key(|e| e.rank.unwrap_or(usize::MAX));
            Explanation {
                route: route.map(|r| r.name.clone()),
                weights,
                input_tokens: req.input_tokens,
                output_tokens_default: self.settings.default_output_tokens,
                explored,
                candidates: explained,
            }
        });
        Ok(Plan {
            candidates: plan,
            route: route.map(|r| r.name.clone()),
            explanation,
        })
    }

    fn plan_pinned(
        &self,
        snap: &Snapshot,
        m: &Arc<ModelConfig>,
        in_flight: &impl Fn(usize) -> u32,
        req: &PlanRequest<'_>,
    ) -> Result<Plan, GatewayError> {
        let load = in_flight(m.provider.index);
        let learned = self.learned_output(snap, std::slice::from_ref(m));
        let input = self.candidate_input(snap, m, load, req, learned);
        let now = Instant::now();
        if exclusion(snap, m, load, now).is_some() {
            return Err(self.nothing_eligible(
                snap,
                std::slice::from_ref(m),
                req,
                true,
                false,
                now,
            ));
        }
        if self.over_limit(&input, req).is_some() {
            return Err(self.nothing_eligible(
                snap,
                std::slice::from_ref(m),
                req,
                false,
                true,
                now,
            ));
        }
        let explanation = req.explain.then(|| {
            let mut e = explain_entry(m, &input, None, false);
            e.rank = Some(1);
            Explanation {
                route: None,
                weights: snap.weights.resolve(req.tier, None, &req.weights),
                input_tokens: req.input_tokens,
                output_tokens_default: self.settings.default_output_tokens,
                explored: false,
                candidates: vec![e],
            }
        });
        Ok(Plan {
            candidates: vec![m.clone()],
            route: None,
            explanation,
        })
    }

    /// With probability `exploration`, puts a stale candidate (no live latency) first,
    /// or any other candidate when none is stale, so every candidate stays measured.
    fn explore(&self, inputs: &[CandidateInput], order: &mut [usize], draws: Draws) -> bool {
        if order.len() < 2 || draws.explore >= self.settings.exploration {
            return false;
        }
        // Re-use the explore draw, rescaled, to choose among the targets.
        let u = (draws.explore / self.settings.exploration).clamp(0.0, 0.999_999);
        let stale: Vec<usize> = (0..order.len())
            .filter(|&pos| inputs[order[pos]].latency_source != LatencySource::Live)
            .collect();
        let pos = if stale.is_empty() {
            1 + ((u * (order.len() - 1) as f64) as usize).min(order.len() - 2)
        } else {
            stale[((u * stale.len() as f64) as usize).min(stale.len() - 1)]
        };
        order[..=pos].rotate_right(1);
        true
    }

    /// The answer length a request without `max_tokens` is expected to have: the mean
    /// of the measured averages of `candidates` (the same for all of them, so the cost
    /// comparison stays fair), or the configured default before any data.
    fn learned_output(&self, snap: &Snapshot, candidates: &[Arc<ModelConfig>]) -> f64 {
        let (sum, n) = candidates
            .iter()
            .filter_map(|m| snap.models.get(m.index)?.avg_output_tokens)
            .fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
        if n == 0 {
            self.settings.default_output_tokens as f64
        } else {
            sum / f64::from(n)
        }
    }

    fn candidate_input(
        &self,
        snap: &Snapshot,
        m: &ModelConfig,
        in_flight: u32,
        req: &PlanRequest<'_>,
        learned_output: f64,
    ) -> CandidateInput {
        let health = snap.models.get(m.index);
        let provider = snap.providers.get(m.provider.index);
        let output_tokens = req.max_output_tokens.map_or(learned_output, f64::from);
        let cost_usd =
            (req.input_tokens as f64 * m.prices.input + output_tokens * m.prices.output) / 1e6;
        let (latency_ms, latency_source) = match health.and_then(|h| h.live_estimate_ms(req.stream))
        {
            Some(ms) => (ms, LatencySource::Live),
            // No recent traffic: the prior stands for generation time, the heartbeat
            // round trip adds what the network costs today.
            None => match provider.filter(|p| p.heartbeat.rtt.count > 0) {
                Some(p) => (
                    m.prior_latency_ms + p.heartbeat.rtt.p50,
                    LatencySource::Heartbeat,
                ),
                None => (m.prior_latency_ms, LatencySource::Prior),
            },
        };
        let error_rate = match health {
            Some(h) if h.ok + h.errors >= MIN_LIVE_SAMPLES => h.error_rate,
            _ => provider.map_or(0.0, |p| p.error_rate),
        };
        CandidateInput {
            cost_usd,
            latency_ms,
            latency_source,
            error_rate,
            half_open: provider.is_some_and(|p| p.circuit == CircuitState::HalfOpen),
            in_flight,
        }
    }

    fn over_limit(&self, c: &CandidateInput, req: &PlanRequest<'_>) -> Option<&'static str> {
        if req.max_cost_usd.is_some_and(|max| c.cost_usd > max) {
            return Some("over_max_cost");
        }
        if req.max_latency_ms.is_some_and(|max| c.latency_ms > max) {
            return Some("over_max_latency");
        }
        None
    }

    fn nothing_eligible(
        &self,
        snap: &Snapshot,
        candidates: &[Arc<ModelConfig>],
        req: &PlanRequest<'_>,
        health_excluded: bool,
        limit_excluded: bool,
        now: Instant,
    ) -> GatewayError {
        if limit_excluded && !health_excluded {
            let learned = self.learned_output(snap, candidates);
            let inputs: Vec<CandidateInput> = candidates
                .iter()
                .map(|m| self.candidate_input(snap, m, 0, req, learned))
                .collect();
            let cheapest = inputs
                .iter()
                .map(|c| c.cost_usd)
                .fold(f64::INFINITY, f64::min);
            let fastest = inputs
                .iter()
                .map(|c| c.latency_ms)
                .fold(f64::INFINITY, f64::min);
            let mut parts = Vec::new();
            if let Some(max) = req.max_cost_usd {
                parts.push(format!(
                    "the cheapest candidate is expected to cost ${cheapest:.6} (limit ${max})"
                ));
            }
            if let Some(max) = req.max_latency_ms {
                parts.push(format!(
                    "the fastest is expected to take {fastest:.0} ms (limit {max} ms)"
                ));
            }
            return GatewayError::InvalidRequest {
                message: format!(
                    "no candidate meets the request's limits: {}",
                    parts.join("; ")
                ),
                param: None,
                code: Some("no_candidate_within_limits"),
            };
        }
        let retry_after = candidates
            .iter()
            .filter_map(|m| {
                let p = snap.providers.get(m.provider.index)?;
                p.rate_limited_until
                    .map(|t| t.saturating_duration_since(now))
            })
            .min();
        GatewayError::Unavailable {
            message: format!(
                "every candidate for '{}' is unavailable (circuit open or rate limited); retry shortly",
                req.target
            ),
            retry_after: retry_after.or(Some(std::time::Duration::from_secs(1))),
        }
    }

    /// Scores every model under the global weights for a typical request (admin view).
    pub fn global_scores(
        &self,
        snap: &Snapshot,
        models: &[Arc<ModelConfig>],
    ) -> Vec<(Terms, CandidateInput)> {
        let req = PlanRequest {
            input_tokens: 1000,
            ..PlanRequest::default()
        };
        self.typical_scores(snap, models, &req, &snap.weights.global)
    }

    /// Scores each route's ranked candidates for a typical request under the route's
    /// weights (the metrics view): `(route, model, total)`, routes in config order.
    pub fn route_scores(&self, snap: &Snapshot) -> Vec<(&str, &Arc<ModelConfig>, f64)> {
        let req = PlanRequest {
            input_tokens: 1000,
            ..PlanRequest::default()
        };
        let mut out = Vec::new();
        for name in &self.route_names {
            let Some(r) = self.routes.get(name) else {
                continue;
            };
            let weights = snap
                .weights
                .resolve("", Some(name), &PartialWeights::default());
            let scored = self.typical_scores(snap, &r.candidates, &req, &weights);
            for (m, (terms, _)) in r.candidates.iter().zip(scored) {
                out.push((name.as_str(), m, terms.total));
            }
        }
        out
    }

    fn typical_scores(
        &self,
        snap: &Snapshot,
        models: &[Arc<ModelConfig>],
        req: &PlanRequest<'_>,
        weights: &Weights,
    ) -> Vec<(Terms, CandidateInput)> {
        let learned = self.learned_output(snap, models);
        let inputs: Vec<CandidateInput> = models
            .iter()
            .map(|m| self.candidate_input(snap, m, 0, req, learned))
            .collect();
        let mut terms = Vec::new();
        score::score(&inputs, weights, &mut terms);
        terms.into_iter().zip(inputs).collect()
    }
}
