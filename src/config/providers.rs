//! `[providers.NAME]`: one upstream account each, with its wire format, base URL, keys,
//! timeouts, rate limits and HTTP/2 mode. Validation fills in `{mock}`, reads the keys
//! from their sources and disables (with a warning, not an error) a provider whose
//! keys all name unset environment variables, so one config serves machines that hold
//! only some of the keys.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::raw::{H2c, RawProvider};
use super::{
    ConfigError, ProviderKind, RateLimits, Resolved, Secret, SecretSource, dispatch, invalid,
    positive,
};

/// The placeholder in `base_url` that stands for the simulated providers' address.
pub const MOCK_PLACEHOLDER: &str = "{mock}";
/// Default `timeout_ms`: two minutes lets a slow model finish a long answer that is
/// not streamed, while a hung connection still frees its slot eventually.
pub const DEFAULT_TIMEOUT_MS: u64 = 120_000;
/// Default `first_byte_timeout_ms`: a provider silent for 30 s is stuck or queueing,
/// and another candidate is the better bet.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 30_000;

/// One upstream account.
#[derive(Debug)]
pub struct ProviderConfig {
    /// Position in [`super::Config::providers`], used to index live state.
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

/// The providers that loaded, and the names of those disabled for want of keys (their
/// models are dropped rather than refused).
#[derive(Debug, Default)]
pub(super) struct Providers {
    pub(super) enabled: Vec<Arc<ProviderConfig>>,
    pub(super) disabled: HashSet<String>,
}

/// Checks every `[providers.NAME]`; disabled providers add a line to `warnings`.
pub(super) fn validate(
    raw: BTreeMap<String, RawProvider>,
    base_dir: Option<&Path>,
    mock_addr: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Providers, ConfigError> {
    let mut out = Providers::default();
    for (name, p) in raw {
        let at = format!("providers.{name}");
        let uses_mock = p.base_url.contains(MOCK_PLACEHOLDER);
        let base_url = base_url(&at, &p.base_url, mock_addr)?;
        let (keys, missing) = keys(&at, &p.keys, uses_mock, base_dir)?;
        if keys.is_empty() && !p.keys.is_empty() {
            warnings.push(format!(
                "provider {name} disabled: environment variable {} is not set",
                missing.join(", ")
            ));
            out.disabled.insert(name);
            continue;
        }
        let index = out.enabled.len();
        let provider = provider(index, name, &at, p, base_url, keys)?;
        out.enabled.push(Arc::new(provider));
    }
    Ok(out)
}

/// `base_url` with `{mock}` filled in, checked to be an http(s) URL.
fn base_url(at: &str, written: &str, mock_addr: Option<&str>) -> Result<String, ConfigError> {
    let url = if written.contains(MOCK_PLACEHOLDER) {
        let addr = mock_addr.ok_or_else(|| {
            invalid(
                format!("{at}.base_url"),
                "uses {mock}, which only `switchyard demo` provides",
            )
        })?;
        written.replace(MOCK_PLACEHOLDER, addr)
    } else {
        written.to_owned()
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            format!("{at}.base_url"),
            "expected an http:// or https:// URL",
        ));
    }
    Ok(url)
}

/// Reads a provider's keys: those found, and the environment variables that are unset.
/// Keys written in the config are for simulated providers (`uses_mock`) only.
fn keys(
    at: &str,
    sources: &[SecretSource],
    uses_mock: bool,
    base_dir: Option<&Path>,
) -> Result<(Vec<Secret>, Vec<String>), ConfigError> {
    let mut keys = Vec::new();
    let mut missing = Vec::new();
    for (i, source) in sources.iter().enumerate() {
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
    Ok((keys, missing))
}

/// The checked provider: timeouts, rate limits and h2c (plain `http://` only).
fn provider(
    index: usize,
    name: String,
    at: &str,
    p: RawProvider,
    base_url: String,
    keys: Vec<Secret>,
) -> Result<ProviderConfig, ConfigError> {
    let timeout = positive(at, "timeout_ms", p.timeout_ms, DEFAULT_TIMEOUT_MS)?;
    let first_byte_timeout = positive(
        at,
        "first_byte_timeout_ms",
        p.first_byte_timeout_ms,
        DEFAULT_FIRST_BYTE_TIMEOUT_MS,
    )?;
    let limits = dispatch::rate_limits(at, &p)?;
    if p.h2c != H2c::Off && !base_url.starts_with("http://") {
        return Err(invalid(
            format!("{at}.h2c"),
            "h2c is HTTP/2 without TLS, for http:// base URLs; https:// providers negotiate HTTP/2 by themselves",
        ));
    }
    Ok(ProviderConfig {
        index,
        name: name.into(),
        kind: p.kind,
        base_url: base_url.trim_end_matches('/').to_owned(),
        keys,
        key_sources: p.keys,
        timeout: Duration::from_millis(timeout),
        first_byte_timeout: Duration::from_millis(first_byte_timeout),
        limits,
        h2c: p.h2c,
    })
}
