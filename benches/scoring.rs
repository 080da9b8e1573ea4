//! One scheduling decision (resolve, score, rank, explore, fallbacks) over 2, 6 and 20
//! candidates with live health (window percentiles and decayed estimates) for every
//! candidate. Target: well under 5 µs at 20.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchyard::config::Config;
use switchyard::providers::estimate::{Decayed, Estimate};
use switchyard::providers::health::{Load, ModelHealth, ProviderHealth};
use switchyard::providers::window::Percentiles;
use switchyard::scheduler::actor::{Snapshot, WeightTable};
use switchyard::scheduler::{Draws, PlanRequest, Planner};
use tokio::time::Instant;

fn config(n: usize) -> Config {
    let mut text = String::new();
    for p in 0..n {
        text.push_str(&format!(
            "[providers.p{p}]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n\
             [[models]]\nname = \"m{p}\"\nprovider = \"p{p}\"\ninput_per_mtok_usd = {}\n\
             output_per_mtok_usd = {}\ncontext_window = 128000\n\n",
            0.1 + p as f64 * 0.3,
            0.4 + p as f64 * 0.9
        ));
    }
    let names: Vec<String> = (0..n).map(|p| format!("\"m{p}\"")).collect();
    text.push_str(&format!(
        "[routes.auto]\ncandidates = [{}]\n",
        names.join(", ")
    ));
    Config::from_toml(&text, None, None).expect("bench config")
}

/// Decayed estimates as a busy candidate has them: measured a moment ago.
fn estimate(latency_ms: f64, error_rate: f64) -> Estimate {
    let at = Some(Instant::now());
    let d = |mean| Decayed {
        mean,
        weight: 20.0,
        at,
    };
    Estimate {
        latency_ms: d(latency_ms),
        ttft_ms: d(latency_ms / 3.0),
        errors: d(error_rate),
        half_life: Duration::from_millis(1500),
    }
}

fn snapshot(config: &Arc<Config>) -> Snapshot {
    let models = config
        .models
        .iter()
        .enumerate()
        .map(|(i, _)| ModelHealth {
            latency: Percentiles {
                p50: 300.0 + i as f64 * 40.0,
                p90: 500.0 + i as f64 * 55.0,
                p95: 600.0,
                p99: 900.0,
                count: 100,
            },
            ok: 100,
            errors: i as u64,
            error_rate: i as f64 / 100.0,
            avg_output_tokens: Some(180.0),
            estimate: estimate(500.0 + i as f64 * 55.0, i as f64 / 100.0),
            ..ModelHealth::default()
        })
        .collect();
    Snapshot {
        version: 1,
        providers: vec![ProviderHealth::unknown(); config.providers.len()],
        models,
        weights: WeightTable {
            global: config.scheduler.weights,
            routes: Default::default(),
            tiers: Default::default(),
        },
        config: config.clone(),
        planner: Arc::new(Planner::new(config)),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule_decision");
    for n in [2usize, 6, 20] {
        let config = Arc::new(config(n));
        let planner = Planner::new(&config);
        let snap = snapshot(&config);
        let req = PlanRequest {
            target: "auto",
            tier: "default",
            input_tokens: 800,
            ..PlanRequest::default()
        };
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let plan = planner
                    .plan(
                        black_box(&snap),
                        |_| Load::fresh(3),
                        black_box(&req),
                        Draws::random(),
                    )
                    .expect("plan");
                black_box(plan.candidates.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
