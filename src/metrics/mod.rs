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
        "Tokens by provider, model and kind (prompt, completion, cached, reasoning)"
    );
    describe_counter!(
        "switchyard_cost_usd_total",
        "Provider cost in USD by provider and model"
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
    describe_counter!(
        "switchyard_cache_events_total",
        "Chat requests by what the cache did: hit, miss, coalesced, bypass"
    );
    describe_gauge!(
        "switchyard_cache_bytes",
        "Bytes of answers held by the response cache"
    );
    describe_gauge!(
        "switchyard_cache_entries",
        "Answers held by the response cache"
    );
    describe_counter!(
        "switchyard_cache_evictions_total",
        "Cached answers evicted to stay within the memory bound"
    );
    describe_gauge!(
        "switchyard_cache_coalesced_waiters",
        "Clients currently sharing an identical request's upstream call"
    );
}

/// Counts one request by cache outcome (`hit`, `miss`, `coalesced`, `bypass`).
pub fn record_cache_event(result: &'static str) {
    counter!("switchyard_cache_events_total", "result" => result).increment(1);
}

/// Adds (or with negative values removes) cached bytes and entries. Gauges move by
/// deltas so that several caches in one process (tests) add up instead of overwriting.
pub fn record_cache_size(bytes: f64, entries: f64) {
    gauge!("switchyard_cache_bytes").increment(bytes);
    gauge!("switchyard_cache_entries").increment(entries);
}

/// Counts evictions.
pub fn record_cache_evictions(n: u64) {
    if n > 0 {
        counter!("switchyard_cache_evictions_total").increment(n);
    }
}

/// A coalesced client started (`1.0`) or stopped (`-1.0`) waiting on a shared call.
pub fn record_cache_waiters(delta: f64) {
    gauge!("switchyard_cache_coalesced_waiters").increment(delta);
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
