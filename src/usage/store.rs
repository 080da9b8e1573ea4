//! The SQLite file behind the ledger: schema, connections, the batch insert, and the
//! spend totals the budgets start from.
//!
//! WAL mode lets the API's read connections query while the writer commits;
//! `synchronous = FULL` makes every committed batch survive a crash of the process
//! and of the machine (one fsync per batch, at most once per flush interval).
//! Records carry a unique `id` and are written with `INSERT OR IGNORE`, so writing a
//! batch twice (a retried commit) never counts a request twice.
//!
//! Beside the raw records, the same transaction keeps `usage_hourly`: sums per hour,
//! tenant, key, route, provider and model, updated only for records that were new.
//! Breakdowns read whole hours from it and only the partial hours at the ends of a
//! range from the raw records, so a query costs in proportion to the distinct
//! (hour, key, model…) combinations rather than to the requests.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};

use super::UsageError;
use super::record::UsageRecord;

/// Readers wait this long for a writer's lock instead of failing at once.
const BUSY_TIMEOUT_MS: u64 = 5_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage_records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL,
    route TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    saving_usd REAL NOT NULL,
    latency_ms INTEGER NOT NULL,
    ttft_ms INTEGER,
    status INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    cache TEXT NOT NULL,
    api TEXT NOT NULL DEFAULT 'openai-chat'
);
CREATE INDEX IF NOT EXISTS usage_records_ts ON usage_records (ts_ms);
CREATE INDEX IF NOT EXISTS usage_records_tenant_ts ON usage_records (tenant, ts_ms);
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour_ms INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL,
    route TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    cache_hits INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    saving_usd REAL NOT NULL,
    PRIMARY KEY (hour_ms, tenant, key_id, route, provider, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gateway_keys (
    id TEXT PRIMARY KEY,
    sha256 BLOB NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    tier TEXT NOT NULL,
    limits TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
";

/// Opens (creating if needed) the ledger file read-write and applies the schema.
pub fn open_writer(path: &Path) -> Result<Connection, UsageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| UsageError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let conn = Connection::open(path).map_err(|e| UsageError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    add_api_column(&conn)?;
    Ok(conn)
}

/// Ledgers written before records named their client API get the column, every old
/// record reading as `openai-chat` (the only API there was).
fn add_api_column(conn: &Connection) -> Result<(), UsageError> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('usage_records') WHERE name = 'api'")?
        .exists([])?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE usage_records ADD COLUMN api TEXT NOT NULL DEFAULT 'openai-chat'",
        )?;
    }
    Ok(())
}

/// Opens a read-only connection (for queries, never on an async worker).
pub fn open_reader(path: &Path) -> Result<Connection, UsageError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    Ok(conn)
}

/// One hour in milliseconds: the rollup's granularity.
pub const HOUR_MS: i64 = 3_600_000;

/// A rollup row's identity.
type HourKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str, &'a str);

/// A rollup row's sums, in the order of the columns after its identity: requests,
/// errors, estimated, cache hits, prompt, completion, cached, cache-write and
/// reasoning tokens, cost, saving.
type HourSums = [f64; 11];

const INSERT_RECORD: &str = "INSERT OR IGNORE INTO usage_records (id, request_id, ts_ms, tenant, \
     key_id, route, provider, model, prompt_tokens, completion_tokens, cached_tokens, \
     cache_write_tokens, reasoning_tokens, estimated, cost_usd, saving_usd, latency_ms, ttft_ms, \
     status, attempts, cache, api) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
     ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)";

const UPSERT_HOURLY: &str = "INSERT INTO usage_hourly (hour_ms, tenant, key_id, route, provider, \
     model, requests, errors, estimated, cache_hits, prompt_tokens, completion_tokens, \
     cached_tokens, cache_write_tokens, reasoning_tokens, cost_usd, saving_usd) VALUES (?1, ?2, \
     ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
     ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, \
     errors = errors + excluded.errors, estimated = estimated + excluded.estimated, \
     cache_hits = cache_hits + excluded.cache_hits, \
     prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
     completion_tokens = completion_tokens + excluded.completion_tokens, \
     cached_tokens = cached_tokens + excluded.cached_tokens, \
     cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
     reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
     cost_usd = cost_usd + excluded.cost_usd, saving_usd = saving_usd + excluded.saving_usd";

/// Writes `records` in one transaction; records already present are skipped.
/// Returns how many were new.
pub fn insert(conn: &mut Connection, records: &[UsageRecord]) -> Result<usize, UsageError> {
    let tx = conn.transaction()?;
    let (added, hourly) = insert_records(&tx, records)?;
    upsert_hourly(&tx, &hourly)?;
    tx.commit()?;
    Ok(added)
}

/// Inserts the raw records; returns how many were new and the rollup sums of those.
fn insert_records<'r>(
    conn: &Connection,
    records: &'r [UsageRecord],
) -> Result<(usize, HashMap<HourKey<'r>, HourSums>), UsageError> {
    let mut stmt = conn.prepare_cached(INSERT_RECORD)?;
    let mut added = 0;
    let mut hourly: HashMap<HourKey<'r>, HourSums> = HashMap::new();
    for r in records {
        let new = stmt.execute(params![
            r.id,
            r.request_id,
            r.ts_ms,
            &*r.tenant,
            &*r.key_id,
            r.route,
            r.provider,
            r.model,
            r.prompt_tokens as i64,
            r.completion_tokens as i64,
            r.cached_tokens as i64,
            r.cache_write_tokens as i64,
            r.reasoning_tokens as i64,
            r.estimated,
            r.cost_usd,
            r.saving_usd,
            r.latency_ms as i64,
            r.ttft_ms.map(|t| t as i64),
            r.status,
            r.attempts,
            r.cache.as_str(),
            r.api,
        ])?;
        if new == 0 {
            continue;
        }
        added += new;
        let sums = hourly.entry(hour_key(r)).or_insert([0.0; 11]);
        for (slot, v) in sums.iter_mut().zip(hour_sums(r)) {
            *slot += v;
        }
    }
    Ok((added, hourly))
}

/// The rollup row `r` counts in.
fn hour_key(r: &UsageRecord) -> HourKey<'_> {
    (
        r.ts_ms - r.ts_ms.rem_euclid(HOUR_MS),
        &*r.tenant,
        &*r.key_id,
        r.route.as_deref().unwrap_or(""),
        &*r.provider,
        &*r.model,
    )
}

/// What `r` adds to its rollup row.
fn hour_sums(r: &UsageRecord) -> HourSums {
    let error = !(200..300).contains(&r.status);
    [
        1.0,
        f64::from(u8::from(error)),
        f64::from(u8::from(r.estimated)),
        f64::from(u8::from(r.cache.is_served_from_cache())),
        r.prompt_tokens as f64,
        r.completion_tokens as f64,
        r.cached_tokens as f64,
        r.cache_write_tokens as f64,
        r.reasoning_tokens as f64,
        r.cost_usd,
        r.saving_usd,
    ]
}

/// Adds the sums to their rollup rows, creating the rows that do not exist yet.
fn upsert_hourly(
    conn: &Connection,
    hourly: &HashMap<HourKey<'_>, HourSums>,
) -> Result<(), UsageError> {
    let mut up = conn.prepare_cached(UPSERT_HOURLY)?;
    for ((hour, tenant, key, route, provider, model), s) in hourly {
        // Counts are sums of small integers: exact in an f64 up to 2^53.
        let n = |i: usize| s[i] as i64;
        up.execute(params![
            hour,
            tenant,
            key,
            route,
            provider,
            model,
            n(0),
            n(1),
            n(2),
            n(3),
            n(4),
            n(5),
            n(6),
            n(7),
            n(8),
            s[9],
            s[10],
        ])?;
    }
    Ok(())
}

/// Spend since `since_ms` per (tenant, key id), for the budgets at start-up.
pub fn spend_since(
    conn: &Connection,
    since_ms: i64,
) -> Result<Vec<(String, String, f64)>, UsageError> {
    let mut stmt = conn.prepare(
        "SELECT tenant, key_id, SUM(cost_usd) FROM usage_records WHERE ts_ms >= ?1 \
         GROUP BY tenant, key_id",
    )?;
    let rows = stmt.query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod api_column_tests {
    use super::*;

    #[test]
    fn a_ledger_from_before_the_api_column_gets_it_and_old_records_read_as_chat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            let old = SCHEMA.replace(",\n    api TEXT NOT NULL DEFAULT 'openai-chat'", "");
            assert!(!old.contains("api TEXT"));
            conn.execute_batch(&old).unwrap();
            conn.execute(
                "INSERT INTO usage_records (id, request_id, ts_ms, tenant, key_id, provider, model, \
                 prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, \
                 reasoning_tokens, estimated, cost_usd, saving_usd, latency_ms, status, attempts, \
                 cache) VALUES ('r1', 'q1', 1, 't', 'k', 'openai', 'm', 1, 1, 0, 0, 0, 0, 0.0, 0.0, \
                 1, 200, 1, 'miss')",
                [],
            )
            .unwrap();
        }
        let conn = open_writer(&path).unwrap();
        let api: String = conn
            .query_row("SELECT api FROM usage_records WHERE id = 'r1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(api, "openai-chat");
        // Opening again finds the column and leaves it alone.
        drop(conn);
        open_writer(&path).unwrap();
    }
}
