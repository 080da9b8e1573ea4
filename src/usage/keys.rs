//! Gateway keys created through the admin API, persisted in the ledger's database
//! (only their SHA-256, never the key) so they survive restarts.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::UsageError;
use crate::config::Limits;

/// A stored gateway key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: String,
    pub sha256: [u8; 32],
    pub tenant: String,
    pub tier: String,
    pub limits: Limits,
    pub created_ms: i64,
}

/// Why a key could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum KeyWriteError {
    #[error("a key with id '{0}' already exists")]
    DuplicateId(String),
    #[error(transparent)]
    Store(#[from] UsageError),
}

/// Active (not revoked) stored keys. Blocking.
pub fn load(path: &Path) -> Result<Vec<StoredKey>, UsageError> {
    let conn = super::store::open_writer(path)?;
    let mut stmt = conn.prepare(
        "SELECT id, sha256, tenant, tier, limits, created_ms FROM gateway_keys \
         WHERE revoked_ms IS NULL ORDER BY created_ms",
    )?;
    let rows = stmt.query_map([], |r| {
        let digest: Vec<u8> = r.get(1)?;
        let limits: String = r.get(4)?;
        Ok((
            r.get::<_, String>(0)?,
            digest,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            limits,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, digest, tenant, tier, limits, created_ms) = row?;
        let Ok(sha256) = <[u8; 32]>::try_from(digest.as_slice()) else {
            tracing::warn!(key_id = %id, "stored gateway key has a malformed digest; skipped");
            continue;
        };
        out.push(StoredKey {
            id,
            sha256,
            tenant,
            tier,
            limits: serde_json::from_str(&limits).unwrap_or_default(),
            created_ms,
        });
    }
    Ok(out)
}

/// Stores a new key; durable when this returns. Blocking.
pub fn insert(conn: &Connection, k: &StoredKey) -> Result<(), KeyWriteError> {
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM gateway_keys WHERE id = ?1", [&k.id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(UsageError::from)?;
    if exists.is_some() {
        return Err(KeyWriteError::DuplicateId(k.id.clone()));
    }
    let limits = serde_json::to_string(&k.limits).unwrap_or_else(|_| "{}".to_owned());
    conn.execute(
        "INSERT INTO gateway_keys (id, sha256, tenant, tier, limits, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![k.id, &k.sha256[..], k.tenant, k.tier, limits, k.created_ms],
    )
    .map_err(UsageError::from)?;
    Ok(())
}

/// Marks a key revoked (the row stays for audits). Returns whether it was active. Blocking.
pub fn revoke(conn: &Connection, id: &str, now_ms: i64) -> Result<bool, UsageError> {
    let n = conn.execute(
        "UPDATE gateway_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
        params![id, now_ms],
    )?;
    Ok(n > 0)
}
