//! `GET /v1/usage?group_by=model` over one million records: the ledger's query with
//! its hourly rollup, against the same group-by straight over the raw records (the
//! naive plan). Target: well under a second. The data: a month of traffic, 200 keys
//! in 20 tenants, each key sending to one of six models.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;
use switchyard::usage::query::{Filter, GroupBy, summary};
use switchyard::usage::{CacheStatus, UsageRecord, store};

const RECORDS: usize = 1_000_000;
const BATCH: usize = 10_000;

fn fill(conn: &mut Connection) {
    const MODELS: [(&str, &str); 6] = [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("deepseek", "deepseek-chat"),
        ("qwen", "qwen-plus"),
        ("mistral", "mistral-small-latest"),
    ];
    let tenants: Vec<Arc<str>> = (0..20).map(|t| format!("tenant-{t}").into()).collect();
    let keys: Vec<Arc<str>> = (0..200).map(|k| format!("key-{k}").into()).collect();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..RECORDS {
        let k = i % keys.len();
        let (provider, model) = MODELS[k % MODELS.len()];
        batch.push(UsageRecord {
            id: format!("use_{i:012}"),
            request_id: format!("req_{i:012}"),
            ts_ms: 1_700_000_000_000 + i as i64 * 2_600,
            tenant: tenants[k % tenants.len()].clone(),
            key_id: keys[k].clone(),
            route: k.is_multiple_of(3).then(|| "auto".to_owned()),
            provider: provider.into(),
            model: model.into(),
            prompt_tokens: 100 + (i % 900) as u64,
            completion_tokens: 20 + (i % 300) as u64,
            cached_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            estimated: false,
            cost_usd: 0.000_1 + (i % 100) as f64 * 1e-6,
            saving_usd: 0.0,
            latency_ms: 200,
            ttft_ms: None,
            status: 200,
            attempts: 1,
            cache: CacheStatus::None,
            api: "openai-chat",
            ended: Instant::now(),
        });
        if batch.len() == BATCH {
            store::insert(conn, &batch).expect("insert");
            batch.clear();
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("usage.db");
    let mut conn = store::open_writer(&path).expect("ledger opens");
    fill(&mut conn);
    let all = Filter {
        from_ms: 0,
        to_ms: i64::MAX,
        tenant: None,
    };
    let mut g = c.benchmark_group("usage_query_1m");
    g.sample_size(10);
    g.bench_function("group_by_model", |b| {
        b.iter(|| summary(&conn, black_box(&all), Some(GroupBy::Model)).expect("query"));
    });
    g.bench_function("group_by_model_raw_scan", |b| {
        b.iter(|| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), \
                     SUM(cost_usd) FROM usage_records GROUP BY model",
                )
                .expect("prepare");
            let rows: Vec<(String, i64)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            black_box(rows)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
