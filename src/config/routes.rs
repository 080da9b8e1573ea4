//! `[routes.NAME]` and `[[route_rules]]`: named sets of candidates, each with its own
//! weights, fallbacks, retry policy, cache settings and handling of optional parameters
//! a provider does not take, and the rules that choose one for requests to `auto`.

use std::collections::BTreeMap;

use super::models::Models;
use super::policy::RetryPolicy;
use super::raw::{RawRoute, RawRouteRule};
use super::{ConfigError, PartialWeights, RouteCache, cache, dispatch, invalid, weights};

/// A named set of candidates with its own weights and fallbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// Model names or `provider/model`, ranked by the scheduler.
    pub candidates: Vec<String>,
    pub weights: PartialWeights,
    /// Tried in order after the ranked candidates.
    pub fallbacks: Vec<String>,
    pub cache: RouteCache,
    pub unsupported_params: UnsupportedParams,
}

/// What a route does with a request parameter the chosen provider does not take
/// (`logit_bias` for Claude, an unknown `extra_body` key for OpenAI).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsupportedParams {
    /// Answer anyway, without it, and name it in `x-switchyard-dropped-params`.
    #[default]
    Drop,
    /// Only candidates that take every parameter are tried; with none, a 400
    /// `unsupported_parameter` naming the parameter.
    Reject,
}

/// Chooses a route for requests to `auto`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    pub route: String,
    pub min_prompt_tokens: Option<u64>,
    pub tools: Option<bool>,
    pub task: Option<String>,
}

/// The checked routes, and the retry policies of those whose policy differs from the
/// global one (the others run under the global policy).
#[derive(Debug, Default)]
pub(super) struct Routes {
    pub(super) routes: BTreeMap<String, RouteConfig>,
    pub(super) policies: BTreeMap<String, RetryPolicy>,
}

/// Checks every `[routes.NAME]`; `global` is the policy from `[dispatch]`.
pub(super) fn validate(
    raw: BTreeMap<String, RawRoute>,
    models: &Models,
    global: &RetryPolicy,
) -> Result<Routes, ConfigError> {
    let mut out = Routes::default();
    for (name, r) in raw {
        let at = format!("routes.{name}");
        if models.has_name(&name) {
            return Err(invalid(at, "a route may not share its name with a model"));
        }
        if r.candidates.is_empty() {
            // Every request to the route would be answered 503.
            return Err(invalid(
                format!("{at}.candidates"),
                "a route needs at least one candidate",
            ));
        }
        let weights = weights::validate_at(&at, r.weights)?;
        let policy = dispatch::route_policy(&at, global, &r)?;
        if policy != *global {
            out.policies.insert(name.clone(), policy);
        }
        out.routes.insert(
            name,
            RouteConfig {
                candidates: models.check_refs(&format!("{at}.candidates"), r.candidates)?,
                weights,
                fallbacks: models.check_refs(&format!("{at}.fallbacks"), r.fallbacks)?,
                cache: cache::validate_route(&at, r.cache, r.cache_ttl_ms)?,
                unsupported_params: r.unsupported_params.unwrap_or_default(),
            },
        );
    }
    Ok(out)
}

/// Checks every `[[route_rules]]` against the routes.
pub(super) fn validate_rules(
    raw: Vec<RawRouteRule>,
    routes: &BTreeMap<String, RouteConfig>,
) -> Result<Vec<RouteRule>, ConfigError> {
    let mut out = Vec::new();
    for (i, rule) in raw.into_iter().enumerate() {
        if !routes.contains_key(&rule.route) {
            return Err(invalid(
                format!("route_rules[{i}].route"),
                format!("no route named '{}'", rule.route),
            ));
        }
        out.push(RouteRule {
            route: rule.route,
            min_prompt_tokens: rule.min_prompt_tokens,
            tools: rule.tools,
            task: rule.task,
        });
    }
    Ok(out)
}
