//! `/v1/usage` at scale: a group-by over one million records, inserted through the
//! ledger's batch insert, answers well under a second (bound here: a generous 5 s for
//! slow CI machines; the measured time is printed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::usage::query::{Filter, GroupBy, Readers};
use switchyard::usage::{CacheStatus, UsageRecord, store};

const RECORDS: usize = 1_000_000;
const BATCH: usize = 10_000;
const BOUND: Duration = Duration::from_secs(5);

fn record(i: usize, tenants: &[Arc<str>], keys: &[Arc<str>]) -> UsageRecord {
    const MODELS: [(&str, &str); 6] = [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("deepseek", "deepseek-chat"),
        ("qwen", "qwen-plus"),
        ("mistral", "mistral-small-latest"),
    ];
    // Each key belongs to one tenant and sends to one model through one route, as
    // applications do; 200 keys make up to 200 combinations per hour.
    let k = i % keys.len();
    let (provider, model) = MODELS[k % MODELS.len()];
    UsageRecord {
        id: format!("use_{i:012}"),
        request_id: format!("req_{i:012}"),
        // One record every 2.6 s over a month.
        ts_ms: 1_700_000_000_000 + i as i64 * 2_600,
        tenant: tenants[k % tenants.len()].clone(),
        key_id: keys[k].clone(),
        route: k.is_multiple_of(3).then(|| "auto".to_owned()),
        provider: provider.into(),
        model: model.into(),
        prompt_tokens: 100 + (i % 900) as u64,
        completion_tokens: 20 + (i % 300) as u64,
        cached_tokens: (i % 7 * 10) as u64,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        estimated: i.is_multiple_of(50),
        cost_usd: 0.000_1 + (i % 100) as f64 * 1e-6,
        saving_usd: 0.0,
        latency_ms: 200 + (i % 1000) as u64,
        ttft_ms: None,
        status: if i.is_multiple_of(40) { 502 } else { 200 },
        attempts: 1,
        cache: CacheStatus::None,
        api: "openai-chat",
        ended: Instant::now(),
    }
}

#[test]
fn group_by_model_over_a_million_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("usage.db");
    let mut conn = store::open_writer(&path).expect("ledger opens");
    let tenants: Vec<Arc<str>> = (0..20).map(|t| format!("tenant-{t}").into()).collect();
    let keys: Vec<Arc<str>> = (0..200).map(|k| format!("key-{k}").into()).collect();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..RECORDS {
        batch.push(record(i, &tenants, &keys));
        if batch.len() == BATCH {
            assert_eq!(store::insert(&mut conn, &batch).expect("insert"), BATCH);
            batch.clear();
        }
    }
    let inserted = started.elapsed();
    drop(conn);

    let readers = Readers::new(path);
    let all = Filter {
        from_ms: 0,
        to_ms: i64::MAX,
        tenant: None,
    };
    let started = Instant::now();
    let summary = readers
        .summary(&all, Some(GroupBy::Model))
        .expect("query runs");
    let took = started.elapsed();
    assert_eq!(summary.totals.requests, RECORDS as u64);
    assert_eq!(summary.groups.len(), 6);
    // Keys 0..200 map to models k % 6: two models get 34 keys, the others 33.
    let per_key = (RECORDS / 200) as u64;
    let mut counts: Vec<u64> = summary.groups.iter().map(|g| g.totals.requests).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [33, 33, 33, 33, 34, 34].map(|keys| keys * per_key).to_vec()
    );
    assert_eq!(summary.totals.errors, (RECORDS / 40) as u64);

    // One tenant's month, through the (tenant, ts_ms) index.
    let one = Filter {
        from_ms: 1_700_000_000_000,
        to_ms: 1_700_000_000_000 + 30 * 86_400_000,
        tenant: Some("tenant-3".to_owned()),
    };
    let started = Instant::now();
    let tenant_summary = readers
        .summary(&one, Some(GroupBy::Day))
        .expect("query runs");
    let tenant_took = started.elapsed();
    assert!(tenant_summary.totals.requests > 0);

    eprintln!(
        "usage scale: inserted {RECORDS} records in {inserted:?}; group_by=model over all: {took:?}; one tenant's month by day: {tenant_took:?}"
    );
    assert!(
        took < BOUND,
        "group-by over {RECORDS} records took {took:?}"
    );
    assert!(tenant_took < BOUND, "tenant query took {tenant_took:?}");
}
