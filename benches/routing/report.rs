//! The figures of a run: per phase and overall, regret against the oracle (and the
//! other counterfactual policies'), cost per 1000 requests, latency, client errors,
//! exploration, estimate ages, and the adaptation times (leave a degraded provider,
//! return after recovery, follow a weight or price change), from the per-request
//! records.

use serde_json::{Value, json};

use super::market::{DEGRADED, Kind, NAMES, Phase};
use super::objective::{self, POLICIES};
use super::sim::Record;

/// Share at or below which a degraded provider counts as left.
const LEFT_SHARE: f64 = 0.2;
/// Share of its earlier traffic a recovered provider must win back.
const RETURN_SHARE: f64 = 0.8;
/// Share of traffic that must follow the new optimum.
const FOLLOW_SHARE: f64 = 0.8;
/// The window shares are measured over, and the step between measurements, s.
const SHARE_WINDOW_S: f64 = 1.0;
const SHARE_STEP_S: f64 = 0.25;
/// How long a share must hold to count as reached, s.
const HOLD_S: f64 = 3.0;
/// The earlier share of the degraded provider: over this much before it degraded, s.
const EARLIER_S: f64 = 10.0;

/// J of the switchyard pick for one record.
pub fn j_pick(r: &Record) -> f64 {
    r.pick
        .map_or_else(|| objective::refused(&r.weights), |p| r.j[p])
}

/// The figures of the records in one span (a phase, or the whole run).
fn figures(rs: &[&Record]) -> Value {
    let n = rs.len().max(1) as f64;
    let j_sy: f64 = rs.iter().map(|r| j_pick(r)).sum();
    let mut policy_j = [0.0f64; 4];
    for r in rs {
        let picks = objective::counterfactuals(&r.j, r.seq);
        for (acc, p) in policy_j.iter_mut().zip(picks) {
            *acc += r.j[p];
        }
    }
    let oracle = policy_j[0].max(1e-12);
    let mut policies = serde_json::Map::new();
    for (name, j) in POLICIES.iter().zip(policy_j) {
        policies.insert(
            (*name).into(),
            json!({ "j": j, "regret": j / oracle - 1.0 }),
        );
    }
    let mut lat: Vec<f64> = rs
        .iter()
        .filter(|r| r.answered_by.is_some())
        .map(|r| r.latency_ms)
        .collect();
    lat.sort_by(f64::total_cmp);
    let mean_lat = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
    let p95 = lat
        .get(((lat.len() as f64 * 0.95) as usize).min(lat.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    let explored: Vec<&&Record> = rs.iter().filter(|r| r.explored).collect();
    let explore_cost: f64 = explored.iter().map(|r| j_pick(r) - r.j[oracle_of(r)]).sum();
    let mut shares = serde_json::Map::new();
    for (c, name) in NAMES.iter().enumerate() {
        let k = rs.iter().filter(|r| r.pick == Some(c)).count();
        shares.insert((*name).into(), json!(k as f64 / n));
    }
    json!({
        "requests": rs.len(),
        "regret": j_sy / oracle - 1.0,
        "j_switchyard": j_sy,
        "policies": policies,
        "cost_per_1k_usd": rs.iter().map(|r| r.cost_usd).sum::<f64>() / n * 1000.0,
        "latency_mean_ms": mean_lat,
        "latency_p95_ms": p95,
        "client_errors": rs.iter().filter(|r| r.client_error).count(),
        "exploration_share": explored.len() as f64 / n,
        "exploration_cost_share_of_j": explore_cost / j_sy.max(1e-12),
        "oracle_agreement": rs.iter().filter(|r| r.pick == Some(oracle_of(r))).count() as f64 / n,
        "share": shares,
    })
}

fn oracle_of(r: &Record) -> usize {
    objective::counterfactuals(&r.j, 0)[0]
}

/// The phases' start times, s.
pub fn starts(phases: &[Phase]) -> Vec<f64> {
    let mut t = 0.0;
    phases
        .iter()
        .map(|p| {
            let s = t;
            t += p.seconds;
            s
        })
        .collect()
}

/// Share of `pred` among the records in `[from, to)`.
fn share(rs: &[Record], from: f64, to: f64, pred: impl Fn(&Record) -> bool) -> Option<f64> {
    let lo = rs.partition_point(|r| r.t_s < from);
    let hi = rs.partition_point(|r| r.t_s < to);
    let span = &rs[lo..hi];
    (span.len() >= 5).then(|| span.iter().filter(|r| pred(r)).count() as f64 / span.len() as f64)
}

/// The first time (s after `start`, within `len`) from which the share of `pred` over
/// the trailing window satisfies `ok` and keeps satisfying it for `HOLD_S` (or to the
/// phase's end): a lucky second does not count.
fn first_time(
    rs: &[Record],
    (start, len): (f64, f64),
    pred: impl Fn(&Record) -> bool + Copy,
    ok: impl Fn(f64) -> bool,
) -> Option<f64> {
    let steps = (len / SHARE_STEP_S).floor() as usize;
    let holds = |i: usize| {
        let tau = i as f64 * SHARE_STEP_S;
        let from = (start + tau - SHARE_WINDOW_S).max(start);
        share(rs, from, start + tau, pred).is_some_and(&ok)
    };
    let hold = (HOLD_S / SHARE_STEP_S) as usize;
    (1..=steps)
        .find(|&i| (i..=(i + hold).min(steps)).all(holds))
        .map(|i| i as f64 * SHARE_STEP_S)
}

/// The adaptation figure of phase `k`: its name and seconds (`None`: never).
fn adaptation(
    rs: &[Record],
    phases: &[Phase],
    starts: &[f64],
    k: usize,
) -> Option<(&'static str, Option<f64>)> {
    let span = (starts[k], phases[k].seconds);
    let on_degraded = |r: &Record| r.pick == Some(DEGRADED);
    match phases[k].kind {
        Kind::Steady => None,
        Kind::Degraded => Some((
            "leave_s",
            first_time(rs, span, on_degraded, |s| s <= LEFT_SHARE),
        )),
        Kind::Recovery => {
            let before = starts[k.checked_sub(1)?];
            let earlier = share(rs, before - EARLIER_S, before, on_degraded)?;
            Some((
                "return_s",
                first_time(rs, span, on_degraded, |s| s >= RETURN_SHARE * earlier),
            ))
        }
        Kind::Shift => Some((
            "follow_s",
            first_time(
                rs,
                span,
                |r| r.pick == Some(oracle_of(r)),
                |s| s >= FOLLOW_SHARE,
            ),
        )),
    }
}

/// The oldest estimate of any candidate serving in phase `k` (the degraded one is
/// left out while it is degraded), s.
fn max_age(rs: &[&Record], kind: Kind) -> f64 {
    rs.iter()
        .flat_map(|r| {
            r.ages_s
                .iter()
                .enumerate()
                .filter(move |(c, _)| !(kind == Kind::Degraded && *c == DEGRADED))
                .map(|(_, a)| *a)
        })
        .fold(0.0, f64::max)
}

/// The whole summary: overall and per-phase figures, and the share of every candidate
/// per second.
pub fn summary(rs: &[Record], phases: &[Phase], seed: u64) -> Value {
    let starts = starts(phases);
    let all: Vec<&Record> = rs.iter().collect();
    let mut per_phase = Vec::new();
    for (k, p) in phases.iter().enumerate() {
        let these: Vec<&Record> = rs.iter().filter(|r| r.phase == k).collect();
        let mut f = figures(&these);
        f["name"] = json!(p.name);
        f["start_s"] = json!(starts[k]);
        f["seconds"] = json!(p.seconds);
        f["max_estimate_age_s"] = json!(max_age(&these, p.kind));
        if let Some((key, v)) = adaptation(rs, phases, &starts, k) {
            f[key] = json!(v);
        }
        per_phase.push(f);
    }
    json!({
        "seed": seed,
        "seconds": phases.iter().map(|p| p.seconds).sum::<f64>(),
        "latency_reference_ms": objective::LATENCY_REFERENCE_MS,
        "candidates": NAMES,
        "overall": figures(&all),
        "phases": per_phase,
    })
}

/// Share of each candidate among the picks of each second.
pub fn shares_per_second(rs: &[Record], seconds: f64) -> Vec<[f64; 4]> {
    let n = seconds.ceil() as usize;
    let mut counts = vec![[0u32; 5]; n];
    for r in rs {
        let b = (r.t_s as usize).min(n.saturating_sub(1));
        counts[b][r.pick.unwrap_or(4)] += 1;
    }
    counts
        .iter()
        .map(|c| {
            let total = c.iter().sum::<u32>().max(1) as f64;
            [0, 1, 2, 3].map(|i| f64::from(c[i]) / total)
        })
        .collect()
}

/// The per-request records as CSV.
pub fn csv(rs: &[Record]) -> String {
    let name = |c: Option<usize>| c.map_or("-", |c| NAMES[c]);
    let mut out = String::from(
        "t_s,phase,stream,prompt_tokens,pick,explored,oracle,j_pick,j_oracle,j_round_robin,\
         j_cheapest,j_fastest,answered_by,attempts,latency_ms,cost_usd,client_error\n",
    );
    for r in rs {
        let cf = objective::counterfactuals(&r.j, r.seq);
        out.push_str(&format!(
            "{:.4},{},{},{},{},{},{},{:.5},{:.5},{:.5},{:.5},{:.5},{},{},{:.1},{:.8},{}\n",
            r.t_s,
            r.phase,
            r.stream,
            r.prompt_tokens,
            name(r.pick),
            r.explored,
            NAMES[cf[0]],
            j_pick(r),
            r.j[cf[0]],
            r.j[cf[1]],
            r.j[cf[2]],
            r.j[cf[3]],
            name(r.answered_by),
            r.attempts,
            r.latency_ms,
            r.cost_usd,
            r.client_error,
        ));
    }
    out
}
