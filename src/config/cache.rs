//! `[cache]` and the per-route `cache` / `cache_ttl_ms` keys: whether identical requests
//! share one upstream call (coalescing) and whether answers are kept for a while (the
//! response cache). docs/caching.md is the reference.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid, positive};

/// Default time an answer stays in the cache: long enough for retries and repeated
/// batch jobs, short enough that a changed upstream model shows within minutes.
pub const DEFAULT_TTL_MS: u64 = 300_000;
/// Default memory bound of the response cache, counted in bytes of stored answers.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// What the gateway does with identical requests on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// Every request goes upstream on its own.
    Off,
    /// Identical requests in flight at the same time share one upstream call.
    Coalesce,
    /// Coalescing, plus answers to cacheable requests are replayed within their TTL.
    Cache,
}

impl CacheMode {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Coalesce => "coalesce",
            Self::Cache => "cache",
        }
    }
}

/// `[cache]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Master switch; `false` turns coalescing and caching off everywhere. Default true.
    pub enabled: Option<bool>,
    /// How long an answer is replayed, unless the route sets `cache_ttl_ms`. Default 300000.
    pub ttl_ms: Option<u64>,
    /// Memory bound of stored answers in bytes; the least recently used go first.
    /// Default 67108864 (64 MiB).
    pub max_bytes: Option<usize>,
    /// Mode of requests whose route sets none (and of requests naming a model).
    /// Default "cache".
    pub default_mode: Option<CacheMode>,
}

/// The checked `[cache]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub enabled: bool,
    pub ttl: Duration,
    pub max_bytes: usize,
    pub default_mode: CacheMode,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl: Duration::from_millis(DEFAULT_TTL_MS),
            max_bytes: DEFAULT_MAX_BYTES,
            default_mode: CacheMode::Cache,
        }
    }
}

/// A route's own cache settings; `None` falls back to `[cache]`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteCache {
    pub mode: Option<CacheMode>,
    pub ttl: Option<Duration>,
}

/// Checks `[cache]`.
pub fn validate(raw: &RawCache) -> Result<CacheConfig, ConfigError> {
    let d = CacheConfig::default();
    let max_bytes = match raw.max_bytes {
        Some(0) => return Err(invalid("cache.max_bytes", "expected a number > 0")),
        v => v.unwrap_or(d.max_bytes),
    };
    Ok(CacheConfig {
        enabled: raw.enabled.unwrap_or(d.enabled),
        ttl: Duration::from_millis(positive("cache", "ttl_ms", raw.ttl_ms, DEFAULT_TTL_MS)?),
        max_bytes,
        default_mode: raw.default_mode.unwrap_or(d.default_mode),
    })
}

/// Checks a route's `cache` and `cache_ttl_ms` (`at` is `routes.NAME`).
pub fn validate_route(
    at: &str,
    mode: Option<CacheMode>,
    ttl_ms: Option<u64>,
) -> Result<RouteCache, ConfigError> {
    let ttl = match ttl_ms {
        None => None,
        Some(v) => Some(Duration::from_millis(positive(
            at,
            "cache_ttl_ms",
            Some(v),
            v,
        )?)),
    };
    Ok(RouteCache { mode, ttl })
}
