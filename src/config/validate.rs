//! The second layer of loading: [`validate`] turns the file as written ([`RawConfig`])
//! into a checked [`Config`], one section at a time and in an order that lets later
//! sections refer to earlier ones (models to providers, routes to models, keys to
//! tiers). The sections with a file of their own check themselves there; `[server]`
//! and `[admin]` are short enough to be checked here.

use std::path::Path;

use super::policy::Policies;
use super::raw::{RawAdmin, RawConfig};
use super::{
    Config, ConfigError, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DispatchConfig, Resolved, Secret,
    cache, dispatch, health, keys, models, providers, rechunk, routes, scheduler, tiers, usage,
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
    let models = models::validate(raw.models, &providers)?;
    let global_policy = dispatch::global_policy(&raw.dispatch)?;
    let routes = routes::validate(raw.routes, &models, &global_policy)?;
    let route_rules = routes::validate_rules(raw.route_rules, &routes.routes)?;
    let tiers = tiers::validate(raw.tiers, &routes.routes, &models)?;
    let keys = keys::validate(raw.keys, &tiers, base_dir, &mut warnings)?;
    let admin_token = admin_token(&raw.admin, base_dir, &mut warnings)?;
    let rechunk = rechunk::validate(&raw.streaming)?;
    usage::validate_tenants(&raw.tenants)?;
    let health = health::validate(&raw.health)?;
    let scheduler = scheduler::validate(&raw.scheduler)?;
    let cache = cache::validate(&raw.cache)?;
    let usage = usage::validate_usage(&raw.usage)?;
    Ok(Config {
        listen: raw
            .server
            .listen
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        max_body_bytes: raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        workers: raw.server.workers,
        metrics_listen: raw.server.metrics_listen,
        admin_token,
        dispatch: DispatchConfig {
            policies: Policies {
                default: global_policy,
                routes: routes.policies,
            },
            rechunk,
        },
        providers: providers.enabled,
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
        warnings,
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
