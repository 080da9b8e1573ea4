//! The scheduler's estimates under a virtual clock: the real provider state
//! (`ProviderState`) fed with outcomes and the real planner (`Planner::plan_at`), no
//! actors and no sleeping, with fixed draws, so every run is the same.

use std::sync::Arc;
use std::time::Duration;

use switchyard::config::Config;
use switchyard::config::weights::Weights;
use switchyard::providers::health::{AttemptOutcome, Load, ModelHealth, ProviderHealth};
use switchyard::providers::state::ProviderState;
use switchyard::scheduler::actor::{Snapshot, WeightTable};
use switchyard::scheduler::{Draws, PlanRequest, Planner};
use tokio::time::Instant;

const CONFIG: &str = r#"
[providers.cheap]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[providers.dear]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[models]]
name = "cheap-model"
provider = "cheap"
input_per_mtok_usd = 0.1
output_per_mtok_usd = 0.4
context_window = 128000

[[models]]
name = "dear-model"
provider = "dear"
input_per_mtok_usd = 3.0
output_per_mtok_usd = 15.0
context_window = 128000

[routes.auto]
candidates = ["cheap-model", "dear-model"]
"#;

/// Two candidates, their provider states, and answers coming back on a virtual clock.
struct Market {
    t0: Instant,
    config: Arc<Config>,
    planner: Arc<Planner>,
    weights: WeightTable,
    states: Vec<ProviderState>,
    providers: Vec<ProviderHealth>,
    models: Vec<ModelHealth>,
    /// (ms when it completes, model index, latency ms)
    in_flight: Vec<(u64, usize, u64)>,
    /// A deterministic sequence of draws in 0..1.
    draw: u64,
}

impl Market {
    fn new() -> Self {
        let config = Arc::new(Config::from_toml(CONFIG, None, None).expect("config"));
        let t0 = Instant::now();
        let states = config
            .providers
            .iter()
            .map(|p| {
                let models: Vec<_> = config
                    .models
                    .iter()
                    .filter(|m| m.provider.index == p.index)
                    .cloned()
                    .collect();
                ProviderState::new(&models, config.health.clone(), t0)
            })
            .collect();
        Self {
            t0,
            planner: Arc::new(Planner::new(&config)),
            weights: WeightTable::from_config(&config),
            providers: vec![ProviderHealth::unknown(); config.providers.len()],
            models: vec![ModelHealth::default(); config.models.len()],
            config,
            states,
            in_flight: Vec::new(),
            draw: 0,
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn model(&self, name: &str) -> usize {
        let m = self.config.models.iter().find(|m| &*m.name == name);
        m.expect("model").index
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: 1,
            providers: self.providers.clone(),
            models: self.models.clone(),
            weights: self.weights.clone(),
            config: self.config.clone(),
            planner: self.planner.clone(),
        }
    }

    /// Every provider publishes its health as of `ms`.
    fn publish(&mut self, ms: u64) {
        for (i, s) in self.states.iter_mut().enumerate() {
            s.poll(self.t0 + Duration::from_millis(ms));
            let (h, models) = s.health(self.t0 + Duration::from_millis(ms), 0);
            self.providers[i] = h;
            for (m, mh) in models {
                self.models[m] = mh;
            }
        }
    }

    /// The model the plan leads with at `ms`.
    fn pick(&mut self, ms: u64) -> usize {
        self.draw = self
            .draw
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (self.draw >> 11) as f64 / (1u64 << 53) as f64;
        let req = PlanRequest {
            target: "auto",
            tier: "default",
            input_tokens: 1000,
            ..PlanRequest::default()
        };
        let snap = self.snapshot();
        let loads: Vec<Load> = (0..self.config.providers.len())
            .map(|p| {
                let mine = self
                    .in_flight
                    .iter()
                    .filter(|(_, m, _)| self.config.models[*m].provider.index == p);
                let (mut n, mut age) = (0, 0.0);
                for (end, _, lat) in mine {
                    n += 1;
                    age += (ms + lat).saturating_sub(*end) as f64;
                }
                Load {
                    requests: n,
                    age_ms_sum: age,
                }
            })
            .collect();
        let draws = Draws {
            explore: u,
            pick: 0.5,
        };
        let plan = self
            .planner
            .plan_at(&snap, |p| loads[p], &req, draws, self.at(ms));
        plan.expect("plan").candidates[0].index
    }

    /// Runs `from..to` ms at one request every `every` ms; `latency(model, ms)` is the
    /// truth. Returns the picks.
    fn run(
        &mut self,
        from: u64,
        to: u64,
        latency: impl Fn(usize, u64) -> u64,
    ) -> Vec<(u64, usize)> {
        let mut picks = Vec::new();
        for ms in (from..to).step_by(50) {
            let done: Vec<_> = self
                .in_flight
                .iter()
                .filter(|f| f.0 <= ms)
                .copied()
                .collect();
            self.in_flight.retain(|f| f.0 > ms);
            for (end, m, lat) in done {
                let o = AttemptOutcome {
                    model: m,
                    latency: Duration::from_millis(lat),
                    ttft: None,
                    error: None,
                    retry_after: None,
                    output_tokens: Some(200),
                };
                let p = self.config.models[m].provider.index;
                let at = self.at(end);
                self.states[p].record(&o, at);
            }
            if ms % 250 == 0 {
                self.publish(ms);
            }
            let m = self.pick(ms);
            let lat = latency(m, ms);
            self.in_flight.push((ms + lat, m, lat));
            picks.push((ms, m));
        }
        picks
    }
}

fn share(picks: &[(u64, usize)], from: u64, to: u64, m: usize) -> f64 {
    let span: Vec<_> = picks
        .iter()
        .filter(|(t, _)| (from..to).contains(t))
        .collect();
    span.iter().filter(|(_, p)| *p == m).count() as f64 / span.len().max(1) as f64
}

#[test]
fn a_recovered_provider_is_re_measured_and_wins_back_its_traffic() {
    let mut market = Market::new();
    let cheap = market.model("cheap-model");
    // Both answer in 800 ms; then `cheap` is ten times slower for 20 s; then it recovers.
    let slow = |m: usize, ms: u64| {
        if m == cheap && (10_000..30_000).contains(&ms) {
            8000
        } else {
            800
        }
    };
    let picks = market.run(0, 45_000, slow);
    for k in 0..9 {
        eprintln!(
            "{}s {}",
            k * 5,
            share(&picks, k * 5000, k * 5000 + 5000, cheap)
        );
    }
    assert!(
        share(&picks, 5_000, 10_000, cheap) > 0.9,
        "cheap leads while healthy"
    );
    assert!(
        share(&picks, 20_000, 30_000, cheap) < 0.2,
        "a slow provider keeps only probes"
    );
    // Re-measured and back within 7 s of the recovery: a probe sent while it was slow
    // answers only 8 s later, and its estimate fades two half-lives after that.
    let back = share(&picks, 37_000, 45_000, cheap);
    assert!(back > 0.8, "re-measured and back: {back}");
}

#[test]
fn a_weight_flip_moves_the_plan_at_once() {
    let mut market = Market::new();
    let (cheap, dear) = (market.model("cheap-model"), market.model("dear-model"));
    // cheap takes 3 s, dear 300 ms: price first picks cheap, latency first picks dear.
    let truth = |m: usize, _| if m == cheap { 3000 } else { 300 };
    market.weights.global = Weights {
        price: 0.1,
        latency: 0.9,
        errors: 1.0,
    };
    market.run(0, 20_000, truth);
    assert_eq!(market.pick(20_000), dear);
    market.weights.global = Weights {
        price: 1.0,
        latency: 0.0,
        errors: 1.0,
    };
    assert_eq!(
        market.pick(20_000),
        cheap,
        "the very next plan follows the weights"
    );
    let picks = market.run(20_000, 30_000, truth);
    assert!(share(&picks, 20_000, 30_000, cheap) > 0.95);
}
