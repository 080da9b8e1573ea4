//! The recording functions the rest of the gateway calls, one per event. Those on the
//! request path reach their handles through per-thread caches ([`super::handles`]);
//! the rest (health, weights, heartbeats) go through the registry directly.
//! Label values come from the config (provider, model, route, tenant, tier names) or
//! from closed enums (status class, error kind, token kind), never from the request.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use super::handles::{count, observe};
use crate::canonical::Usage;
use crate::config::ModelConfig;
use crate::config::Weights;
use crate::error::ErrorClass;

/// The label value for "none": a request no provider answered, or no route.
pub const NONE: &str = "-";

/// Records one answered client request: `route` is the configured route it resolved to,
/// `api` the client API it arrived in (`crate::inbound::Api::as_str`).
/// Provider and model are those the response's `x-switchyard-*` headers name (set from
/// the config), so the response cache's answers count under the model that made them.
pub fn record_request(
    provider: &str,
    model: &str,
    route: Option<&str>,
    api: &'static str,
    status: u16,
) {
    count(
        "switchyard_requests_total",
        &[
            ("provider", provider),
            ("model", model),
            ("route", route.unwrap_or(NONE)),
            ("api", api),
            ("status_class", status_class(status)),
        ],
        1,
    );
}

/// `2xx`, `4xx`, `5xx` (and `1xx`/`3xx`, which the API does not answer).
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Records one upstream attempt: its error class, or its duration (and time to first
/// token for streams) when it succeeded.
pub fn record_attempt(
    model: &ModelConfig,
    error: Option<ErrorClass>,
    latency: Duration,
    ttft: Option<Duration>,
) {
    let labels = [("provider", &*model.provider.name), ("model", &*model.name)];
    count("switchyard_attempts_total", &labels, 1);
    match error {
        Some(class) => count(
            "switchyard_upstream_errors_total",
            &[labels[0], labels[1], ("kind", class.kind())],
            1,
        ),
        None => {
            observe(
                "switchyard_request_duration_seconds",
                &labels,
                latency.as_secs_f64(),
            );
            if let Some(t) = ttft {
                observe("switchyard_ttft_seconds", &labels, t.as_secs_f64());
            }
        }
    }
}

/// Records a request answered after a failover (`route` as in [`record_request`]).
pub fn record_failover(route: Option<&str>) {
    count(
        "switchyard_failovers_total",
        &[("route", route.unwrap_or(NONE))],
        1,
    );
}

/// Records an answer's tokens by kind and its cost at `model`'s prices, billed to
/// `tenant` (a configured tenant name).
pub fn record_usage(model: &ModelConfig, tenant: &str, usage: &Usage) {
    let provider = &model.provider.name;
    for (kind, n) in [
        ("prompt", usage.prompt_tokens),
        ("completion", usage.completion_tokens),
        ("cached", usage.cached_tokens),
        ("reasoning", usage.reasoning_tokens),
        ("cache_write", usage.cache_write_tokens),
    ] {
        // Always the two main kinds, so their series exist from the first answer.
        if n > 0 || matches!(kind, "prompt" | "completion") {
            count(
                "switchyard_tokens_total",
                &[
                    ("provider", &**provider),
                    ("model", &*model.name),
                    ("kind", kind),
                ],
                n,
            );
        }
    }
    super::cost::add(provider, &model.name, tenant, model.prices.cost_usd(usage));
}

/// Counts one open client stream until dropped.
#[derive(Debug)]
pub struct OpenStream(());

impl OpenStream {
    /// A stream starts being relayed.
    pub fn start() -> Self {
        gauge!("switchyard_open_streams").increment(1.0);
        Self(())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        gauge!("switchyard_open_streams").decrement(1.0);
    }
}

/// Publishes the effective weights of one scope (`global`, `route` or `tier`) and name.
pub fn record_weights(scope: &'static str, name: &str, w: Weights) {
    for (term, v) in [
        ("price", w.price),
        ("latency", w.latency),
        ("errors", w.errors),
    ] {
        gauge!("switchyard_scheduler_weight", "scope" => scope, "name" => name.to_owned(), "term" => term).set(v);
    }
}

/// Records a provider's circuit state as its gauge value (0 closed, 1 half-open, 2
/// open: `CircuitState::as_gauge`).
pub fn record_circuit(provider: &str, state: f64) {
    gauge!("switchyard_circuit_state", "provider" => provider.to_owned()).set(state);
}

/// Records the share of a tenant's `period` (`day`, `month`) budget spent.
pub fn record_budget_used(tenant: &str, period: &'static str, used: f64) {
    gauge!("switchyard_budget_used_ratio", "tenant" => tenant.to_owned(), "period" => period)
        .set(used);
}

/// Records a provider's published error rate.
pub fn record_error_rate(provider: &str, error_rate: f64) {
    gauge!("switchyard_provider_error_rate", "provider" => provider.to_owned()).set(error_rate);
}

/// Sets the sampled score of one route candidate.
pub fn record_candidate_score(route: &str, provider: &str, model: &str, score: f64) {
    gauge!(
        "switchyard_candidate_score",
        "route" => route.to_owned(),
        "provider" => provider.to_owned(),
        "model" => model.to_owned(),
    )
    .set(score);
}

/// Sets a provider's sampled in-flight count.
pub fn record_in_flight(provider: &str, n: u32) {
    gauge!("switchyard_in_flight_requests", "provider" => provider.to_owned()).set(f64::from(n));
}

/// Records one heartbeat.
pub fn record_heartbeat(provider: &str, ok: bool, rtt: Duration) {
    if ok {
        histogram!("switchyard_heartbeat_rtt_seconds", "provider" => provider.to_owned())
            .record(rtt.as_secs_f64());
    } else {
        counter!("switchyard_heartbeat_failures_total", "provider" => provider.to_owned())
            .increment(1);
    }
}

/// Whether the cluster engine (`redis`) answers.
pub fn record_cluster_engine_up(engine: &'static str, up: bool) {
    gauge!("switchyard_cluster_engine_up", "engine" => engine).set(if up { 1.0 } else { 0.0 });
}

/// Counts one provider-key admission in cluster mode by how it was decided.
pub fn record_cluster_admission(result: &'static str) {
    count(
        "switchyard_cluster_admissions_total",
        &[("result", result)],
        1,
    );
}
