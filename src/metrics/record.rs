//! The recording functions the rest of the gateway calls, one per event. Those on the
//! request path reach their handles through per-thread caches ([`super::handles`]);
//! the rest (health, weights, heartbeats) go through the registry directly.
//! Label values come from the config (provider, model, route, tenant, tier names) or
//! from closed enums (status class, error kind, token kind), never from the request.

use std::time::Duration;

use actix_web::HttpResponse;
use metrics::{counter, gauge, histogram};

use super::handles::{count, observe};
use crate::api::headers;
use crate::canonical::Usage;
use crate::config::ModelConfig;
use crate::error::ErrorClass;
use crate::providers::breaker::CircuitState;
use crate::providers::health::ProviderHealth;
use crate::scheduler::actor::WeightTable;

/// The label value for "none": a request no provider answered, or no route.
pub const NONE: &str = "-";

/// Records one answered client request: `route` is the configured route it resolved to.
/// Provider and model come from the response's `x-switchyard-*` headers (set from the
/// config), so the response cache's answers count under the model that made them.
pub fn record_request(resp: &HttpResponse, route: Option<&str>) {
    let header = |name: &actix_web::http::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(NONE)
    };
    count(
        "switchyard_requests_total",
        &[
            ("provider", header(&headers::name::PROVIDER)),
            ("model", header(&headers::name::MODEL)),
            ("route", route.unwrap_or(NONE)),
            ("status_class", status_class(resp.status().as_u16())),
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
    super::cost::add(provider, &model.name, tenant, cost_usd(model, usage));
}

/// The cost of `usage` at `model`'s prices: cached prompt tokens at the cached price,
/// the rest of the prompt (cache writes included) at the input price, completion
/// (reasoning included) at the output price.
pub fn cost_usd(model: &ModelConfig, usage: &Usage) -> f64 {
    let p = model.prices;
    let cached = usage.cached_tokens.min(usage.prompt_tokens);
    let uncached = usage.prompt_tokens - cached;
    (uncached as f64 * p.input
        + cached as f64 * p.cached_input
        + usage.completion_tokens as f64 * p.output)
        / 1e6
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

/// Publishes the current weights (the effective value per scope and term).
pub fn record_weights(w: &WeightTable) {
    let global = w.global;
    for (term, v) in [
        ("price", global.price),
        ("latency", global.latency),
        ("errors", global.errors),
    ] {
        gauge!("switchyard_scheduler_weight", "scope" => "global", "name" => "global", "term" => term).set(v);
    }
    for (scope, table) in [("route", &w.routes), ("tier", &w.tiers)] {
        for (name, partial) in table {
            let eff = partial.apply(global);
            for (term, v) in [
                ("price", eff.price),
                ("latency", eff.latency),
                ("errors", eff.errors),
            ] {
                gauge!("switchyard_scheduler_weight", "scope" => scope, "name" => name.clone(), "term" => term).set(v);
            }
        }
    }
}

/// Records a circuit transition.
pub fn record_circuit(provider: &str, state: CircuitState) {
    gauge!("switchyard_circuit_state", "provider" => provider.to_owned()).set(state.as_gauge());
}

/// Records a provider's published health.
pub fn record_provider_health(provider: &str, h: &ProviderHealth) {
    gauge!("switchyard_circuit_state", "provider" => provider.to_owned()).set(h.circuit.as_gauge());
    gauge!("switchyard_provider_error_rate", "provider" => provider.to_owned()).set(h.error_rate);
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
