//! Every metric the gateway exports: names, types, labels and descriptions in one table
//! ([`FAMILIES`]), histogram buckets, and the recorder. Names are prefixed
//! `switchyard_`, carry their unit, and take labels only from closed sets (configured
//! provider, model, route, tier and tenant names; status classes; error kinds) — never
//! request text or keys. `GET /metrics` renders the Prometheus exposition; rendering
//! runs in the scrape handler, never on the request path.
//!
//! [`record`] holds the small functions the request path and the actors call, taking
//! only label values and numbers (state cheaper to read once a second than to update
//! per request is sampled by `scheduler::sample`). The dashboards in `grafana/` query only
//! names from [`FAMILIES`]; `tests/metrics.rs` and `.ci/prometheus-check.sh` hold them
//! to that. [`startup`] makes the rest exist from the first scrape (and adds
//! `switchyard_build_info` and the standard `process_*` family).

pub mod cost;
pub mod handles;
pub mod record;
pub mod startup;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use record::*;

/// Histogram buckets in seconds for LLM latencies: 10 ms (a cached or tiny answer) to
/// 5 minutes (a long reasoning stream), roughly 2–2.5× apart so percentiles stay
/// within one bucket's error across the whole range.
const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Every `_seconds` histogram gets [`LATENCY_BUCKETS`].
    Histogram,
}

impl Kind {
    /// The word on the exposition's `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric family: what the exposition and the dashboards may rely on.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    /// Label names (histograms add `le` on their buckets).
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn family(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

/// Every family the gateway exports (or will, see [`PENDING`]).
pub const FAMILIES: &[Family] = &[
    family(
        "switchyard_requests_total",
        Counter,
        &["provider", "model", "route", "api", "status_class"],
        "Client chat requests answered, by answering provider and model (- if none), configured route (- if none), the client API it arrived in (openai-chat, anthropic-messages) and status class (2xx, 4xx, 5xx)",
    ),
    family(
        "switchyard_request_duration_seconds",
        Histogram,
        &["provider", "model"],
        "Duration of successful upstream attempts, to the last byte of the answer or stream",
    ),
    family(
        "switchyard_ttft_seconds",
        Histogram,
        &["provider", "model"],
        "Time from sending a streamed request upstream to its first event",
    ),
    family(
        "switchyard_attempts_total",
        Counter,
        &["provider", "model"],
        "Upstream attempts made, successful or not",
    ),
    family(
        "switchyard_upstream_errors_total",
        Counter,
        &["provider", "model", "kind"],
        "Failed upstream attempts by error kind (rate_limited, overloaded, server, timeout, connect, bad_response, auth, ...)",
    ),
    family(
        "switchyard_failovers_total",
        Counter,
        &["route"],
        "Requests answered by a later attempt than the first, by configured route (- for a bare model name)",
    ),
    family(
        "switchyard_tokens_total",
        Counter,
        &["provider", "model", "kind"],
        "Tokens of answered requests by kind (prompt, completion, cached, reasoning, cache_write)",
    ),
    family(
        "switchyard_cost_usd_total",
        Counter,
        &["provider", "model", "tenant"],
        "Provider cost in USD of answered requests, at the configured prices",
    ),
    family(
        "switchyard_in_flight_requests",
        Gauge,
        &["provider"],
        "Upstream requests in progress per provider, sampled every second",
    ),
    family(
        "switchyard_open_streams",
        Gauge,
        &[],
        "Client streams currently being relayed",
    ),
    family(
        "switchyard_cluster_engine_up",
        Gauge,
        &["engine"],
        "1 while the cluster's shared-state engine answers, 0 while this replica serves on local state",
    ),
    family(
        "switchyard_cluster_admissions_total",
        Counter,
        &["result"],
        "Provider-key admissions decided by the cluster (go, saturated) or locally at this replica's share (local)",
    ),
    family(
        "switchyard_circuit_state",
        Gauge,
        &["provider"],
        "Circuit state per provider: 0 closed, 1 half-open, 2 open",
    ),
    family(
        "switchyard_provider_error_rate",
        Gauge,
        &["provider"],
        "Share of failed requests per provider over the latency window, as the scheduler sees it",
    ),
    family(
        "switchyard_heartbeat_rtt_seconds",
        Histogram,
        &["provider"],
        "Round-trip time of successful heartbeats per provider",
    ),
    family(
        "switchyard_heartbeat_failures_total",
        Counter,
        &["provider"],
        "Failed heartbeats per provider",
    ),
    family(
        "switchyard_scheduler_weight",
        Gauge,
        &["scope", "name", "term"],
        "Effective scheduler weights by scope (global, route, tier), scope name and term (price, latency, errors)",
    ),
    family(
        "switchyard_candidate_score",
        Gauge,
        &["route", "provider", "model"],
        "Each route candidate's score for a typical request under the route's weights (lower is better), sampled every second",
    ),
    family(
        "switchyard_usage_write_lag_seconds",
        Histogram,
        &[],
        "Time from a request's end to its usage record being written to the ledger",
    ),
    family(
        "switchyard_usage_records_total",
        Counter,
        &[],
        "Usage records committed to the ledger",
    ),
    family(
        "switchyard_usage_dropped_total",
        Counter,
        &[],
        "Usage records lost: submitted after the ledger closed, or beyond the retry backlog",
    ),
    family(
        "switchyard_usage_queue_full_total",
        Counter,
        &[],
        "Usage records handed to the ledger through the blocking pool because its queue was full",
    ),
    family(
        "switchyard_cache_events_total",
        Counter,
        &["result"],
        "Response-cache lookups by result (hit, miss, coalesced, bypass)",
    ),
    family(
        "switchyard_cache_bytes",
        Gauge,
        &[],
        "Bytes held by the response cache",
    ),
    family(
        "switchyard_cache_evictions_total",
        Counter,
        &[],
        "Entries evicted from the response cache",
    ),
    family(
        "switchyard_cache_entries",
        Gauge,
        &[],
        "Answers held by the response cache",
    ),
    family(
        "switchyard_cache_coalesced_waiters",
        Gauge,
        &[],
        "Clients currently sharing an identical request's upstream call",
    ),
    family(
        "switchyard_rate_limited_total",
        Counter,
        &["provider"],
        "Attempts refused by a provider key's token bucket before being sent",
    ),
    family(
        "switchyard_provider_key_disabled_total",
        Counter,
        &["provider", "key"],
        "Provider keys taken out of rotation after a 401/403 (key = SHA-256 fingerprint, never the key)",
    ),
    family(
        "switchyard_rate_limit_tokens_available",
        Gauge,
        &["provider", "kind"],
        "Tokens left in a provider's token bucket, by kind (requests, tokens)",
    ),
    family(
        "switchyard_rate_limit_queue_depth",
        Gauge,
        &["provider"],
        "Requests waiting for a provider's token bucket",
    ),
    family(
        "switchyard_budget_used_ratio",
        Gauge,
        &["tenant", "period"],
        "Share of a tenant's USD budget spent (1 = exhausted), per period (day, month), for tenants with a budget",
    ),
    family(
        "switchyard_build_info",
        Gauge,
        &["version", "commit"],
        "1, labelled with the running version and the git commit it was built from",
    ),
    family(
        "switchyard_config_reloads_total",
        Counter,
        &["result"],
        "POST /admin/reload calls by result (ok, invalid, restart_required)",
    ),
];

/// Families described above that a gateway may never produce: the revoked-key counter
/// (its `key` label is a fingerprint known only once a key is revoked), the budget
/// gauge without a tenant budget in the config, and, without a
/// `[cluster]` section, the cluster engine and admissions. Every other counter and
/// gauge exists from the first scrape (`startup::declare`). `.ci/prometheus-check.sh`
/// reports panels that only use these as "no data (metric not produced yet)" instead
/// of failing.
pub const PENDING: &[&str] = &[
    "switchyard_provider_key_disabled_total",
    "switchyard_budget_used_ratio",
    "switchyard_cluster_engine_up",
    "switchyard_cluster_admissions_total",
];

/// The family named `name`, if it is one.
pub fn family_named(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

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
            startup::describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    // The cost family is rendered by `cost`, with its own help line.
    for f in FAMILIES.iter().filter(|f| f.name != cost::NAME) {
        match f.kind {
            Counter => describe_counter!(f.name, f.help),
            Gauge => describe_gauge!(f.name, f.help),
            Histogram => describe_histogram!(f.name, f.help),
        }
    }
}

/// Folds the histogram samples recorded since the last call into their buckets.
///
/// The exporter keeps every histogram sample until this runs or `/metrics` is
/// rendered: with nobody scraping, a gateway at 20k requests a second grew by ~1 MiB a
/// second (six samples a request), and between 15-second scrapes by ~15 MiB.
/// `scheduler::sample` calls it every `SAMPLE_INTERVAL`.
pub fn run_upkeep() {
    if let Some(handle) = init() {
        handle.run_upkeep();
    }
}

/// The exposition text, or an empty page when no recorder is installed.
pub fn render() -> String {
    startup::collect_process();
    let mut out = init().map(PrometheusHandle::render).unwrap_or_default();
    cost::render_into(&mut out);
    out
}

/// Counts one request by cache outcome (`hit`, `miss`, `coalesced`, `bypass`).
pub fn record_cache_event(result: &'static str) {
    handles::count("switchyard_cache_events_total", &[("result", result)], 1);
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

/// Counts records committed and their write lag.
pub fn record_usage_written(added: usize, lags: impl Iterator<Item = Duration>) {
    counter!("switchyard_usage_records_total").increment(added as u64);
    let lag = histogram!("switchyard_usage_write_lag_seconds");
    for l in lags {
        lag.record(l.as_secs_f64());
    }
}

/// Counts one config reload by result (`ok`, `invalid`, `restart_required`).
pub fn record_config_reload(result: &'static str) {
    counter!("switchyard_config_reloads_total", "result" => result).increment(1);
}

/// Counts lost usage records.
pub fn record_usage_dropped(n: u64) {
    counter!("switchyard_usage_dropped_total").increment(n);
}

/// Counts a hand-off that found the ledger's queue full.
pub fn record_usage_queue_full() {
    counter!("switchyard_usage_queue_full_total").increment(1);
}
