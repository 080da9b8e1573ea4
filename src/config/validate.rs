//! The second layer of loading: [`validate`] turns the file as written ([`RawConfig`])
//! into a checked [`Config`], one section at a time and in an order that lets later
//! sections refer to earlier ones (models to providers, routes to models, keys to
//! tiers). The sections with a file of their own check themselves there; `[server]`
//! and `[admin]` are short enough to be checked here.

use std::path::Path;
use std::time::Duration;

use super::policy::Policies;
use super::raw::{RawAdmin, RawConfig, RawServer};
use super::{
    Config, ConfigError, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DispatchConfig, MetricsAccess,
    Resolved, Secret, cache, cluster, dispatch, health, invalid, keys, models, providers, rechunk,
    routes, scheduler, tiers, usage,
};

/// Resolves defaults, secrets and cross-references. `base_dir` is where relative secret
/// files are; `mock_addr` replaces `{mock}` in base URLs.
pub fn validate(
    raw: RawConfig,
    base_dir: Option<&Path>,
    mock_addr: Option<&str>,
) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let providers = providers::validate(raw.providers, base_dir, mock_addr, &mut warnings)?;
    let mut notes = Vec::new();
    let models = models::validate(raw.models, &providers, &mut notes)?;
    let global_policy = dispatch::global_policy(&raw.dispatch)?;
    let routes = routes::validate(raw.routes, &models, &global_policy)?;
    let route_rules = routes::validate_rules(raw.route_rules, &routes.routes)?;
    let tiers = tiers::validate(raw.tiers, &routes.routes, &models)?;
    let keys = keys::validate(raw.keys, &tiers, base_dir, &mut warnings)?;
    let admin_token = admin_token(&raw.admin, base_dir, &mut warnings)?;
    let metrics_access = metrics_access(&raw.server, base_dir, &mut warnings)?;
    let body_read_timeout = Duration::from_millis(super::positive(
        "server",
        "body_read_timeout_ms",
        raw.server.body_read_timeout_ms,
        DEFAULT_BODY_READ_TIMEOUT_MS,
    )?);
    let body_total_timeout = Duration::from_millis(super::positive(
        "server",
        "body_total_timeout_ms",
        raw.server.body_total_timeout_ms,
        DEFAULT_BODY_TOTAL_TIMEOUT_MS,
    )?);
    if raw.server.max_connections == Some(0) {
        return Err(invalid("server.max_connections", "expected a number > 0"));
    }
    let rechunk = rechunk::validate(&raw.streaming)?;
    usage::validate_tenants(&raw.tenants)?;
    let health = health::validate(&raw.health)?;
    let scheduler = scheduler::validate(&raw.scheduler)?;
    let cache = cache::validate(&raw.cache)?;
    let usage = usage::validate_usage(&raw.usage)?;
    let cluster = cluster::validate(raw.cluster.as_ref(), base_dir)?;
    for (key, addr) in [
        ("server.listen", &raw.server.listen),
        ("server.metrics_listen", &raw.server.metrics_listen),
    ] {
        if let Some(addr) = addr {
            check_listen(key, addr)?;
        }
    }
    Ok(Config {
        listen: raw
            .server
            .listen
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        max_body_bytes: raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        workers: raw.server.workers,
        metrics_listen: raw.server.metrics_listen,
        metrics_access,
        body_read_timeout,
        body_total_timeout,
        max_connections: raw.server.max_connections,
        admin_token,
        dispatch: DispatchConfig {
            policies: Policies {
                default: global_policy,
                routes: routes.policies,
            },
            rechunk,
        },
        providers: providers.enabled,
        disabled_providers: {
            let mut names: Vec<String> = providers.disabled.iter().cloned().collect();
            names.sort();
            names
        },
        models: models.enabled,
        routes: routes.routes,
        route_rules,
        tiers,
        keys,
        health,
        scheduler,
        cache,
        usage,
        tenants: raw.tenants,
        cluster,
        digest: String::new(),
        warnings,
        notes,
        base_dir: base_dir.map(Path::to_path_buf),
        source: None,
    })
}

/// `[admin] token`; an unset environment variable turns the admin API off, with a
/// warning.
fn admin_token(
    raw: &RawAdmin,
    base_dir: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Option<Secret>, ConfigError> {
    let Some(source) = &raw.token else {
        return Ok(None);
    };
    Ok(match source.resolve("admin.token", base_dir)? {
        Resolved::Found(s) => Some(s),
        Resolved::MissingEnv(var) => {
            warnings.push(format!("admin API disabled: {var} is not set"));
            None
        }
    })
}

/// Default `server.body_read_timeout_ms`: a client sending its body in chunks is
/// never this slow between two of them unless it stalled.
const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 5_000;
/// Default `server.body_total_timeout_ms`: 4 MiB (the default body limit) at a slow
/// 1 Mbit/s takes about 34 s; bodies are rarely that large.
const DEFAULT_BODY_TOTAL_TIMEOUT_MS: u64 = 30_000;

/// `server.metrics_token`; an unset environment variable closes `/metrics` (to
/// everyone, with a warning) rather than opening it.
fn metrics_access(
    raw: &RawServer,
    base_dir: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<MetricsAccess, ConfigError> {
    let Some(source) = &raw.metrics_token else {
        return Ok(MetricsAccess::Open);
    };
    Ok(match source.resolve("server.metrics_token", base_dir)? {
        Resolved::Found(s) => MetricsAccess::Token(s),
        Resolved::MissingEnv(var) => {
            warnings.push(format!(
                "/metrics answers 401 to everyone: {var} is not set"
            ));
            MetricsAccess::Closed
        }
    })
}

/// A listen address is `host:port` with a port from 0 to 65535; the host (an IP, `[v6]`
/// or a name such as `localhost`) is not resolved here, only checked for being there.
fn check_listen(key: &str, addr: &str) -> Result<(), ConfigError> {
    let expected = || {
        invalid(
            key,
            format!(
                "expected host:port, e.g. 127.0.0.1:8080, got '{}'",
                crate::error::echo(addr)
            ),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(expected)?;
    let host_ok = !host.is_empty()
        && !host.chars().any(|c| c.is_whitespace() || c == '/')
        && (host.starts_with('[') == host.ends_with(']'))
        && (host.starts_with('[') || !host.contains(':'));
    if !host_ok {
        return Err(expected());
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    if port.parse::<u16>().is_err() {
        return Err(invalid(
            key,
            format!(
                "port {} is out of range: expected 0 to 65535",
                crate::error::echo(port)
            ),
        ));
    }
    Ok(())
}
