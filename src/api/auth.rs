//! Gateway keys: `Authorization: Bearer <key>` (or `x-api-key: <key>` on the Anthropic
//! endpoints) → tenant, tier and limits.
//!
//! Keys are held only as SHA-256 digests; a presented key is hashed and looked up, so
//! the plain key is never stored and lookup time does not depend on how much of a
//! guess matches a real key (the map compares digests of the guess, which an attacker
//! cannot steer byte by byte). The store is a concurrent map: config keys are loaded at
//! start and replaced by `POST /admin/reload`, keys created or revoked through
//! `/admin/keys` are added or removed live.

use std::collections::HashSet;

use actix_web::HttpRequest;
use dashmap::DashMap;
use serde::Serialize;

use crate::config::{GatewayKeyConfig, Limits, key_digest};
use crate::error::GatewayError;
use crate::reload::GatewayKeys;
use crate::usage::Caller;

/// Where a key was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// `[[keys]]` in the config: changed by editing the config.
    Config,
    /// `POST /admin/keys`: persisted in the usage database.
    Admin,
}

/// A key as `GET /admin/keys` lists it (never the key or its digest).
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub tenant: String,
    pub tier: String,
    #[serde(flatten)]
    pub limits: Limits,
    pub source: KeySource,
}

#[derive(Debug, Clone)]
struct Entry {
    caller: Caller,
    source: KeySource,
}

/// Digest → caller.
#[derive(Debug, Default)]
pub struct KeyStore {
    by_digest: DashMap<[u8; 32], Entry>,
}

impl KeyStore {
    /// Indexes the configured keys.
    pub fn new(keys: &[GatewayKeyConfig]) -> Self {
        let store = Self::default();
        store.replace_config(keys);
        store
    }

    /// Adds (or replaces) a key.
    pub fn insert(
        &self,
        sha256: [u8; 32],
        id: &str,
        tenant: &str,
        tier: &str,
        limits: Limits,
        source: KeySource,
    ) {
        self.by_digest.insert(
            sha256,
            Entry {
                caller: Caller {
                    key_id: id.into(),
                    tenant: tenant.into(),
                    tier: tier.into(),
                    limits,
                },
                source,
            },
        );
    }

    /// Whether a key has this id.
    pub fn contains_id(&self, id: &str) -> bool {
        self.by_digest.iter().any(|e| &*e.caller.key_id == id)
    }

    /// Where the key with this id was defined.
    pub fn source_of(&self, id: &str) -> Option<KeySource> {
        self.by_digest
            .iter()
            .find(|e| &*e.caller.key_id == id)
            .map(|e| e.source)
    }

    /// Removes the key with this id; returns whether there was one.
    pub fn remove_id(&self, id: &str) -> bool {
        let before = self.by_digest.len();
        self.by_digest.retain(|_, e| &*e.caller.key_id != id);
        self.by_digest.len() < before
    }

    /// Every key, by id.
    pub fn list(&self) -> Vec<KeyView> {
        let mut out: Vec<KeyView> = self
            .by_digest
            .iter()
            .map(|e| KeyView {
                id: e.caller.key_id.to_string(),
                tenant: e.caller.tenant.to_string(),
                tier: e.caller.tier.to_string(),
                limits: e.caller.limits,
                source: e.source,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The caller behind the request's bearer key.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<Caller, GatewayError> {
        let key = bearer_token(req).ok_or_else(|| {
            GatewayError::Unauthorized(
                "you didn't provide an API key: send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY)".to_owned(),
            )
        })?;
        self.caller(key)
    }

    /// The caller behind the request's `x-api-key` (how the Anthropic SDKs send a
    /// key) or, failing that, its bearer key.
    pub fn authenticate_api_key(&self, req: &HttpRequest) -> Result<Caller, GatewayError> {
        let key = api_key(req).or_else(|| bearer_token(req)).ok_or_else(|| {
            GatewayError::Unauthorized(
                "you didn't provide an API key: send it in an x-api-key header (x-api-key: YOUR_KEY) or as Authorization: Bearer YOUR_KEY".to_owned(),
            )
        })?;
        self.caller(key)
    }

    fn caller(&self, key: &str) -> Result<Caller, GatewayError> {
        self.by_digest
            .get(&key_digest(key))
            .map(|e| e.caller.clone())
            .ok_or_else(|| GatewayError::Unauthorized("incorrect API key provided".to_owned()))
    }
}

/// The value of an `x-api-key` header, if not empty.
fn api_key(req: &HttpRequest) -> Option<&str> {
    let key = req.headers().get("x-api-key")?.to_str().ok()?.trim();
    (!key.is_empty()).then_some(key)
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

// === impl GatewayKeys ===

impl crate::reload::GatewayKeys for KeyStore {
    /// Makes the config's keys those of a reloaded config. New and changed keys go in
    /// before dropped ones go out, so a key in both files never stops working. As at
    /// start, a config key wins over a key created through `/admin/keys` with the same
    /// id (that key stays in the database, out of service until the config key goes).
    fn replace_config(&self, keys: &[GatewayKeyConfig]) {
        for k in keys {
            if self.source_of(&k.id) == Some(KeySource::Admin) {
                tracing::warn!(key_id = %k.id, "a reloaded config key has the id of a stored gateway key; the config key wins");
                self.remove_id(&k.id);
            }
            self.insert(
                k.sha256,
                &k.id,
                &k.tenant,
                &k.tier,
                k.limits,
                KeySource::Config,
            );
        }
        let kept: HashSet<[u8; 32]> = keys.iter().map(|k| k.sha256).collect();
        self.by_digest
            .retain(|digest, e| e.source == KeySource::Admin || kept.contains(digest));
    }
}
