//! `[cluster]`: several replicas sharing state through Redis (docs/scale-out.md). Without
//! the section a gateway keeps all its state in process, as the embedded default.

use std::path::Path;

use serde::Deserialize;

use super::secret::{Resolved, Secret, SecretSource};
use super::{ConfigError, invalid};

/// Replicas a deployment is assumed to run when `expected_replicas` is not set: each
/// replica's share of a limit while Redis is unreachable is `limit / expected_replicas`.
pub const DEFAULT_EXPECTED_REPLICAS: u32 = 3;

/// The Redis key prefix when `key_prefix` is not set.
pub const DEFAULT_KEY_PREFIX: &str = "switchyard";

/// Where a state engine's URL comes from: a literal (for local use) or a secret source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UrlSource {
    /// `redis_url = "redis://127.0.0.1:6379"`.
    Literal(String),
    /// `redis_url = { env = "REDIS_URL" }` or `{ file = "..." }`.
    Source(SecretSource),
}

/// `[cluster]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// Redis, for the counters replicas share (provider token buckets) and the
    /// replica registry.
    pub redis_url: Option<UrlSource>,
    /// This replica's name in `/admin/cluster`; default: host name and process id.
    pub replica_id: Option<String>,
    /// How many replicas share the limits: each one's share while Redis is down.
    pub expected_replicas: Option<u32>,
    /// Prefix of every Redis key, so that several clusters (or tests) share a server.
    pub key_prefix: Option<String>,
}

/// `[cluster]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// `redis://` or `rediss://` URL; it may carry a password, so it is a secret.
    pub redis_url: Secret,
    pub replica_id: String,
    pub expected_replicas: u32,
    pub key_prefix: String,
}

/// Checks `[cluster]`; `None` when the section is absent.
pub fn validate(
    raw: Option<&RawCluster>,
    base_dir: Option<&Path>,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let Some(source) = &raw.redis_url else {
        return Err(invalid(
            "cluster.redis_url",
            "a [cluster] needs redis_url (e.g. \"redis://127.0.0.1:6379\")",
        ));
    };
    let redis_url = resolve_url(source, "cluster.redis_url", base_dir)?;
    let url = redis_url.expose();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(invalid(
            "cluster.redis_url",
            "expected a redis:// or rediss:// URL",
        ));
    }
    let expected_replicas = raw.expected_replicas.unwrap_or(DEFAULT_EXPECTED_REPLICAS);
    if expected_replicas == 0 {
        return Err(invalid("cluster.expected_replicas", "must be at least 1"));
    }
    let key_prefix = raw
        .key_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned());
    if key_prefix.is_empty() || key_prefix.contains(char::is_whitespace) {
        return Err(invalid(
            "cluster.key_prefix",
            "must be non-empty, without spaces",
        ));
    }
    Ok(Some(ClusterConfig {
        redis_url,
        replica_id: raw.replica_id.clone().unwrap_or_else(default_replica_id),
        expected_replicas,
        key_prefix,
    }))
}

fn resolve_url(
    source: &UrlSource,
    at: &str,
    base_dir: Option<&Path>,
) -> Result<Secret, ConfigError> {
    match source {
        UrlSource::Literal(url) => Ok(Secret::new(url.trim())),
        UrlSource::Source(s) => match s.resolve(at, base_dir)? {
            Resolved::Found(secret) => Ok(secret),
            Resolved::MissingEnv(name) => Err(invalid(
                at,
                format!("the environment variable {name} is not set"),
            )),
        },
    }
}

/// Host name and process id: unique per process on a machine, readable in listings.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> RawCluster {
        RawCluster {
            redis_url: Some(UrlSource::Literal(url.to_owned())),
            ..RawCluster::default()
        }
    }

    #[test]
    fn absent_section_is_the_embedded_default() {
        assert_eq!(validate(None, None).unwrap(), None);
    }

    #[test]
    fn defaults_fill_in() {
        let c = validate(Some(&raw("redis://127.0.0.1:6379")), None)
            .unwrap()
            .unwrap();
        assert_eq!(c.expected_replicas, DEFAULT_EXPECTED_REPLICAS);
        assert_eq!(c.key_prefix, DEFAULT_KEY_PREFIX);
        assert!(c.replica_id.ends_with(&std::process::id().to_string()));
    }

    #[test]
    fn a_wrong_scheme_names_the_key() {
        let e = validate(Some(&raw("http://127.0.0.1:6379")), None).unwrap_err();
        assert!(e.to_string().starts_with("cluster.redis_url:"), "{e}");
        let e = validate(Some(&RawCluster::default()), None).unwrap_err();
        assert!(e.to_string().starts_with("cluster.redis_url:"), "{e}");
    }

    #[test]
    fn the_url_never_prints() {
        let c = validate(Some(&raw("redis://:hunter2@127.0.0.1:6379")), None)
            .unwrap()
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
