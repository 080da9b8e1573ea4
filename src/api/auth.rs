//! Gateway keys: `Authorization: Bearer <key>` → tenant and tier.
//!
//! Keys are held only as SHA-256 digests; a presented key is hashed and looked up, so
//! the plain key is never stored and lookup time does not depend on how much of a
//! guess matches a real key.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::HttpRequest;

use crate::config::{GatewayKeyConfig, key_digest};
use crate::error::GatewayError;

/// Who a request is from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: Arc<str>,
    pub tenant: Arc<str>,
    pub tier: Arc<str>,
}

/// Digest → caller.
#[derive(Debug, Default)]
pub struct KeyStore {
    by_digest: HashMap<[u8; 32], Caller>,
}

impl KeyStore {
    /// Indexes the configured keys.
    pub fn new(keys: &[GatewayKeyConfig]) -> Self {
        let by_digest = keys
            .iter()
            .map(|k| {
                (
                    k.sha256,
                    Caller {
                        key_id: k.id.as_str().into(),
                        tenant: k.tenant.as_str().into(),
                        tier: k.tier.as_str().into(),
                    },
                )
            })
            .collect();
        Self { by_digest }
    }

    /// The caller behind the request's bearer key.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<&Caller, GatewayError> {
        let key = bearer_token(req).ok_or_else(|| {
            GatewayError::Unauthorized(
                "you didn't provide an API key: send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY)".to_owned(),
            )
        })?;
        self.by_digest
            .get(&key_digest(key))
            .ok_or_else(|| GatewayError::Unauthorized("incorrect API key provided".to_owned()))
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
