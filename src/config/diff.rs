//! What changed between the running config and a freshly loaded one, and which of
//! those changes a running gateway can take (`POST /admin/reload`).
//!
//! Live state is indexed by position: provider actors, windows and health by
//! `ProviderConfig::index`, model health by `ModelConfig::index`, per-key buckets by
//! provider. So the set of providers and models, everything baked into a provider
//! actor or its key pool (kind, base URL, h2c, rate limits, `[health]`), the listeners,
//! the worker count, the usage ledger and the cache's byte bound need a restart; the
//! rest (routes, rules, tiers, weights, prices and other model fields, timeouts, retry
//! policy, gateway keys, tenants, cache modes and TTLs, provider keys, the admin
//! token, the body limit) is swapped in while the gateway runs. Changes are named by
//! their path in the file; models as `models.PROVIDER/NAME`, keys as `keys.ID`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Config, ModelConfig};

/// The differences between two configs, as sorted paths.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Changes a running gateway takes.
    pub live: Vec<String>,
    /// Changes that need a restart (nothing is applied while there are any).
    pub restart: Vec<String>,
}

impl Diff {
    fn live(&mut self, path: impl Into<String>) {
        self.live.push(path.into());
    }

    fn restart(&mut self, path: impl Into<String>) {
        self.restart.push(path.into());
    }

    /// Compares `old` and `new` under `path`, recording a live change if they differ.
    fn live_if<T: PartialEq>(&mut self, path: &str, old: &T, new: &T) {
        if old != new {
            self.live(path);
        }
    }

    /// Compares `old` and `new` under `path`, recording a restart if they differ.
    fn restart_if<T: PartialEq>(&mut self, path: &str, old: &T, new: &T) {
        if old != new {
            self.restart(path);
        }
    }
}

/// Lists what differs between `old` (running) and `new`.
pub fn diff(old: &Config, new: &Config) -> Diff {
    let mut d = Diff::default();
    server(&mut d, old, new);
    d.live_if("admin.token", &old.admin_token, &new.admin_token);
    usage(&mut d, old, new);
    d.restart_if("health", &old.health, &new.health);
    cache(&mut d, old, new);
    d.live_if(
        "dispatch",
        &old.dispatch.policies.default,
        &new.dispatch.policies.default,
    );
    d.live_if(
        "streaming.rechunk",
        &old.dispatch.rechunk,
        &new.dispatch.rechunk,
    );
    scheduler(&mut d, old, new);
    providers(&mut d, old, new);
    models(&mut d, old, new);
    tables(&mut d, old, new);
    d.live.sort();
    d.restart.sort();
    d
}

/// `[server]`: the listeners and workers need a restart, the body limit does not.
fn server(d: &mut Diff, old: &Config, new: &Config) {
    d.restart_if("cluster", &old.cluster, &new.cluster);
    d.restart_if("server.listen", &old.listen, &new.listen);
    d.restart_if("server.workers", &old.workers, &new.workers);
    d.restart_if(
        "server.metrics_listen",
        &old.metrics_listen,
        &new.metrics_listen,
    );
    d.live_if(
        "server.max_body_bytes",
        &old.max_body_bytes,
        &new.max_body_bytes,
    );
    d.restart_if(
        "server.max_connections",
        &old.max_connections,
        &new.max_connections,
    );
    d.live_if(
        "server.metrics_token",
        &old.metrics_access,
        &new.metrics_access,
    );
    d.live_if(
        "server.body_read_timeout_ms",
        &old.body_read_timeout,
        &new.body_read_timeout,
    );
    d.live_if(
        "server.body_total_timeout_ms",
        &old.body_total_timeout,
        &new.body_total_timeout,
    );
}

/// `[usage]`: the ledger writer is started once, so all of it needs a restart.
fn usage(d: &mut Diff, old: &Config, new: &Config) {
    d.restart_if("usage.database", &old.usage.database, &new.usage.database);
    d.restart_if(
        "usage.flush_interval_ms",
        &old.usage.flush_interval,
        &new.usage.flush_interval,
    );
    d.restart_if(
        "usage.queue_capacity",
        &old.usage.queue_capacity,
        &new.usage.queue_capacity,
    );
}

/// `[cache]`: the store's byte bound needs a restart; the modes and TTL are live.
fn cache(d: &mut Diff, old: &Config, new: &Config) {
    d.restart_if(
        "cache.max_bytes",
        &old.cache.max_bytes,
        &new.cache.max_bytes,
    );
    d.live_if("cache.enabled", &old.cache.enabled, &new.cache.enabled);
    d.live_if("cache.ttl_ms", &old.cache.ttl, &new.cache.ttl);
    d.live_if(
        "cache.default_mode",
        &old.cache.default_mode,
        &new.cache.default_mode,
    );
}

/// `[scheduler]`: all live.
fn scheduler(d: &mut Diff, old: &Config, new: &Config) {
    let (a, b) = (&old.scheduler, &new.scheduler);
    d.live_if("scheduler.weights", &a.weights, &b.weights);
    d.live_if("scheduler.exploration", &a.exploration, &b.exploration);
    d.live_if("scheduler.tie_band", &a.tie_band, &b.tie_band);
    d.live_if(
        "scheduler.default_output_tokens",
        &a.default_output_tokens,
        &b.default_output_tokens,
    );
    d.live_if(
        "scheduler.latency_reference_ms",
        &a.latency_reference_ms,
        &b.latency_reference_ms,
    );
    d.live_if(
        "scheduler.max_estimate_age_ms",
        &a.max_estimate_age,
        &b.max_estimate_age,
    );
}

/// The named tables (routes, tiers, keys, tenants) and the route rules: all live.
fn tables(d: &mut Diff, old: &Config, new: &Config) {
    // A route's retry policy lives in `dispatch.policies`; it belongs to the route.
    let route_policy = |c: &Config, name: &str| c.dispatch.policies.routes.get(name).cloned();
    named(d, "routes", &old.routes, &new.routes, |name, a, b| {
        a != b || route_policy(old, name) != route_policy(new, name)
    });
    d.live_if("route_rules", &old.route_rules, &new.route_rules);
    named(d, "tiers", &old.tiers, &new.tiers, |_, a, b| a != b);
    let keys = |c: &Config| {
        c.keys
            .iter()
            .map(|k| (k.id.clone(), k.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    named(d, "keys", &keys(old), &keys(new), |_, a, b| a != b);
    named(d, "tenants", &old.tenants, &new.tenants, |_, a, b| a != b);
}

/// Entries added, removed or changed in a named table: all live.
fn named<T>(
    d: &mut Diff,
    section: &str,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    changed: impl Fn(&str, &T, &T) -> bool,
) {
    for (name, a) in old {
        match new.get(name) {
            None => d.live(format!("{section}.{name}")),
            Some(b) if changed(name, a, b) => d.live(format!("{section}.{name}")),
            Some(_) => {}
        }
    }
    for name in new.keys().filter(|n| !old.contains_key(*n)) {
        d.live(format!("{section}.{name}"));
    }
}

fn providers(d: &mut Diff, old: &Config, new: &Config) {
    for p in &old.providers {
        let at = format!("providers.{}", p.name);
        let Some(q) = new.providers.iter().find(|q| q.name == p.name) else {
            d.restart(at);
            continue;
        };
        d.restart_if(&format!("{at}.kind"), &p.kind, &q.kind);
        d.restart_if(&format!("{at}.base_url"), &p.base_url, &q.base_url);
        d.restart_if(&format!("{at}.h2c"), &p.h2c, &q.h2c);
        d.restart_if(&format!("{at}.rpm"), &p.limits.rpm, &q.limits.rpm);
        d.restart_if(&format!("{at}.tpm"), &p.limits.tpm, &q.limits.tpm);
        d.restart_if(
            &format!("{at}.max_queue_ms"),
            &p.limits.max_queue,
            &q.limits.max_queue,
        );
        d.restart_if(
            &format!("{at}.max_queue"),
            &p.limits.max_queue_len,
            &q.limits.max_queue_len,
        );
        d.live_if(&format!("{at}.timeout_ms"), &p.timeout, &q.timeout);
        d.live_if(
            &format!("{at}.first_byte_timeout_ms"),
            &p.first_byte_timeout,
            &q.first_byte_timeout,
        );
        d.live_if(&format!("{at}.keys"), &p.key_sources, &q.key_sources);
    }
    for q in &new.providers {
        if !old.providers.iter().any(|p| p.name == q.name) {
            d.restart(format!("providers.{}", q.name));
        }
    }
}

/// `PROVIDER/NAME`, how a model is named in diffs.
fn model_id(m: &ModelConfig) -> String {
    format!("{}/{}", m.provider.name, m.name)
}

fn models(d: &mut Diff, old: &Config, new: &Config) {
    let by_id = |c: &Config| {
        c.models
            .iter()
            .map(|m| (model_id(m), m.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (old_models, new_models) = (by_id(old), by_id(new));
    for (id, m) in &old_models {
        let at = format!("models.{id}");
        let Some(n) = new_models.get(id) else {
            d.restart(at);
            continue;
        };
        d.live_if(
            &format!("{at}.input_per_mtok_usd"),
            &m.prices.input,
            &n.prices.input,
        );
        d.live_if(
            &format!("{at}.output_per_mtok_usd"),
            &m.prices.output,
            &n.prices.output,
        );
        d.live_if(
            &format!("{at}.cached_input_per_mtok_usd"),
            &m.prices.cached_input,
            &n.prices.cached_input,
        );
        d.live_if(
            &format!("{at}.context_window"),
            &m.context_window,
            &n.context_window,
        );
        d.live_if(
            &format!("{at}.max_output_tokens"),
            &m.max_output_tokens,
            &n.max_output_tokens,
        );
        d.live_if(&format!("{at}.upstream"), &m.upstream, &n.upstream);
        d.live_if(
            &format!("{at}.prior_latency_ms"),
            &m.prior_latency_ms,
            &n.prior_latency_ms,
        );
    }
    for id in new_models.keys().filter(|id| !old_models.contains_key(*id)) {
        d.restart(format!("models.{id}"));
    }
}

/// Gives `new`'s models the indices the same models have in `old`, so live state
/// indexed by model (health, windows, outcomes) keeps meaning the same model when the
/// file lists them in another order. Call only when [`diff`] found no restart: then
/// both hold the same models. Returns `false` (and leaves `new` as it was) if they do
/// not, or a model is shared elsewhere.
pub fn align_models(old: &Config, new: &mut Config) -> bool {
    let index: BTreeMap<String, usize> =
        old.models.iter().map(|m| (model_id(m), m.index)).collect();
    let wanted: Option<Vec<usize>> = new
        .models
        .iter()
        .map(|m| index.get(&model_id(m)).copied())
        .collect();
    let Some(wanted) = wanted else {
        return false;
    };
    let distinct: BTreeSet<usize> = wanted.iter().copied().collect();
    if wanted.len() != old.models.len()
        || distinct.len() != wanted.len()
        || new.models.iter().any(|m| Arc::strong_count(m) != 1)
    {
        return false;
    }
    for (m, i) in new.models.iter_mut().zip(wanted) {
        if let Some(m) = Arc::get_mut(m) {
            m.index = i;
        }
    }
    new.models.sort_by_key(|m| m.index);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [providers.a]
        kind = "openai"
        base_url = "http://a.example"
        [providers.b]
        kind = "anthropic"
        base_url = "http://b.example"

        [[models]]
        name = "m1"
        provider = "a"
        input_per_mtok_usd = 1.0
        output_per_mtok_usd = 2.0
        context_window = 1000

        [[models]]
        name = "m2"
        provider = "b"
        input_per_mtok_usd = 3.0
        output_per_mtok_usd = 4.0
        context_window = 1000

        [routes.fast]
        candidates = ["m1", "m2"]
    "#;

    fn load(text: &str) -> Config {
        Config::from_toml(text, None, None).unwrap()
    }

    #[test]
    fn same_config_has_no_changes() {
        assert_eq!(diff(&load(BASE), &load(BASE)), Diff::default());
    }

    #[test]
    fn routes_prices_and_timeouts_are_live() {
        let new = BASE
            .replace(r#"candidates = ["m1", "m2"]"#, r#"candidates = ["m2"]"#)
            .replace("input_per_mtok_usd = 1.0", "input_per_mtok_usd = 1.5")
            .replace(
                "base_url = \"http://a.example\"",
                "base_url = \"http://a.example\"\ntimeout_ms = 5000",
            )
            + "\n[routes.slow]\ncandidates = [\"m1\"]\n";
        let d = diff(&load(BASE), &load(&new));
        assert_eq!(
            d.live,
            [
                // The cached price defaults to the input price, so it moved too.
                "models.a/m1.cached_input_per_mtok_usd",
                "models.a/m1.input_per_mtok_usd",
                "providers.a.timeout_ms",
                "routes.fast",
                "routes.slow",
            ]
        );
        assert!(d.restart.is_empty(), "{d:?}");
    }

    #[test]
    fn providers_models_and_listeners_need_a_restart() {
        let new = BASE
            .replace("http://b.example", "http://b2.example")
            .replace(
                "[routes.fast]",
                "[[models]]\nname = \"m3\"\nprovider = \"a\"\ninput_per_mtok_usd = 1.0\noutput_per_mtok_usd = 1.0\ncontext_window = 1\n\n[routes.fast]",
            )
            + "\n[server]\nlisten = \"0.0.0.0:9000\"\n";
        let d = diff(&load(BASE), &load(&new));
        assert_eq!(
            d.restart,
            ["models.a/m3", "providers.b.base_url", "server.listen"]
        );
    }

    #[test]
    fn reordered_models_keep_their_indices() {
        let old = load(BASE);
        // m2 first, m1 second: the same models in another order.
        let swapped = BASE.replacen("name = \"m1\"", "name = \"mX\"", 1);
        let swapped = swapped
            .replacen("name = \"m2\"", "name = \"m1\"", 1)
            .replacen("name = \"mX\"", "name = \"m2\"", 1)
            .replacen("provider = \"a\"", "provider = \"_\"", 1)
            .replacen("provider = \"b\"", "provider = \"a\"", 1)
            .replacen("provider = \"_\"", "provider = \"b\"", 1)
            .replacen("input_per_mtok_usd = 1.0", "input_per_mtok_usd = 9.0", 1)
            .replacen("input_per_mtok_usd = 3.0", "input_per_mtok_usd = 1.0", 1)
            .replacen("input_per_mtok_usd = 9.0", "input_per_mtok_usd = 3.0", 1)
            .replacen("output_per_mtok_usd = 2.0", "output_per_mtok_usd = 9.0", 1)
            .replacen("output_per_mtok_usd = 4.0", "output_per_mtok_usd = 2.0", 1)
            .replacen("output_per_mtok_usd = 9.0", "output_per_mtok_usd = 4.0", 1);
        let mut new = load(&swapped);
        assert_eq!(&*new.models[0].name, "m2");
        assert_eq!(diff(&old, &new), Diff::default());
        assert!(align_models(&old, &mut new));
        for (a, b) in old.models.iter().zip(&new.models) {
            assert_eq!((a.index, model_id(a)), (b.index, model_id(b)));
        }
    }
}
