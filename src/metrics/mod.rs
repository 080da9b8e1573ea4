//! Every metric the gateway exports: names, descriptions, buckets, and the small
//! recording functions the rest of the code calls. Names are prefixed `switchyard_`,
//! carry their unit, and take labels only from closed sets (configured provider,
//! model, route, tier and tenant names; status classes; error kinds) — never request
//! text or keys. `GET /metrics` renders the Prometheus exposition; rendering runs in
//! the scrape handler, never on the request path.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::providers::breaker::CircuitState;
use crate::providers::health::ProviderHealth;
use crate::scheduler::actor::WeightTable;

/// Histogram buckets in seconds for LLM latencies: 10 ms to 5 minutes.
const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle (`None`
/// if another recorder was installed first, e.g. by an embedding application).
pub fn init() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "switchyard_requests_total",
        "Client requests answered, by provider, model, route and status class"
    );
    describe_histogram!(
        "switchyard_request_duration_seconds",
        "Whole-request time of successful upstream attempts"
    );
    describe_histogram!(
        "switchyard_ttft_seconds",
        "Time to the first streamed token from the provider"
    );
    describe_counter!(
        "switchyard_upstream_errors_total",
        "Failed upstream attempts by provider and error kind"
    );
    describe_counter!(
        "switchyard_attempts_total",
        "Upstream attempts made, by provider and model"
    );
    describe_counter!(
        "switchyard_failovers_total",
        "Requests answered by a candidate other than the first, by route"
    );
    describe_counter!(
        "switchyard_tokens_total",
        "Tokens by provider, model and kind (prompt, completion, cached, cache_write, reasoning)"
    );
    describe_gauge!(
        "switchyard_cost_usd_total",
        "Provider cost in USD by provider, model and tenant (only increases; exported as a gauge because it is fractional)"
    );
    describe_counter!(
        "switchyard_usage_records_total",
        "Usage records committed to the ledger"
    );
    describe_histogram!(
        "switchyard_usage_write_lag_seconds",
        "Time from a request's end to its usage record being durable"
    );
    describe_counter!(
        "switchyard_usage_dropped_total",
        "Usage records lost: submitted after the ledger closed, or beyond the retry backlog"
    );
    describe_counter!(
        "switchyard_usage_queue_full_total",
        "Usage records handed to the ledger through the blocking pool because its queue was full"
    );
    describe_gauge!(
        "switchyard_in_flight_requests",
        "Upstream requests in progress, by provider"
    );
    describe_gauge!("switchyard_open_streams", "Client streams currently open");
    describe_gauge!(
        "switchyard_circuit_state",
        "Circuit state per provider: 0 closed, 1 half-open, 2 open"
    );
    describe_histogram!(
        "switchyard_heartbeat_rtt_seconds",
        "Heartbeat round-trip time per provider"
    );
    describe_counter!(
        "switchyard_heartbeat_failures_total",
        "Failed heartbeats per provider"
    );
    describe_gauge!(
        "switchyard_provider_error_rate",
        "Share of failed requests per provider over the latency window"
    );
    describe_gauge!(
        "switchyard_scheduler_weight",
        "Scheduler weights by scope (global, route, tier), name and term"
    );
}

/// Counts one request's tokens and cost (at the time its record is made).
pub fn record_usage(r: &crate::usage::UsageRecord) {
    if r.provider.is_empty() {
        return;
    }
    if r.cost_usd > 0.0 {
        // `metrics` counters are integers; a gauge that only ever increases keeps
        // fractional dollars exact and reads like a counter (`rate()`, `increase()`).
        gauge!("switchyard_cost_usd_total", "provider" => r.provider.clone(), "model" => r.model.clone(), "tenant" => r.tenant.to_string())
            .increment(r.cost_usd);
    }
    for (kind, n) in [
        ("prompt", r.prompt_tokens),
        ("completion", r.completion_tokens),
        ("cached", r.cached_tokens),
        ("cache_write", r.cache_write_tokens),
        ("reasoning", r.reasoning_tokens),
    ] {
        if n > 0 {
            counter!("switchyard_tokens_total", "provider" => r.provider.clone(), "model" => r.model.clone(), "kind" => kind).increment(n);
        }
    }
}

/// Counts records committed and their write lag.
pub fn record_usage_written(records: &[crate::usage::UsageRecord], added: usize) {
    counter!("switchyard_usage_records_total").increment(added as u64);
    let lag = histogram!("switchyard_usage_write_lag_seconds");
    for r in records {
        lag.record(r.ended.elapsed().as_secs_f64());
    }
}

/// Counts lost usage records.
pub fn record_usage_dropped(n: u64) {
    counter!("switchyard_usage_dropped_total").increment(n);
}

/// Counts a hand-off that found the ledger's queue full.
pub fn record_usage_queue_full() {
    counter!("switchyard_usage_queue_full_total").increment(1);
}

/// The exposition text, or an empty page when no recorder is installed.
pub fn render() -> String {
    init().map(PrometheusHandle::render).unwrap_or_default()
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
