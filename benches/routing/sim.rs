//! The simulator: open-loop Poisson traffic through the real planner, with every
//! attempt's outcome drawn from the market's truth and fed to the real provider state
//! ([`ProviderState`]: windows, breaker, back-off), whose health is published into the
//! snapshot the planner reads every `publish_interval`, or at once on a circuit change
//! or a back-off, as the provider actor does. Time is a virtual clock: an event queue
//! in microseconds, so seven minutes of market run in about a second, the same every
//! time for one seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use switchyard::config::Config;
use switchyard::config::weights::Weights;
use switchyard::error::ErrorClass;
use switchyard::providers::health::{AttemptOutcome, Load, ModelHealth, ProviderHealth};
use switchyard::providers::state::ProviderState;
use switchyard::scheduler::actor::{Snapshot, WeightTable};
use switchyard::scheduler::{Draws, PlanRequest, Planner};
use tokio::time::Instant;

use super::market::{self, NAMES, Phase, Truth};
use super::objective::{self, Ask};
use super::rng::Rng;

/// Requests per second, on average.
pub const RATE_PER_S: f64 = 30.0;
/// The mean answer length, tokens.
pub const MEAN_OUTPUT: f64 = 200.0;
/// Share of requests that stream.
const STREAM_SHARE: f64 = 0.5;
/// The dispatcher's default wait before the next candidate, and its attempt cap.
const RETRY_DELAY_US: u64 = 500_000;
const MAX_ATTEMPTS: u32 = 3;
/// What the simulated providers need to refuse or rate-limit a request, ms.
const CONNECT_FAIL_MS: f64 = 30.0;
const RATE_LIMIT_MS: f64 = 40.0;
const RETRY_AFTER: Duration = Duration::from_secs(1);
const HEARTBEAT_RTT_MS: f64 = 40.0;

/// One request, as it went.
#[derive(Debug, Clone)]
pub struct Record {
    /// Position in the run (round-robin's turn).
    pub seq: usize,
    pub t_s: f64,
    pub phase: usize,
    pub stream: bool,
    pub prompt_tokens: f64,
    /// The plan's first candidate; `None` when the planner refused the request.
    pub pick: Option<usize>,
    pub explored: bool,
    /// J of each candidate for this request (see `objective`).
    pub j: [f64; 4],
    pub weights: Weights,
    pub answered_by: Option<usize>,
    pub attempts: u32,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub client_error: bool,
    /// Age of each candidate's newest measurement, s.
    pub ages_s: [f64; 4],
}

enum Ev {
    Arrive,
    Attempt(usize),
    Done {
        req: usize,
        cand: usize,
        started: u64,
        outcome: AttemptOutcome,
    },
    Tick,
    Heartbeat(usize),
    HeartbeatDone(usize, bool, f64),
    Phase(usize),
}

/// A request in progress.
struct Pending {
    arrived: u64,
    stream: bool,
    prompt_tokens: f64,
    output_tokens: f64,
    plan: Vec<usize>,
    next: usize,
    record: usize,
}

/// The market, the gateway's state, and the queue of what happens next.
pub struct Sim {
    t0: Instant,
    /// Config text ahead of the market's (`--set`).
    extra: String,
    phases: Vec<Phase>,
    phase: usize,
    rng: Rng,
    /// Per candidate: (model index, provider index) in the config.
    ids: [(usize, usize); 4],
    states: Vec<ProviderState>,
    providers: Vec<ProviderHealth>,
    models: Vec<ModelHealth>,
    dirty: [bool; 4],
    in_flight: Vec<u32>,
    /// Start times of the attempts in flight, summed per provider, s.
    started_sum: Vec<f64>,
    weights: WeightTable,
    config: Arc<Config>,
    planner: Arc<Planner>,
    snap: Arc<Snapshot>,
    version: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: Vec<Option<Ev>>,
    pending: Vec<Pending>,
    pub records: Vec<Record>,
}

fn us(seconds: f64) -> u64 {
    (seconds * 1e6) as u64
}

impl Sim {
    /// A market at its start, nothing measured.
    pub fn new(phases: Vec<Phase>, seed: u64, extra: String) -> Self {
        let config = Arc::new(market_config(&phases[0], &extra));
        let t0 = Instant::now();
        let mut ids = [(0, 0); 4];
        for (c, name) in NAMES.iter().enumerate() {
            let m = config
                .models
                .iter()
                .find(|m| *m.provider.name == **name)
                .expect("market model");
            ids[c] = (m.index, m.provider.index);
        }
        let mut states: Vec<ProviderState> = Vec::new();
        for p in &config.providers {
            let models: Vec<_> = config
                .models
                .iter()
                .filter(|m| m.provider.index == p.index)
                .cloned()
                .collect();
            states.push(ProviderState::new(&models, config.health.clone(), t0));
        }
        let weights = WeightTable::from_config(&config);
        let planner = Arc::new(Planner::new(&config));
        let mut sim = Self {
            t0,
            extra,
            phases,
            phase: 0,
            rng: Rng::new(seed),
            ids,
            states,
            providers: vec![ProviderHealth::unknown(); config.providers.len()],
            models: vec![ModelHealth::default(); config.models.len()],
            dirty: [false; 4],
            in_flight: vec![0; config.providers.len()],
            started_sum: vec![0.0; config.providers.len()],
            snap: Arc::new(snapshot_of((&config, &planner), &weights, &[], &[], 0)),
            weights,
            config,
            planner,
            version: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            pending: Vec::new(),
            records: Vec::new(),
        };
        sim.publish_snapshot();
        sim
    }

    fn at(&self, t_us: u64) -> Instant {
        self.t0 + Duration::from_micros(t_us)
    }

    fn push(&mut self, t_us: u64, ev: Ev) {
        let seq = self.events.len() as u64;
        self.events.push(Some(ev));
        self.queue.push(Reverse((t_us, seq)));
    }

    /// Runs every phase to its end.
    pub fn run(&mut self) {
        let mut start = 0.0;
        for k in 0..self.phases.len() {
            self.push(us(start), Ev::Phase(k));
            start += self.phases[k].seconds;
        }
        let end = us(start);
        self.push(0, Ev::Arrive);
        self.push(0, Ev::Tick);
        for c in 0..4 {
            self.push(us(c as f64 * 2.5), Ev::Heartbeat(c));
        }
        while let Some(Reverse((t, seq))) = self.queue.pop() {
            if t >= end {
                break;
            }
            let Some(ev) = self.events[seq as usize].take() else {
                continue;
            };
            self.handle(t, ev);
        }
    }

    fn handle(&mut self, t: u64, ev: Ev) {
        match ev {
            Ev::Arrive => self.arrive(t),
            Ev::Attempt(req) => self.attempt(t, req),
            Ev::Done {
                req,
                cand,
                started,
                outcome,
            } => self.done(t, req, cand, started, outcome),
            Ev::Tick => self.tick(t),
            Ev::Heartbeat(c) => self.heartbeat(t, c),
            Ev::HeartbeatDone(c, ok, rtt) => self.heartbeat_done(t, c, ok, rtt),
            Ev::Phase(k) => self.enter(k),
        }
    }

    fn truth(&self, c: usize) -> Truth {
        self.phases[self.phase].truth[c]
    }

    /// A phase begins: weights through the scheduler, prices through a reload.
    fn enter(&mut self, k: usize) {
        let (was, now) = (&self.phases[self.phase], &self.phases[k]);
        if was.repriced != now.repriced {
            // Reconfigure: a new config and planner; weights go back to the file's.
            self.config = Arc::new(market_config(now, &self.extra));
            self.planner = Arc::new(Planner::new(&self.config));
            self.weights = WeightTable::from_config(&self.config);
        }
        self.weights.global = now.weights;
        self.phase = k;
        self.publish_snapshot();
    }

    fn arrive(&mut self, t: u64) {
        let gap = -self.rng.f64().max(1e-12).ln() / RATE_PER_S;
        self.push(t + us(gap), Ev::Arrive);
        let phase = &self.phases[self.phase];
        let stream = self.rng.f64() < STREAM_SHARE;
        let prompt_tokens = if phase.long_prompts {
            self.rng.range(8000.0, 30000.0)
        } else {
            self.rng.range(200.0, 2000.0)
        }
        .round();
        let output_tokens = (MEAN_OUTPUT * self.rng.range(0.5, 1.5)).round();
        let weights = self.snap.weights.global;
        let ask = Ask {
            prompt_tokens,
            stream,
            mean_output: MEAN_OUTPUT,
        };
        let j = objective::all(phase, ask, &weights);
        let (pick_plan, explored) = self.plan(t, prompt_tokens, stream);
        let record = Record {
            seq: self.records.len(),
            t_s: t as f64 / 1e6,
            phase: self.phase,
            stream,
            prompt_tokens,
            pick: pick_plan.first().copied(),
            explored,
            j,
            weights,
            answered_by: None,
            attempts: 0,
            latency_ms: 0.0,
            cost_usd: 0.0,
            client_error: pick_plan.is_empty(),
            ages_s: self.ages(t),
        };
        self.records.push(record);
        if pick_plan.is_empty() {
            return;
        }
        self.pending.push(Pending {
            arrived: t,
            stream,
            prompt_tokens,
            output_tokens,
            plan: pick_plan,
            next: 0,
            record: self.records.len() - 1,
        });
        self.push(t, Ev::Attempt(self.pending.len() - 1));
    }

    /// The real planner's plan (as candidate numbers) and whether it explored.
    fn plan(&mut self, t: u64, prompt_tokens: f64, stream: bool) -> (Vec<usize>, bool) {
        let req = PlanRequest {
            target: "auto",
            tier: "default",
            input_tokens: prompt_tokens as u64,
            stream,
            explain: true,
            ..PlanRequest::default()
        };
        let draws = Draws {
            explore: self.rng.f64(),
            pick: self.rng.f64(),
        };
        let (in_flight, started) = (&self.in_flight, &self.started_sum);
        let now_s = t as f64 / 1e6;
        let load = |p: usize| Load {
            requests: in_flight[p],
            age_ms_sum: (f64::from(in_flight[p]) * now_s - started[p]).max(0.0) * 1000.0,
        };
        let planned = self
            .snap
            .planner
            .plan_at(&self.snap, load, &req, draws, self.at(t));
        let Ok(plan) = planned else {
            return (Vec::new(), false);
        };
        let explored = plan.explanation.as_ref().is_some_and(|e| e.explored);
        let cands = plan
            .candidates
            .iter()
            .filter_map(|m| self.ids.iter().position(|(mi, _)| *mi == m.index))
            .collect();
        (cands, explored)
    }

    fn ages(&self, t: u64) -> [f64; 4] {
        let now = self.at(t);
        let mut out = [0.0; 4];
        for (c, (mi, _)) in self.ids.iter().enumerate() {
            let last = self.models[*mi].last_sample.unwrap_or(self.t0);
            out[c] = now.saturating_duration_since(last).as_secs_f64();
        }
        out
    }

    fn attempt(&mut self, t: u64, req: usize) {
        let p = &mut self.pending[req];
        let cand = p.plan[p.next];
        p.next += 1;
        let (stream, prompt, output) = (p.stream, p.prompt_tokens, p.output_tokens);
        self.records[p.record].attempts += 1;
        let truth = self.truth(cand);
        let (ms, outcome) = draw_outcome(&mut self.rng, &truth, prompt, output, stream);
        let outcome = AttemptOutcome {
            model: self.ids[cand].0,
            ..outcome
        };
        self.in_flight[self.ids[cand].1] += 1;
        self.started_sum[self.ids[cand].1] += t as f64 / 1e6;
        self.push(
            t + us(ms / 1000.0),
            Ev::Done {
                req,
                cand,
                started: t,
                outcome,
            },
        );
    }

    fn done(&mut self, t: u64, req: usize, cand: usize, started: u64, o: AttemptOutcome) {
        let provider = self.ids[cand].1;
        self.in_flight[provider] -= 1;
        self.started_sum[provider] -= started as f64 / 1e6;
        let now = self.at(t);
        let r = self.states[provider].record(&o, now);
        self.dirty[cand] = true;
        // As the provider actor: a failure, a circuit move or a back-off is published
        // at once, a success with the next tick.
        if r.transition.is_some() || r.backoff.is_some() || o.error.is_some() {
            self.publish(cand, t);
        }
        let p = &self.pending[req];
        let rec = &mut self.records[p.record];
        if o.error.is_none() {
            let (input, output) = market::prices(&self.phases[self.phase])[cand];
            rec.answered_by = Some(cand);
            rec.cost_usd = (p.prompt_tokens * input + p.output_tokens * output) / 1e6;
            let end = match o.ttft {
                Some(ttft) if p.stream => started + ttft.as_micros() as u64,
                _ => t,
            };
            rec.latency_ms = (end - p.arrived) as f64 / 1000.0;
            return;
        }
        if rec.attempts < MAX_ATTEMPTS && p.next < p.plan.len() {
            self.push(t + RETRY_DELAY_US, Ev::Attempt(req));
        } else {
            rec.client_error = true;
            rec.latency_ms = (t - p.arrived) as f64 / 1000.0;
        }
    }

    fn tick(&mut self, t: u64) {
        self.push(
            t + self.config.health.publish_interval.as_micros() as u64,
            Ev::Tick,
        );
        let now = self.at(t);
        for c in 0..4 {
            let (_, changed) = self.states[self.ids[c].1].poll(now);
            if changed || self.dirty[c] {
                self.publish(c, t);
            }
        }
    }

    fn heartbeat(&mut self, t: u64, c: usize) {
        let interval = self.config.health.heartbeat_interval.as_micros() as u64;
        self.push(t + interval, Ev::Heartbeat(c));
        let truth = self.truth(c);
        let (ok, rtt) = if truth.outage {
            (false, CONNECT_FAIL_MS)
        } else {
            (true, HEARTBEAT_RTT_MS * self.rng.jitter(truth.jitter))
        };
        self.push(t + us(rtt / 1000.0), Ev::HeartbeatDone(c, ok, rtt));
    }

    fn heartbeat_done(&mut self, t: u64, c: usize, ok: bool, rtt_ms: f64) {
        let rtt = Duration::from_secs_f64(rtt_ms / 1000.0);
        let now = self.at(t);
        let (tr, changed) = self.states[self.ids[c].1].on_heartbeat(ok, rtt, now);
        self.dirty[c] |= changed;
        if tr.is_some() {
            self.publish(c, t);
        }
    }

    /// Candidate `c`'s provider publishes its health; the scheduler's snapshot follows.
    fn publish(&mut self, c: usize, t: u64) {
        let (mi, pi) = self.ids[c];
        let now = self.at(t);
        let (health, models) = self.states[pi].health(now, 0);
        self.providers[pi] = health;
        for (i, h) in models {
            self.models[i] = h;
        }
        debug_assert!(self.models.len() > mi);
        self.dirty[c] = false;
        self.publish_snapshot();
    }

    fn publish_snapshot(&mut self) {
        self.version += 1;
        self.snap = Arc::new(snapshot_of(
            (&self.config, &self.planner),
            &self.weights,
            &self.providers,
            &self.models,
            self.version,
        ));
    }
}

fn market_config(phase: &Phase, extra: &str) -> Config {
    Config::from_toml(
        &market::config_toml(&market::prices(phase), extra),
        None,
        None,
    )
    .expect("market config (check --set)")
}

fn snapshot_of(
    (config, planner): (&Arc<Config>, &Arc<Planner>),
    weights: &WeightTable,
    providers: &[ProviderHealth],
    models: &[ModelHealth],
    version: u64,
) -> Snapshot {
    let fill = |n: usize, have: usize| n.saturating_sub(have);
    let mut providers = providers.to_vec();
    providers.extend(
        (0..fill(config.providers.len(), providers.len())).map(|_| ProviderHealth::unknown()),
    );
    let mut models = models.to_vec();
    models.extend((0..fill(config.models.len(), models.len())).map(|_| ModelHealth::default()));
    Snapshot {
        version,
        providers,
        models,
        weights: weights.clone(),
        config: config.clone(),
        planner: planner.clone(),
    }
}

/// One attempt drawn from `t`: how long it takes (ms) and what it reports.
fn draw_outcome(
    rng: &mut Rng,
    t: &Truth,
    prompt: f64,
    output: f64,
    stream: bool,
) -> (f64, AttemptOutcome) {
    let fail = |ms: f64, class: ErrorClass, retry_after: Option<Duration>| {
        let o = AttemptOutcome {
            model: 0,
            latency: Duration::from_secs_f64(ms / 1000.0),
            ttft: None,
            error: Some(class),
            retry_after,
            output_tokens: None,
        };
        (ms, o)
    };
    if t.outage {
        return fail(CONNECT_FAIL_MS, ErrorClass::Connect, None);
    }
    if t.rate_limited {
        return fail(RATE_LIMIT_MS, ErrorClass::RateLimited, Some(RETRY_AFTER));
    }
    let ttft = t.ttft(prompt) * rng.jitter(t.jitter);
    if rng.f64() < t.error_rate {
        return fail(ttft * 0.5, ErrorClass::Server, None);
    }
    let total = ttft + output * t.ms_per_token * rng.jitter(t.jitter);
    let o = AttemptOutcome {
        model: 0,
        latency: Duration::from_secs_f64(total / 1000.0),
        ttft: stream.then(|| Duration::from_secs_f64(ttft / 1000.0)),
        error: None,
        retry_after: None,
        output_tokens: Some(output as u64),
    };
    (total, o)
}
