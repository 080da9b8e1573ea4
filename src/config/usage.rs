//! The usage ledger's settings (`[usage]`) and the optional limits a gateway key or a
//! tenant can carry (`[[keys]]` fields, `[tenants.NAME]`): requests and tokens per
//! minute, budgets in USD per day and per month.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Default ledger file, relative to the working directory.
pub const DEFAULT_USAGE_DATABASE: &str = "switchyard-usage.db";
/// Default batch window: a crash loses at most this much of the newest usage.
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1000;
/// Default queue between request handlers and the ledger writer: a minute of records at
/// 1000 requests per second, so a slow disk never stalls a handler.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;

/// `[usage]`: where and how often usage records are written.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageConfig {
    /// The SQLite file (created if missing); relative paths are relative to the working
    /// directory the gateway was started in.
    pub database: PathBuf,
    /// Longest time a finished request's record waits before it is committed.
    pub flush_interval: Duration,
    /// Records that may wait for the writer before handlers fall back to a blocking
    /// hand-off on the blocking thread pool.
    pub queue_capacity: usize,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            database: PathBuf::from(DEFAULT_USAGE_DATABASE),
            flush_interval: Duration::from_millis(DEFAULT_FLUSH_INTERVAL_MS),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// `[usage]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsage {
    /// SQLite file for usage records and admin-created keys. Default "switchyard-usage.db".
    pub database: Option<PathBuf>,
    /// Batch window in ms: records are committed at least this often. Default 1000.
    pub flush_interval_ms: Option<u64>,
    /// Records queued for the writer before back-pressure. Default 65536.
    pub queue_capacity: Option<usize>,
}

/// Optional limits of a key or a tenant; `None` means unlimited. Budgets reset at
/// 00:00 UTC (day) and on the first of the month, UTC (month).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests accepted per calendar minute.
    pub requests_per_minute: Option<u64>,
    /// Prompt plus completion tokens per calendar minute; a request is refused once the
    /// minute's tokens reached the limit.
    pub tokens_per_minute: Option<u64>,
    /// USD of provider cost per UTC day; requests are refused once spend reached it.
    pub budget_usd_per_day: Option<f64>,
    /// USD of provider cost per UTC calendar month.
    pub budget_usd_per_month: Option<f64>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every field; `at` prefixes the paths in errors.
    pub fn validate(&self, at: &str) -> Result<(), ConfigError> {
        for (field, v) in [
            ("requests_per_minute", self.requests_per_minute),
            ("tokens_per_minute", self.tokens_per_minute),
        ] {
            if v == Some(0) {
                return Err(invalid(format!("{at}.{field}"), "expected a number > 0"));
            }
        }
        for (field, v) in [
            ("budget_usd_per_day", self.budget_usd_per_day),
            ("budget_usd_per_month", self.budget_usd_per_month),
        ] {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                return Err(invalid(format!("{at}.{field}"), "expected an amount >= 0"));
            }
        }
        Ok(())
    }
}

/// Resolves `[usage]`.
pub fn validate_usage(raw: &RawUsage) -> Result<UsageConfig, ConfigError> {
    let d = UsageConfig::default();
    let flush_ms = raw.flush_interval_ms.unwrap_or(DEFAULT_FLUSH_INTERVAL_MS);
    if flush_ms == 0 {
        return Err(invalid("usage.flush_interval_ms", "expected a number > 0"));
    }
    if raw.queue_capacity == Some(0) {
        return Err(invalid("usage.queue_capacity", "expected a number > 0"));
    }
    let database = raw.database.clone().unwrap_or(d.database);
    if database.as_os_str().is_empty() {
        return Err(invalid("usage.database", "expected a file path"));
    }
    Ok(UsageConfig {
        database,
        flush_interval: Duration::from_millis(flush_ms),
        queue_capacity: raw.queue_capacity.unwrap_or(d.queue_capacity),
    })
}

/// Checks every `[tenants.NAME]`'s limits.
pub(super) fn validate_tenants(tenants: &BTreeMap<String, Limits>) -> Result<(), ConfigError> {
    for (name, limits) in tenants {
        limits.validate(&format!("tenants.{name}"))?;
    }
    Ok(())
}

/// Whether `name` can be a tenant: it becomes a metric label and a CSV cell, so it is
/// kept short and plain.
pub fn is_valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
