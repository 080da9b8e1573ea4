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
use super::candidate::{self, Assessor, Clock, Excluded, Exclusion};
pub use super::explain::{Decision, Explained, Explanation};
use super::explain::{DecisionLog, explain_entry};
use super::score::{self, CandidateInput, Terms};
use crate::config::weights::{PartialWeights, Weights};
use crate::config::{Config, ModelConfig, RouteRule, SchedulerConfig};
use crate::error::GatewayError;
use crate::providers::health::Load;

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

/// What a request's target resolved to.
enum Target<'p> {
    /// A route or a model name: its candidates are ranked, then fallbacks follow.
    Pool(Pool<'p>),
    /// `provider/model`: that one offer.
    Pinned(&'p Arc<ModelConfig>),
}

/// The candidates a route or model name offers, and the fallbacks behind them.
struct Pool<'p> {
    route: Option<&'p RoutePlan>,
    candidates: &'p [Arc<ModelConfig>],
    /// The route's fallbacks, then the tier's.
    fallbacks: Vec<&'p Arc<ModelConfig>>,
}

/// A pool after exclusion, scoring and ranking.
struct Ranked {
    /// Indices into the pool's candidates of those not excluded.
    eligible: Vec<usize>,
    /// The eligible candidates' scores, in the order of `eligible`.
    terms: Vec<Terms>,
    /// Positions in `eligible`, best first.
    order: Vec<usize>,
    explored: bool,
    excluded: Excluded,
    /// Explanation entries so far (only when one is asked for).
    explained: Vec<Explained>,
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

    /// Plans a request now. `in_flight(provider index)` reads live load.
    pub fn plan(
        &self,
        snap: &Snapshot,
        in_flight: impl Fn(usize) -> Load,
        req: &PlanRequest<'_>,
        draws: Draws,
    ) -> Result<Plan, GatewayError> {
        self.plan_at(snap, in_flight, req, draws, Instant::now())
    }

    /// Plans a request as of `now` (back-offs end and estimates age against it; the
    /// routing benchmark passes its virtual clock).
    pub fn plan_at(
        &self,
        snap: &Snapshot,
        in_flight: impl Fn(usize) -> Load,
        req: &PlanRequest<'_>,
        draws: Draws,
        now: Instant,
    ) -> Result<Plan, GatewayError> {
        let pool = match self.resolve(req)? {
            Target::Pool(pool) => pool,
            // Pinned to one provider: no fallbacks.
            Target::Pinned(m) => return self.plan_pinned(snap, m, &in_flight, req, now),
        };
        let weights = snap
            .weights
            .resolve(req.tier, pool.route.map(|r| &*r.name), &req.weights);
        let assessor = Assessor::new(
            snap,
            req,
            &in_flight,
            pool.candidates,
            self.settings.default_output_tokens,
            self.clock(now),
        );
        let mut ranked = self.rank(&assessor, &weights, draws);
        let plan = with_fallbacks(&assessor, &pool, &mut ranked);
        if plan.is_empty() {
            return Err(assessor.nothing_eligible(ranked.excluded));
        }
        if let Some(r) = pool.route {
            let top = ranked
                .order
                .iter()
                .take(4)
                .map(|&k| {
                    (
                        pool.candidates[ranked.eligible[k]].index,
                        ranked.terms[k].total,
                    )
                })
                .collect();
            r.decisions.record(plan[0].index, top, ranked.explored);
        }
        let explanation = req
            .explain
            .then(|| self.explanation(req, &pool, ranked, &plan, weights));
        Ok(Plan {
            candidates: plan,
            route: pool.route.map(|r| r.name.clone()),
            explanation,
        })
    }

    /// Resolves the request's target (through the route rules when it is `auto`) and
    /// checks that the caller's tier may use it.
    fn resolve(&self, req: &PlanRequest<'_>) -> Result<Target<'_>, GatewayError> {
        let tier = self.tiers.get(req.tier);
        let mut target = req.target;
        if target == "auto"
            && let Some(r) = self.rule_route(req)
        {
            target = r;
        }
        let (route, candidates, mut fallbacks): (Option<&RoutePlan>, &[Arc<ModelConfig>], Vec<_>) =
            if let Some(r) = self.routes.get(target) {
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
                return Ok(Target::Pinned(m));
            } else {
                return Err(GatewayError::ModelNotFound(target.to_owned()));
            };
        if let Some(t) = tier {
            fallbacks.extend(t.fallbacks.iter());
        }
        Ok(Target::Pool(Pool {
            route,
            candidates,
            fallbacks,
        }))
    }

    /// Assesses the pool's candidates, scores the eligible ones and orders them best
    /// first (ties spread by the pick draw, then a little exploration).
    fn rank<F: Fn(usize) -> Load>(
        &self,
        assessor: &Assessor<'_, F>,
        weights: &Weights,
        draws: Draws,
    ) -> Ranked {
        let n = assessor.candidates.len();
        let mut inputs: Vec<CandidateInput> = Vec::with_capacity(n);
        let mut eligible: Vec<usize> = Vec::with_capacity(n);
        let mut explained: Vec<Explained> = Vec::new();
        let mut excluded = Excluded::default();
        for (i, m) in assessor.candidates.iter().enumerate() {
            let (input, why) = assessor.assess(m);
            match why {
                Some(why) => excluded.note(why),
                None => {
                    eligible.push(i);
                    inputs.push(input);
                }
            }
            if assessor.req.explain {
                explained.push(explain_entry(m, &input, why.map(Exclusion::as_str), false));
            }
        }
        let mut terms = Vec::with_capacity(inputs.len());
        let reference = self.settings.latency_reference_ms;
        score::score(&inputs, weights, reference, &mut terms);
        let mut order = Vec::with_capacity(inputs.len());
        score::rank(&terms, self.settings.tie_band, draws.pick, &mut order);
        let budget = self.settings.exploration;
        let explored = super::explore::explore(&inputs, &terms, &mut order, budget, draws.explore);
        Ranked {
            eligible,
            terms,
            order,
            explored,
            excluded,
            explained,
        }
    }

    /// The explanation of a plan: every assessed candidate with its rank in `plan` and
    /// its score terms, ranked ones first.
    fn explanation(
        &self,
        req: &PlanRequest<'_>,
        pool: &Pool<'_>,
        ranked: Ranked,
        plan: &[Arc<ModelConfig>],
        weights: Weights,
    ) -> Explanation {
        let Ranked {
            eligible,
            terms,
            explored,
            mut explained,
            ..
        } = ranked;
        for (pos, m) in plan.iter().enumerate() {
            if let Some(e) = explained
                .iter_mut()
                .find(|e| *e.model == *m.name && *e.provider == *m.provider.name)
            {
                e.rank = Some(pos + 1);
            }
        }
        for (k, &ci) in eligible.iter().enumerate() {
            let m = &pool.candidates[ci];
            if let Some(e) = explained
                .iter_mut()
                .find(|e| !e.fallback && *e.model == *m.name && *e.provider == *m.provider.name)
            {
                e.terms = terms.get(k).copied();
            }
        }
        explained.sort_by_key(|e| e.rank.unwrap_or(usize::MAX));
        Explanation {
            route: pool.route.map(|r| r.name.clone()),
            weights,
            input_tokens: req.input_tokens,
            output_tokens_default: self.settings.default_output_tokens,
            latency_reference_ms: self.settings.latency_reference_ms,
            explored,
            candidates: explained,
        }
    }

    fn plan_pinned(
        &self,
        snap: &Snapshot,
        m: &Arc<ModelConfig>,
        in_flight: &impl Fn(usize) -> Load,
        req: &PlanRequest<'_>,
        now: Instant,
    ) -> Result<Plan, GatewayError> {
        let one = std::slice::from_ref(m);
        let assessor = Assessor::new(
            snap,
            req,
            in_flight,
            one,
            self.settings.default_output_tokens,
            self.clock(now),
        );
        let (input, excluded) = assessor.assess(m);
        if let Some(why) = excluded {
            let mut excluded = Excluded::default();
            excluded.note(why);
            return Err(assessor.nothing_eligible(excluded));
        }
        let explanation = req.explain.then(|| {
            let mut e = explain_entry(m, &input, None, false);
            e.rank = Some(1);
            Explanation {
                route: None,
                weights: snap.weights.resolve(req.tier, None, &req.weights),
                input_tokens: req.input_tokens,
                output_tokens_default: self.settings.default_output_tokens,
                latency_reference_ms: self.settings.latency_reference_ms,
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

    fn clock(&self, now: Instant) -> Clock {
        Clock {
            now,
            max_age: self.settings.max_estimate_age,
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
        let learned = candidate::learned_output(snap, models, self.settings.default_output_tokens);
        let clock = self.clock(Instant::now());
        let inputs: Vec<CandidateInput> = models
            .iter()
            .map(|m| candidate::candidate_input(snap, m, Load::default(), req, learned, clock))
            .collect();
        let mut terms = Vec::new();
        score::score(
            &inputs,
            weights,
            self.settings.latency_reference_ms,
            &mut terms,
        );
        terms.into_iter().zip(inputs).collect()
    }
}

/// The ranked candidates, then every fallback that is neither in the plan already nor
/// excluded (an excluded fallback is explained but does not count for the error).
fn with_fallbacks<F: Fn(usize) -> Load>(
    assessor: &Assessor<'_, F>,
    pool: &Pool<'_>,
    ranked: &mut Ranked,
) -> Vec<Arc<ModelConfig>> {
    let mut plan: Vec<Arc<ModelConfig>> = ranked
        .order
        .iter()
        .map(|&k| pool.candidates[ranked.eligible[k]].clone())
        .collect();
    for &f in &pool.fallbacks {
        if plan.iter().any(|p| p.index == f.index) {
            continue;
        }
        let (input, excluded) = assessor.assess(f);
        if excluded.is_none() {
            plan.push(f.clone());
        }
        if assessor.req.explain {
            let why = excluded.map(Exclusion::as_str);
            ranked.explained.push(explain_entry(f, &input, why, true));
        }
    }
    plan
}
