//! Configuration: TOML in, a validated [`Config`] out.
//!
//! Two layers: [`raw`] mirrors the file and rejects unknown keys with the path of the
//! key; [`validate`] resolves defaults, secrets and cross-references.

pub mod cache;
pub mod diff;
pub mod dispatch;
pub mod policy;
pub mod prices;
pub mod provider_kind;
pub mod raw;
pub mod rechunk;
pub mod secret;
pub mod usage;
pub mod weights;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use cache::{CacheConfig, CacheMode, RouteCache};
pub use dispatch::RateLimits;
pub use prices::Prices;
pub use provider_kind::ProviderKind;
pub use raw::H2c;
use raw::RawConfig;
pub use rechunk::RechunkConfig;
pub use secret::{Resolved, Secret, SecretSource};
pub use usage::{Limits, UsageConfig};
pub use weights::{PartialWeights, Weights};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit: large enough for a few images as data URLs.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The placeholder in `base_url` that stands for the simulated providers' address.
pub const MOCK_PLACEHOLDER: &str = "{mock}";

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

/// How a plan is run.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchConfig {
    /// The global retry delay (`policies.default.retry_delay`).
    pub retry_delay: Duration,
    /// The global attempt cap (`policies.default.max_attempts`).
    pub max_attempts: u32,
    /// The global retry policy and each route's.
    pub policies: policy::Policies,
    /// `[streaming.rechunk]`; `None` relays deltas as the provider sent them.
    pub rechunk: Option<RechunkConfig>,
}

/// A named set of candidates with its own weights and fallbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// Model names or `provider/model`, ranked by the scheduler.
    pub candidates: Vec<String>,
    pub weights: PartialWeights,
    /// Tried in order after the ranked candidates.
    pub fallbacks: Vec<String>,
    pub cache: RouteCache,
}

/// Chooses a route for requests to `auto`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    pub route: String,
    pub min_prompt_tokens: Option<u64>,
    pub tools: Option<bool>,
    pub task: Option<String>,
}

/// What keys of a tier may use.
#[derive(Debug, Clone, PartialEq)]
pub struct TierConfig {
    /// `None`: every route.
    pub routes: Option<Vec<String>>,
    pub weights: PartialWeights,
    pub fallbacks: Vec<String>,
}

/// How provider health is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub failure_threshold: u32,
    pub heartbeat_failure_threshold: u32,
    pub open_cooldown: Duration,
    pub latency_window: Duration,
    pub publish_interval: Duration,
}

/// How candidates are scored.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    pub weights: Weights,
    pub exploration: f64,
    pub tie_band: f64,
    pub default_output_tokens: u64,
}

/// One upstream account.
#[derive(Debug)]
pub struct ProviderConfig {
    /// Position in [`Config::providers`], used to index live state.
    pub index: usize,
    pub name: Arc<str>,
    pub kind: ProviderKind,
    /// Without a trailing slash.
    pub base_url: String,
    /// The keys as first loaded; the live set is the provider's key pool, which
    /// `POST /admin/reload-keys` and SIGHUP refresh from `key_sources`.
    pub keys: Vec<Secret>,
    /// Where the keys come from.
    pub key_sources: Vec<SecretSource>,
    pub timeout: Duration,
    pub first_byte_timeout: Duration,
    /// Requests and tokens per minute per key, and queueing bounds.
    pub limits: RateLimits,
    /// HTTP/2 without TLS (`h2c`) for all, streamed or no requests: those multiplex
    /// over one connection per thread.
    pub h2c: H2c,
}

/// One model at one provider.
#[derive(Debug)]
pub struct ModelConfig {
    /// Position in [`Config::models`], used to index live state.
    pub index: usize,
    pub name: Arc<str>,
    pub provider: Arc<ProviderConfig>,
    pub upstream: String,
    pub prices: Prices,
    pub context_window: u32,
    pub max_output_tokens: u32,
    /// Latency assumed before anything is measured.
    pub prior_latency_ms: f64,
}

impl ModelConfig {
    /// A model at a provider of its own, outside any config: for adapter tests and
    /// translation benchmarks. Prices are 1 USD per million tokens either way.
    pub fn standalone(
        kind: ProviderKind,
        base_url: &str,
        upstream: &str,
        max_output_tokens: u32,
    ) -> Self {
        Self {
            index: 0,
            name: upstream.into(),
            provider: Arc::new(ProviderConfig {
                index: 0,
                name: kind.as_str().into(),
                kind,
                base_url: base_url.to_owned(),
                keys: Vec::new(),
                key_sources: Vec::new(),
                timeout: Duration::from_secs(60),
                first_byte_timeout: Duration::from_secs(30),
                limits: RateLimits::default(),
                h2c: H2c::Off,
            }),
            upstream: upstream.to_owned(),
            prices: Prices {
                input: 1.0,
                output: 1.0,
                cached_input: 1.0,
            },
            context_window: 128_000,
            max_output_tokens,
            prior_latency_ms: 1000.0,
        }
    }
}

/// A gateway key, kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayKeyConfig {
    pub id: String,
    pub sha256: [u8; 32],
    pub tenant: String,
    pub tier: String,
    pub limits: Limits,
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

/// Hex SHA-256 of a gateway key, as `key_sha256` expects.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Resolves defaults, secrets and cross-references.
pub fn validate(
    raw: RawConfig,
    base_dir: Option<&Path>,
    mock_addr: Option<&str>,
) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();

    let mut providers = Vec::new();
    let mut disabled_providers = HashSet::new();
    for (name, p) in raw.providers {
        let at = format!("providers.{name}");
        let uses_mock = p.base_url.contains(MOCK_PLACEHOLDER);
        let base_url = if uses_mock {
            let addr = mock_addr.ok_or_else(|| {
                invalid(
                    format!("{at}.base_url"),
                    "uses {mock}, which only `switchyard demo` provides",
                )
            })?;
            p.base_url.replace(MOCK_PLACEHOLDER, addr)
        } else {
            p.base_url.clone()
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid(
                format!("{at}.base_url"),
                "expected an http:// or https:// URL",
            ));
        }
        let mut keys = Vec::new();
        let mut missing = Vec::new();
        for (i, source) in p.keys.iter().enumerate() {
            let key_at = format!("{at}.keys[{i}]");
            if source.is_literal() && !uses_mock {
                return Err(invalid(
                    key_at,
                    "provider keys may not be written in the config: use `env` or `file`",
                ));
            }
            match source.resolve(&key_at, base_dir)? {
                Resolved::Found(s) => keys.push(s),
                Resolved::MissingEnv(var) => missing.push(var),
            }
        }
        if keys.is_empty() && !p.keys.is_empty() {
            warnings.push(format!(
                "provider {name} disabled: environment variable {} is not set",
                missing.join(", ")
            ));
            disabled_providers.insert(name);
            continue;
        }
        let timeout = Duration::from_millis(positive(&at, "timeout_ms", p.timeout_ms, 120_000)?);
        let first_byte_timeout = Duration::from_millis(positive(
            &at,
            "first_byte_timeout_ms",
            p.first_byte_timeout_ms,
            30_000,
        )?);
        let limits = dispatch::rate_limits(&at, &p)?;
        if p.h2c != H2c::Off && !base_url.starts_with("http://") {
            return Err(invalid(
                format!("{at}.h2c"),
                "h2c is HTTP/2 without TLS, for http:// base URLs; https:// providers negotiate HTTP/2 by themselves",
            ));
        }
        providers.push(Arc::new(ProviderConfig {
            index: providers.len(),
            name: name.into(),
            kind: p.kind,
            base_url: base_url.trim_end_matches('/').to_owned(),
            keys,
            key_sources: p.keys,
            timeout,
            first_byte_timeout,
            limits,
            h2c: p.h2c,
        }));
    }

    let mut models = Vec::new();
    let mut disabled_models = HashSet::new();
    let mut seen = HashSet::new();
    for (i, m) in raw.models.into_iter().enumerate() {
        let at = format!("models[{i}]");
        if m.name.is_empty() || m.name.contains('/') {
            return Err(invalid(
                format!("{at}.name"),
                "expected a non-empty name without '/'",
            ));
        }
        if !seen.insert((m.name.clone(), m.provider.clone())) {
            return Err(invalid(
                format!("{at}.name"),
                format!(
                    "model {} is listed twice for provider {}",
                    m.name, m.provider
                ),
            ));
        }
        let Some(provider) = providers.iter().find(|p| *p.name == *m.provider) else {
            if disabled_providers.contains(&m.provider) {
                disabled_models.insert(format!("{}/{}", m.provider, m.name));
                disabled_models.insert(m.name);
                continue;
            }
            return Err(invalid(
                format!("{at}.provider"),
                format!("no provider named '{}'", m.provider),
            ));
        };
        for (field, v) in [
            ("input_per_mtok_usd", m.input_per_mtok_usd),
            ("output_per_mtok_usd", m.output_per_mtok_usd),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(format!("{at}.{field}"), "expected a price >= 0"));
            }
        }
        if m.context_window == 0 {
            return Err(invalid(
                format!("{at}.context_window"),
                "expected a number > 0",
            ));
        }
        models.push(Arc::new(ModelConfig {
            index: models.len(),
            prior_latency_ms: m.prior_latency_ms.unwrap_or(1000) as f64,
            upstream: m.upstream.unwrap_or_else(|| m.name.clone()),
            name: m.name.into(),
            provider: provider.clone(),
            prices: Prices {
                input: m.input_per_mtok_usd,
                output: m.output_per_mtok_usd,
                cached_input: m.cached_input_per_mtok_usd.unwrap_or(m.input_per_mtok_usd),
            },
            context_window: m.context_window,
            max_output_tokens: m.max_output_tokens.unwrap_or(4096),
        }));
    }

    let known = |c: &str| {
        models
            .iter()
            .any(|m| *m.name == *c || format!("{}/{}", m.provider.name, m.name) == c)
    };
    let check_models = |at: &str, list: Vec<String>| -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (i, c) in list.into_iter().enumerate() {
            if known(&c) {
                out.push(c);
            } else if !disabled_models.contains(&c) {
                return Err(invalid(
                    format!("{at}[{i}]"),
                    format!("no model named '{c}'"),
                ));
            }
        }
        Ok(out)
    };
    let global_policy = dispatch::global_policy(&raw.dispatch)?;
    let mut policies = policy::Policies {
        default: global_policy.clone(),
        routes: BTreeMap::new(),
    };
    let mut routes = BTreeMap::new();
    for (name, r) in raw.routes {
        let at = format!("routes.{name}");
        if models.iter().any(|m| *m.name == *name) {
            return Err(invalid(at, "a route may not share its name with a model"));
        }
        let weights = r.weights.unwrap_or_default();
        weights
            .validate()
            .map_err(|e| invalid(format!("{at}.weights.{}", e.field), e.message))?;
        let policy = dispatch::route_policy(&at, &global_policy, &r)?;
        if policy != global_policy {
            policies.routes.insert(name.clone(), policy);
        }
        routes.insert(
            name,
            RouteConfig {
                candidates: check_models(&format!("{at}.candidates"), r.candidates)?,
                weights,
                fallbacks: check_models(&format!("{at}.fallbacks"), r.fallbacks)?,
                cache: cache::validate_route(&at, r.cache, r.cache_ttl_ms)?,
            },
        );
    }
    let mut route_rules = Vec::new();
    for (i, rule) in raw.route_rules.into_iter().enumerate() {
        if !routes.contains_key(&rule.route) {
            return Err(invalid(
                format!("route_rules[{i}].route"),
                format!("no route named '{}'", rule.route),
            ));
        }
        route_rules.push(RouteRule {
            route: rule.route,
            min_prompt_tokens: rule.min_prompt_tokens,
            tools: rule.tools,
            task: rule.task,
        });
    }
    let mut tiers = BTreeMap::new();
    for (name, t) in raw.tiers {
        let at = format!("tiers.{name}");
        if let Some(rs) = &t.routes {
            for (i, r) in rs.iter().enumerate() {
                if !routes.contains_key(r) {
                    return Err(invalid(
                        format!("{at}.routes[{i}]"),
                        format!("no route named '{r}'"),
                    ));
                }
            }
        }
        let weights = t.weights.unwrap_or_default();
        weights
            .validate()
            .map_err(|e| invalid(format!("{at}.weights.{}", e.field), e.message))?;
        tiers.insert(
            name,
            TierConfig {
                routes: t.routes,
                weights,
                fallbacks: check_models(&format!("{at}.fallbacks"), t.fallbacks)?,
            },
        );
    }

    let mut keys = Vec::new();
    for (i, k) in raw.keys.into_iter().enumerate() {
        let at = format!("keys[{i}]");
        let sha256 = match (&k.key, &k.key_sha256) {
            (Some(source), None) => match source.resolve(&format!("{at}.key"), base_dir)? {
                Resolved::Found(s) => key_digest(s.expose()),
                Resolved::MissingEnv(var) => {
                    warnings.push(format!("gateway key {} disabled: {var} is not set", k.id));
                    continue;
                }
            },
            (None, Some(hex_digest)) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(hex_digest, &mut out).map_err(|_| {
                    invalid(format!("{at}.key_sha256"), "expected 64 hex characters")
                })?;
                out
            }
            _ => {
                return Err(invalid(at, "give exactly one of `key` or `key_sha256`"));
            }
        };
        let tier = k.tier.unwrap_or_else(|| "default".to_owned());
        if tier != "default" && !tiers.contains_key(&tier) {
            return Err(invalid(
                format!("{at}.tier"),
                format!("no tier named '{tier}'"),
            ));
        }
        let limits = Limits {
            requests_per_minute: k.requests_per_minute,
            tokens_per_minute: k.tokens_per_minute,
            budget_usd_per_day: k.budget_usd_per_day,
            budget_usd_per_month: k.budget_usd_per_month,
        };
        limits.validate(&at)?;
        if keys.iter().any(|c: &GatewayKeyConfig| c.id == k.id) {
            return Err(invalid(
                format!("{at}.id"),
                format!("key id '{}' is used twice", k.id),
            ));
        }
        if !usage::is_valid_tenant(&k.tenant) {
            return Err(invalid(
                format!("{at}.tenant"),
                "expected 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        keys.push(GatewayKeyConfig {
            id: k.id,
            sha256,
            tenant: k.tenant,
            tier,
            limits,
        });
    }

    let admin_token = match &raw.admin.token {
        None => None,
        Some(source) => match source.resolve("admin.token", base_dir)? {
            Resolved::Found(s) => Some(s),
            Resolved::MissingEnv(var) => {
                warnings.push(format!("admin API disabled: {var} is not set"));
                None
            }
        },
    };

    let rechunk = raw
        .streaming
        .rechunk
        .as_ref()
        .map(validate_rechunk)
        .transpose()?;
    for (name, limits) in &raw.tenants {
        limits.validate(&format!("tenants.{name}"))?;
    }
    let health = validate_health(&raw.health)?;
    let scheduler = validate_scheduler(&raw.scheduler)?;
    let cache = cache::validate(&raw.cache)?;
    Ok(Config {
        cache,
        health,
        scheduler,
        route_rules,
        tiers,
        listen: raw
            .server
            .listen
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        max_body_bytes: raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        workers: raw.server.workers,
        metrics_listen: raw.server.metrics_listen,
        admin_token,
        dispatch: DispatchConfig {
            retry_delay: global_policy.retry_delay,
            max_attempts: global_policy.max_attempts,
            policies,
            rechunk,
        },
        base_dir: base_dir.map(Path::to_path_buf),
        source: None,
        providers,
        models,
        routes,
        keys,
        usage: usage::validate_usage(&raw.usage)?,
        tenants: raw.tenants,
        warnings,
    })
}

/// Longest `coalesce_ms`: joining deltas for longer than a second stalls a stream.
const MAX_COALESCE_MS: u64 = 1000;

fn validate_rechunk(raw: &raw::RawRechunk) -> Result<RechunkConfig, ConfigError> {
    let coalesce_ms = raw.coalesce_ms.unwrap_or(rechunk::DEFAULT_COALESCE_MS);
    if coalesce_ms > MAX_COALESCE_MS {
        return Err(invalid(
            "streaming.rechunk.coalesce_ms",
            format!("expected at most {MAX_COALESCE_MS}"),
        ));
    }
    let max_chunk_chars = raw
        .max_chunk_chars
        .unwrap_or(rechunk::DEFAULT_MAX_CHUNK_CHARS);
    if max_chunk_chars == 0 {
        return Err(invalid(
            "streaming.rechunk.max_chunk_chars",
            "expected a number > 0",
        ));
    }
    Ok(RechunkConfig {
        coalesce: Duration::from_millis(coalesce_ms),
        max_chunk_chars,
    })
}

fn validate_health(h: &raw::RawHealth) -> Result<HealthConfig, ConfigError> {
    let ms = |field: &str, v: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(positive(
            "health", field, v, default,
        )?))
    };
    let count = |field: &str, v: Option<u32>, default: u32| -> Result<u32, ConfigError> {
        match v {
            Some(0) => Err(invalid(format!("health.{field}"), "expected a number > 0")),
            v => Ok(v.unwrap_or(default)),
        }
    };
    Ok(HealthConfig {
        heartbeat_interval: ms("heartbeat_interval_ms", h.heartbeat_interval_ms, 10_000)?,
        heartbeat_timeout: ms("heartbeat_timeout_ms", h.heartbeat_timeout_ms, 5_000)?,
        failure_threshold: count("failure_threshold", h.failure_threshold, 5)?,
        heartbeat_failure_threshold: count(
            "heartbeat_failure_threshold",
            h.heartbeat_failure_threshold,
            2,
        )?,
        open_cooldown: ms("open_cooldown_ms", h.open_cooldown_ms, 10_000)?,
        latency_window: ms("latency_window_ms", h.latency_window_ms, 60_000)?,
        publish_interval: ms("publish_interval_ms", h.publish_interval_ms, 250)?,
    })
}

fn validate_scheduler(s: &raw::RawScheduler) -> Result<SchedulerConfig, ConfigError> {
    let partial = s.weights.unwrap_or_default();
    partial
        .validate()
        .map_err(|e| invalid(format!("scheduler.weights.{}", e.field), e.message))?;
    let exploration = s.exploration.unwrap_or(0.05);
    if !(0.0..=0.5).contains(&exploration) {
        return Err(invalid(
            "scheduler.exploration",
            "expected a share from 0 to 0.5",
        ));
    }
    let tie_band = s.tie_band.unwrap_or(0.02);
    if !(0.0..=1.0).contains(&tie_band) {
        return Err(invalid(
            "scheduler.tie_band",
            "expected a number from 0 to 1",
        ));
    }
    Ok(SchedulerConfig {
        weights: partial.apply(Weights::default()),
        exploration,
        tie_band,
        default_output_tokens: s.default_output_tokens.unwrap_or(256),
    })
}

fn positive(at: &str, field: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(0) => Err(invalid(format!("{at}.{field}"), "expected a number > 0")),
        Some(v) => Ok(v),
    }
}

#[cfg(test)]
mod tests;
