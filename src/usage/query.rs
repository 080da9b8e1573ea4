//! Reading the ledger for `GET /v1/usage` and `GET /v1/usage/records`: totals and
//! group-by breakdowns over a time range, and raw records paged by a cursor.
//!
//! Queries are plain blocking SQLite calls; the API runs them on the blocking pool
//! (`web::block`), on read connections separate from the writer's. Whole hours are
//! summed from the hourly rollup (see [`store`]); the partial hours at the ends of a
//! range come from the raw records through the `(ts_ms)` and `(tenant, ts_ms)` indexes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::UsageError;
use super::record::{CacheStatus, UsageRecord};
use super::store::{self, HOUR_MS};

/// A breakdown dimension of `GET /v1/usage?group_by=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Tenant,
    Key,
    Model,
    Provider,
    Route,
    Day,
    Hour,
}

impl GroupBy {
    /// Parses the query parameter value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tenant" => Self::Tenant,
            "key" => Self::Key,
            "model" => Self::Model,
            "provider" => Self::Provider,
            "route" => Self::Route,
            "day" => Self::Day,
            "hour" => Self::Hour,
            _ => return None,
        })
    }

    /// The name used in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Key => "key",
            Self::Model => "model",
            Self::Provider => "provider",
            Self::Route => "route",
            Self::Day => "day",
            Self::Hour => "hour",
        }
    }

    /// The SQL expression of the group, with `time` the table's time column.
    fn sql(self, time: &str) -> String {
        match self {
            Self::Tenant => "tenant".to_owned(),
            Self::Key => "key_id".to_owned(),
            Self::Model => "model".to_owned(),
            Self::Provider => "provider".to_owned(),
            Self::Route => "COALESCE(route, '')".to_owned(),
            Self::Day => format!("strftime('%Y-%m-%d', {time} / 1000, 'unixepoch')"),
            Self::Hour => format!("strftime('%Y-%m-%dT%H:00:00Z', {time} / 1000, 'unixepoch')"),
        }
    }
}

/// What to sum: a half-open time range, optionally one tenant.
#[derive(Debug, Clone)]
pub struct Filter {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `None`: every tenant (admin).
    pub tenant: Option<String>,
}

/// Sums over a set of records.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    /// Requests that did not end in a 2xx.
    pub errors: u64,
    /// Records whose tokens the gateway estimated.
    pub estimated: u64,
    pub cache_hits: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub saving_usd: f64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.estimated += o.estimated;
        self.cache_hits += o.cache_hits;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cached_tokens += o.cached_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.total_tokens += o.total_tokens;
        self.cost_usd += o.cost_usd;
        self.saving_usd += o.saving_usd;
    }
}

/// One group of a breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The group's value (tenant, key id, model, …; "" for records without one).
    pub group: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Totals and, when asked, a breakdown ordered by cost (highest first).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub totals: Totals,
    pub groups: Vec<Group>,
}

/// A page of raw records, oldest first by insertion.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub data: Vec<UsageRecord>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next_after: Option<i64>,
}

/// Read connections, reused across queries.
#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 4;

impl Readers {
    /// Readers of the ledger at `path` (opened lazily).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, UsageError>,
    ) -> Result<T, UsageError> {
        let conn = match self.idle.lock().ok().and_then(|mut v| v.pop()) {
            Some(c) => c,
            None => store::open_reader(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        out
    }

    /// Totals over `filter`, broken down by `group_by` when given. Blocking.
    pub fn summary(
        &self,
        filter: &Filter,
        group_by: Option<GroupBy>,
    ) -> Result<Summary, UsageError> {
        self.with(|conn| summary(conn, filter, group_by))
    }

    /// Up to `limit` records after cursor `after`. Blocking.
    pub fn records(&self, filter: &Filter, after: i64, limit: usize) -> Result<Page, UsageError> {
        self.with(|conn| records(conn, filter, after, limit))
    }
}

fn where_clause(filter: &Filter, column: &str, params: &mut Vec<SqlValue>) -> String {
    params.push(SqlValue::Integer(filter.from_ms));
    params.push(SqlValue::Integer(filter.to_ms));
    let mut w = format!("{column} >= ?1 AND {column} < ?2");
    if let Some(t) = &filter.tenant {
        params.push(SqlValue::Text(t.clone()));
        w.push_str(" AND tenant = ?3");
    }
    w
}

/// Totals (and a breakdown) over `filter`: whole hours from the hourly rollup, the
/// partial hours at either end from the raw records.
pub fn summary(
    conn: &Connection,
    filter: &Filter,
    group_by: Option<GroupBy>,
) -> Result<Summary, UsageError> {
    let first_whole = filter
        .from_ms
        .saturating_add((HOUR_MS - filter.from_ms.rem_euclid(HOUR_MS)) % HOUR_MS);
    let end_whole = filter.to_ms - filter.to_ms.rem_euclid(HOUR_MS);
    let mut merged: BTreeMap<String, Totals> = BTreeMap::new();
    let part = |from_ms: i64, to_ms: i64| Filter {
        from_ms,
        to_ms,
        tenant: filter.tenant.clone(),
    };
    if first_whole < end_whole {
        sum_into(
            conn,
            &part(first_whole, end_whole),
            group_by,
            Source::Hourly,
            &mut merged,
        )?;
        if filter.from_ms < first_whole {
            sum_into(
                conn,
                &part(filter.from_ms, first_whole),
                group_by,
                Source::Raw,
                &mut merged,
            )?;
        }
        if end_whole < filter.to_ms {
            sum_into(
                conn,
                &part(end_whole, filter.to_ms),
                group_by,
                Source::Raw,
                &mut merged,
            )?;
        }
    } else {
        sum_into(conn, filter, group_by, Source::Raw, &mut merged)?;
    }
    let mut totals = Totals::default();
    for t in merged.values() {
        totals.add(t);
    }
    let mut groups: Vec<Group> = match group_by {
        None => Vec::new(),
        Some(_) => merged
            .into_iter()
            .map(|(group, totals)| Group { group, totals })
            .collect(),
    };
    if !matches!(group_by, Some(GroupBy::Day | GroupBy::Hour)) {
        groups.sort_by(|a, b| {
            b.totals
                .cost_usd
                .total_cmp(&a.totals.cost_usd)
                .then_with(|| a.group.cmp(&b.group))
        });
    }
    Ok(Summary { totals, groups })
}

/// Which table a part of a summary reads.
#[derive(Clone, Copy)]
enum Source {
    Raw,
    Hourly,
}

fn sum_into(
    conn: &Connection,
    filter: &Filter,
    group_by: Option<GroupBy>,
    source: Source,
    merged: &mut BTreeMap<String, Totals>,
) -> Result<(), UsageError> {
    let mut params = Vec::new();
    let sql = match source {
        Source::Raw => {
            let w = where_clause(filter, "ts_ms", &mut params);
            let key = group_by.map_or("''".to_owned(), |g| g.sql("ts_ms"));
            format!(
                "SELECT {key} AS g, COUNT(*), SUM(status < 200 OR status >= 300), SUM(estimated), \
                     SUM(cache IN ('hit', 'coalesced')), SUM(prompt_tokens), SUM(completion_tokens), \
                     SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_usd), \
                     SUM(saving_usd) FROM usage_records WHERE {w} GROUP BY g"
            )
        }
        Source::Hourly => {
            let w = where_clause(filter, "hour_ms", &mut params);
            let key = group_by.map_or("''".to_owned(), |g| g.sql("hour_ms"));
            format!(
                "SELECT {key} AS g, SUM(requests), SUM(errors), SUM(estimated), SUM(cache_hits), \
                     SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), \
                     SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_usd), SUM(saving_usd) \
                     FROM usage_hourly WHERE {w} GROUP BY g"
            )
        }
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(r) = rows.next()? {
        let n = |i: usize| -> rusqlite::Result<u64> {
            Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
        };
        let prompt_tokens = n(5)?;
        let completion_tokens = n(6)?;
        let t = Totals {
            requests: n(1)?,
            errors: n(2)?,
            estimated: n(3)?,
            cache_hits: n(4)?,
            prompt_tokens,
            completion_tokens,
            cached_tokens: n(7)?,
            cache_write_tokens: n(8)?,
            reasoning_tokens: n(9)?,
            total_tokens: prompt_tokens + completion_tokens,
            cost_usd: r.get::<_, Option<f64>>(10)?.unwrap_or(0.0),
            saving_usd: r.get::<_, Option<f64>>(11)?.unwrap_or(0.0),
        };
        if t.requests == 0 {
            continue;
        }
        let group = r.get::<_, Option<String>>(0)?.unwrap_or_default();
        merged.entry(group).or_default().add(&t);
    }
    Ok(())
}

/// Raw records after cursor `after` (a record's `seq`), oldest first.
pub fn records(
    conn: &Connection,
    filter: &Filter,
    after: i64,
    limit: usize,
) -> Result<Page, UsageError> {
    let mut params = Vec::new();
    let w = where_clause(filter, "ts_ms", &mut params);
    params.push(SqlValue::Integer(after));
    params.push(SqlValue::Integer(limit as i64));
    let (a, l) = (params.len() - 1, params.len());
    let sql = format!(
        "SELECT seq, id, request_id, ts_ms, tenant, key_id, route, provider, model, prompt_tokens, \
         completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, estimated, \
         cost_usd, saving_usd, latency_ms, ttft_ms, status, attempts, cache, api FROM usage_records \
         WHERE {w} AND seq > ?{a} ORDER BY seq LIMIT ?{l}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut last = None;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
        let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        Ok((
            r.get::<_, i64>(0)?,
            UsageRecord {
                id: r.get(1)?,
                request_id: r.get(2)?,
                ts_ms: r.get(3)?,
                tenant: r.get::<_, String>(4)?.into(),
                key_id: r.get::<_, String>(5)?.into(),
                route: r.get(6)?,
                provider: r.get(7)?,
                model: r.get(8)?,
                prompt_tokens: u(9)?,
                completion_tokens: u(10)?,
                cached_tokens: u(11)?,
                cache_write_tokens: u(12)?,
                reasoning_tokens: u(13)?,
                estimated: r.get(14)?,
                cost_usd: r.get(15)?,
                saving_usd: r.get(16)?,
                latency_ms: u(17)?,
                ttft_ms: r.get::<_, Option<i64>>(18)?.map(|t| t.max(0) as u64),
                status: r.get(19)?,
                attempts: r.get(20)?,
                cache: parse_cache(&r.get::<_, String>(21)?),
                api: super::record::api_label(&r.get::<_, String>(22)?),
                ended: std::time::Instant::now(),
            },
        ))
    })?;
    let mut data = Vec::new();
    for row in rows {
        let (seq, rec) = row?;
        last = Some(seq);
        data.push(rec);
    }
    let next_after = if data.len() == limit { last } else { None };
    Ok(Page { data, next_after })
}

fn parse_cache(s: &str) -> CacheStatus {
    match s {
        "hit" => CacheStatus::Hit,
        "miss" => CacheStatus::Miss,
        "coalesced" => CacheStatus::Coalesced,
        "bypass" => CacheStatus::Bypass,
        _ => CacheStatus::None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn rec(i: i64, ts_ms: i64, tenant: &str, model: &str) -> UsageRecord {
        UsageRecord {
            id: format!("use_{i}"),
            request_id: format!("req_{i}"),
            ts_ms,
            tenant: Arc::from(tenant),
            key_id: Arc::from("k"),
            route: None,
            provider: "p".into(),
            model: model.into(),
            prompt_tokens: 10,
            completion_tokens: 5,
            cached_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            estimated: false,
            cost_usd: 0.5,
            saving_usd: 0.0,
            latency_ms: 1,
            ttft_ms: None,
            status: 200,
            attempts: 1,
            cache: CacheStatus::None,
            api: "openai-chat",
            ended: std::time::Instant::now(),
        }
    }

    #[test]
    fn rollup_and_raw_edges_add_up_to_the_records_in_range() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = store::open_writer(&dir.path().join("u.db")).expect("opens");
        let base = 100 * HOUR_MS;
        // 40 records spread over 5 hours, at 7.5-minute steps, two tenants, two models.
        let records: Vec<UsageRecord> = (0..40)
            .map(|i| {
                let tenant = if i % 2 == 0 { "a" } else { "b" };
                let model = if i % 4 < 2 { "m1" } else { "m2" };
                rec(i, base + i * 450_000, tenant, model)
            })
            .collect();
        assert_eq!(store::insert(&mut conn, &records).expect("insert"), 40);
        // A second insert of the same records changes nothing (no double counting).
        assert_eq!(store::insert(&mut conn, &records).expect("insert"), 0);
        for (from, to) in [
            (0, i64::MAX),
            (base + 1, base + 3 * HOUR_MS + 5),
            (base + 1_000_000, base + 1_200_000),
            (base + HOUR_MS, base + 3 * HOUR_MS),
        ] {
            for tenant in [None, Some("a".to_owned())] {
                let filter = Filter {
                    from_ms: from,
                    to_ms: to,
                    tenant: tenant.clone(),
                };
                let s = summary(&conn, &filter, Some(GroupBy::Model)).expect("summary");
                let expected = records
                    .iter()
                    .filter(|r| r.ts_ms >= from && r.ts_ms < to)
                    .filter(|r| tenant.as_deref().is_none_or(|t| &*r.tenant == t))
                    .count() as u64;
                assert_eq!(s.totals.requests, expected, "{from}..{to} {tenant:?}");
                assert_eq!(s.totals.prompt_tokens, 10 * expected);
                assert!((s.totals.cost_usd - 0.5 * expected as f64).abs() < 1e-9);
                let by_group: u64 = s.groups.iter().map(|g| g.totals.requests).sum();
                assert_eq!(by_group, expected);
            }
        }
        let by_hour = summary(
            &conn,
            &Filter {
                from_ms: 0,
                to_ms: i64::MAX,
                tenant: None,
            },
            Some(GroupBy::Hour),
        )
        .expect("summary");
        assert_eq!(by_hour.groups.len(), 5);
        assert!(by_hour.groups.iter().all(|g| g.totals.requests == 8));
        assert_eq!(by_hour.groups[0].group, "1970-01-05T04:00:00Z");
    }
}
