//! `[[keys]]`: the gateway keys clients authenticate with, kept only as SHA-256
//! digests, each with the tenant it bills, its tier and its own optional limits.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::raw::RawGatewayKey;
use super::tiers::DEFAULT_TIER;
use super::{ConfigError, Limits, Resolved, TierConfig, invalid, usage};

/// A gateway key, kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayKeyConfig {
    pub id: String,
    pub sha256: [u8; 32],
    pub tenant: String,
    pub tier: String,
    pub limits: Limits,
}

/// Hex SHA-256 of a gateway key, as `key_sha256` expects.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Checks every `[[keys]]` against the tiers; a key whose environment variable is
/// unset is left out and adds a line to `warnings`.
pub(super) fn validate(
    raw: Vec<RawGatewayKey>,
    tiers: &BTreeMap<String, TierConfig>,
    base_dir: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Vec<GatewayKeyConfig>, ConfigError> {
    let mut keys: Vec<GatewayKeyConfig> = Vec::new();
    for (i, k) in raw.into_iter().enumerate() {
        let at = format!("keys[{i}]");
        let Some(sha256) = digest(&at, &k, base_dir, warnings)? else {
            continue;
        };
        let tier = k.tier.unwrap_or_else(|| DEFAULT_TIER.to_owned());
        if tier != DEFAULT_TIER && !tiers.contains_key(&tier) {
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
        if keys.iter().any(|c| c.id == k.id) {
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
    Ok(keys)
}

/// The key's digest, from `key` or `key_sha256` (exactly one); `None`, with a warning,
/// when `key` names an unset environment variable.
fn digest(
    at: &str,
    k: &RawGatewayKey,
    base_dir: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Option<[u8; 32]>, ConfigError> {
    match (&k.key, &k.key_sha256) {
        (Some(source), None) => match source.resolve(&format!("{at}.key"), base_dir)? {
            Resolved::Found(s) => Ok(Some(key_digest(s.expose()))),
            Resolved::MissingEnv(var) => {
                warnings.push(format!("gateway key {} disabled: {var} is not set", k.id));
                Ok(None)
            }
        },
        (None, Some(hex_digest)) => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(hex_digest, &mut out)
                .map_err(|_| invalid(format!("{at}.key_sha256"), "expected 64 hex characters"))?;
            Ok(Some(out))
        }
        _ => Err(invalid(at, "give exactly one of `key` or `key_sha256`")),
    }
}
