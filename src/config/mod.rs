//! Configuration: TOML in, a validated [`Config`] out.
//!
//! Two layers: [`raw`] mirrors the file and rejects unknown keys with the path of the
//! key; [`validate()`] resolves defaults, secrets and cross-references. Each section's
//! checked type lives with its checks in a file named after the section: [`providers`],
//! [`models`], [`routes`] (with `[[route_rules]]`), [`tiers`], [`keys`], [`health`],
//! [`scheduler`], [`dispatch`] (with the providers' rate limits), [`cache`], [`usage`]
//! (with `[tenants]`) and [`rechunk`] (`[streaming]`). [`diff`] says which changes a
//! running gateway can take on reload.

pub mod cache;
pub mod catalogue;
pub mod cluster;
pub mod diff;
pub mod dispatch;
pub mod health;
pub mod keys;
pub mod models;
pub mod policy;
pub mod prices;
pub mod provider_kind;
pub mod providers;
pub mod raw;
pub mod rechunk;
pub mod routes;
pub mod scheduler;
pub mod secret;
pub mod tiers;
pub mod usage;
mod validate;
pub mod weights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use cache::{CacheConfig, CacheMode, RouteCache};
pub use dispatch::{DispatchConfig, RateLimits};
pub use health::HealthConfig;
pub use keys::{GatewayKeyConfig, key_digest};
pub use models::ModelConfig;
pub use prices::Prices;
pub use provider_kind::ProviderKind;
pub use providers::{MOCK_PLACEHOLDER, ProviderConfig};
pub use raw::H2c;
use raw::RawConfig;
pub use rechunk::RechunkConfig;
pub use routes::{RouteConfig, RouteRule, UnsupportedParams};
pub use scheduler::SchedulerConfig;
pub use secret::{Resolved, Secret, SecretSource};
pub use tiers::TierConfig;
pub use usage::{Limits, UsageConfig};
pub use validate::validate;
pub use weights::{PartialWeights, Weights};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit: large enough for a few images as data URLs.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A config that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A [`ConfigError::Invalid`] at `path`.
fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// A checked configuration.
#[derive(Debug)]
pub struct Config {
    pub listen: String,
    pub max_body_bytes: usize,
    pub workers: Option<usize>,
    /// Where `/metrics` is served; `None`: on `listen`.
    pub metrics_listen: Option<String>,
    /// `server.metrics_token`: who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// `server.body_read_timeout_ms`: the longest wait for a request body's next bytes.
    pub body_read_timeout: std::time::Duration,
    /// `server.body_total_timeout_ms`: the longest a whole request body may take.
    pub body_total_timeout: std::time::Duration,
    /// `server.max_connections`; `None`: sized from the open-files limit at start.
    pub max_connections: Option<usize>,
    pub admin_token: Option<Secret>,
    pub dispatch: DispatchConfig,
    pub providers: Vec<Arc<ProviderConfig>>,
    /// Providers left out for want of keys, sorted (`warnings` says why).
    pub disabled_providers: Vec<String>,
    pub models: Vec<Arc<ModelConfig>>,
    pub routes: BTreeMap<String, RouteConfig>,
    pub route_rules: Vec<RouteRule>,
    pub tiers: BTreeMap<String, TierConfig>,
    pub keys: Vec<GatewayKeyConfig>,
    pub health: HealthConfig,
    pub scheduler: SchedulerConfig,
    pub cache: CacheConfig,
    /// `[usage]`: the ledger.
    pub usage: UsageConfig,
    /// `[tenants.NAME]`: limits shared by a tenant's keys.
    pub tenants: BTreeMap<String, Limits>,
    /// Things that load but deserve the operator's attention (disabled providers).
    pub warnings: Vec<String>,
    /// Worth a look but not a warning at every start: configured prices that differ
    /// from the built-in catalogue's. `check-config` prints them.
    pub notes: Vec<String>,
    /// Where relative secret files resolve (the config file's folder), for key reloads.
    pub base_dir: Option<PathBuf>,
    /// The file this config was read from, for `POST /admin/reload`; `None` for
    /// config text (the embedded demo, tests).
    pub source: Option<ConfigSource>,
    /// `[cluster]`; `None`: the embedded default, all state in process.
    pub cluster: Option<cluster::ClusterConfig>,
    /// SHA-256 of the config text (first 16 hex characters), for `/admin/cluster`.
    pub digest: String,
}

/// Who may read `/metrics` (`server.metrics_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// No token configured: anyone who reaches the listener.
    Open,
    /// Requests that carry this bearer token.
    Token(Secret),
    /// A token is configured but its environment variable is not set: nobody.
    Closed,
}

/// Where a config was read from, so it can be read again the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub path: PathBuf,
    /// What `{mock}` in base URLs stood for (`switchyard demo --config`).
    pub mock_addr: Option<String>,
}

impl Config {
    /// Loads and validates a config file. `mock_addr` replaces `{mock}` in base URLs.
    pub fn load(path: &Path, mock_addr: Option<&str>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml(&text, path.parent(), mock_addr)?;
        config.source = Some(ConfigSource {
            path: path.to_path_buf(),
            mock_addr: mock_addr.map(str::to_owned),
        });
        Ok(config)
    }

    /// Parses and validates config text; secret files resolve against `base_dir`.
    pub fn from_toml(
        text: &str,
        base_dir: Option<&Path>,
        mock_addr: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let de =
            toml::Deserializer::parse(text).map_err(|e| invalid("config", located(text, &e)))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let e = e.into_inner();
            // A duplicate key has no path (its table is not entered yet): its line is
            // all there is to go by.
            if path == "." {
                invalid("config", located(text, &e))
            } else {
                invalid(path, humanize(e.message()))
            }
        })?;
        let mut config = validate(raw, base_dir, mock_addr)?;
        config.digest = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
        Ok(config)
    }
}

/// A TOML error's message with where it is: `line 3, column 7: ...`, so a syntax error
/// or a duplicate key can be found in a long file.
fn located(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(span) = e.span() else {
        return message.to_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// Rewrites serde's Rust type names in plain words: `expected u64` → `expected an integer`;
/// a negative or oversized integer says what the range is.
fn humanize(message: &str) -> String {
    if let Some(out) = out_of_range(message) {
        return out;
    }
    let mut out = message.to_owned();
    for (rust, plain) in [
        ("expected u64", "expected an integer"),
        ("expected u32", "expected an integer"),
        ("expected usize", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        out = out.replace(rust, plain);
    }
    out
}

/// serde's `invalid value: integer `-3`, expected u32` in plain words: `expected a
/// non-negative integer, got -3`, or the largest value allowed when it is too large.
fn out_of_range(message: &str) -> Option<String> {
    let rest = message.strip_prefix("invalid value: integer `")?;
    let (value, ty) = rest.split_once("`, expected ")?;
    let max = match ty {
        "u8" => u64::from(u8::MAX),
        "u16" => u64::from(u16::MAX),
        "u32" => u64::from(u32::MAX),
        "u64" | "usize" => u64::MAX,
        _ => return None,
    };
    Some(if value.starts_with('-') {
        format!("expected a non-negative integer, got {value}")
    } else {
        format!("expected an integer from 0 to {max}, got {value}")
    })
}

/// `v`, or `default` when absent; zero is refused (`at.field: expected a number > 0`).
fn positive(at: &str, field: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(0) => Err(invalid(format!("{at}.{field}"), "expected a number > 0")),
        Some(v) => Ok(v),
    }
}

#[cfg(test)]
mod tests;
