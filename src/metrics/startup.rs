//! Series that exist from the first scrape: `switchyard_build_info`, the standard
//! `process_*` family (CPU, memory, open files, threads, start time; collected when
//! `/metrics` is rendered), and every counter and gauge a dashboard panel queries at 0
//! for the label sets the config implies, so no panel shows "No data" until its first
//! failover, heartbeat failure, eviction or queued request.

use std::sync::OnceLock;

use metrics::{counter, gauge};

use crate::config::Config;
use crate::error::ErrorClass;

/// The commit this binary was built from (`build.rs`), `unknown` outside a git tree.
pub const COMMIT: &str = env!("SWITCHYARD_COMMIT");

/// The process collector, described once.
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Describes the process family and sets the build info; once per process.
pub(super) fn describe() {
    PROCESS.get_or_init(|| {
        let c = metrics_process::Collector::default();
        c.describe();
        c
    });
    gauge!(
        "switchyard_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => COMMIT,
    )
    .set(1.0);
}

/// Reads the process figures into their gauges; `render` calls it per scrape.
pub(super) fn collect_process() {
    if let Some(c) = PROCESS.get() {
        c.collect();
    }
}

/// Results of `switchyard_cache_events_total` (the usage record's cache statuses but
/// `none`, which is not counted).
const CACHE_RESULTS: [&str; 4] = ["hit", "miss", "coalesced", "bypass"];

/// Results of `switchyard_config_reloads_total`.
const RELOAD_RESULTS: [&str; 3] = ["ok", "invalid", "restart_required"];

/// Registers, at 0, the series of every counter and gauge a dashboard queries for the
/// providers, models and routes of `config`. Series that already exist keep their
/// values (a counter grows by 0, a gauge that moves by deltas by 0.0), so it is safe to
/// call again after a reload adds names.
pub fn declare(config: &Config) {
    for m in &config.models {
        let pm = [
            ("provider", m.provider.name.to_string()),
            ("model", m.name.to_string()),
        ];
        counter!("switchyard_attempts_total", &pm).increment(0);
        for class in ErrorClass::ALL {
            let labels = [
                pm[0].clone(),
                pm[1].clone(),
                ("kind", class.kind().to_owned()),
            ];
            counter!("switchyard_upstream_errors_total", &labels).increment(0);
        }
        for kind in ["prompt", "completion"] {
            let labels = [pm[0].clone(), pm[1].clone(), ("kind", kind.to_owned())];
            counter!("switchyard_tokens_total", &labels).increment(0);
        }
    }
    for provider in &config.providers {
        let p = [("provider", provider.name.to_string())];
        counter!("switchyard_heartbeat_failures_total", &p).increment(0);
        counter!("switchyard_rate_limited_total", &p).increment(0);
        gauge!("switchyard_rate_limit_queue_depth", &p).increment(0.0);
        gauge!("switchyard_in_flight_requests", &p).increment(0.0);
    }
    for route in config
        .routes
        .keys()
        .map(String::as_str)
        .chain([super::NONE])
    {
        counter!("switchyard_failovers_total", "route" => route.to_owned()).increment(0);
    }
    for result in CACHE_RESULTS {
        counter!("switchyard_cache_events_total", "result" => result).increment(0);
    }
    for result in RELOAD_RESULTS {
        counter!("switchyard_config_reloads_total", "result" => result).increment(0);
    }
    counter!("switchyard_cache_evictions_total").increment(0);
    gauge!("switchyard_cache_coalesced_waiters").increment(0.0);
    gauge!("switchyard_cache_bytes").increment(0.0);
    gauge!("switchyard_cache_entries").increment(0.0);
    gauge!("switchyard_open_streams").increment(0.0);
    counter!("switchyard_usage_records_total").increment(0);
    counter!("switchyard_usage_dropped_total").increment(0);
    counter!("switchyard_usage_queue_full_total").increment(0);
}
