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
pub use routes::{RouteConfig, RouteRule};
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
    pub admin_token: Option<Secret>,
    pub dispatch: DispatchConfig,
    pub providers: Vec<Arc<ProviderConfig>>,
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
    /// Where relative secret files resolve (the config file's folder), for key reloads.
    pub base_dir: Option<PathBuf>,
    /// The file this config was read from, for `POST /admin/reload`; `None` for
    /// config text (the embedded demo, tests).
    pub source: Option<ConfigSource>,
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
        let de = toml::Deserializer::parse(text).map_err(|e| invalid("config", e.message()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            invalid(path, humanize(e.into_inner().message()))
        })?;
        validate(raw, base_dir, mock_addr)
    }
}

/// Rewrites serde's Rust type names in plain words: `expected u64` → `expected an integer`.
fn humanize(message: &str) -> String {
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
