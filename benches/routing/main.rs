//! The routing-quality benchmark: a seven-minute simulated market (see `market`) run
//! through the real planner, scores and provider state on a virtual clock, judged by
//! the scheduler's own objective against an oracle and three static policies.
//!
//! `cargo bench --bench routing [-- --seed N --out DIR --set TOML]` (`--set` puts
//! config ahead of the market's, e.g. `'[health]\nestimate_half_life_ms = 3000'`) writes `DIR/requests.csv`
//! (every request), `DIR/summary.json` (the figures, overall and per phase) and
//! `DIR/share.png` + `DIR/share.svg` (traffic share per candidate over time, phases
//! shaded), and prints the summary's table. DIR defaults to `target/routing`.

mod market;
mod objective;
mod plot;
mod report;
mod rng;
mod sim;

use std::io::Write;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut seed = 23u64;
    let mut out = PathBuf::from("target/routing");
    let mut extra = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(seed),
            "--out" => out = args.next().map_or(out, PathBuf::from),
            "--set" => extra = args.next().unwrap_or_default().replace("\\n", "\n"),
            // `cargo bench` passes `--bench`; other harness flags mean nothing here.
            _ => {}
        }
    }
    let phases = market::standard();
    let mut sim = sim::Sim::new(phases.clone(), seed, extra);
    sim.run();
    let records = &sim.records;
    let seconds: f64 = phases.iter().map(|p| p.seconds).sum();
    let summary = report::summary(records, &phases, seed);
    let starts = report::starts(&phases);
    let shares = report::shares_per_second(records, seconds);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("requests.csv"), report::csv(records))?;
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(
        out.join("share.png"),
        plot::png(&shares, &phases, &starts, seconds),
    )?;
    std::fs::write(
        out.join("share.svg"),
        plot::svg(&shares, &phases, &starts, seconds),
    )?;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{}", table(&summary))?;
    writeln!(o, "wrote {}", out.display())
}

/// The summary as a table: one line per phase, then the whole run.
fn table(s: &serde_json::Value) -> String {
    let mut t = format!(
        "{:<22} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>7} {:>6} {:>7} {:>8}\n",
        "phase",
        "reqs",
        "regret",
        "rr",
        "cheap",
        "fast",
        "$/1k",
        "mean_ms",
        "p95_ms",
        "errs",
        "explore",
        "adapt_s"
    );
    let row = |name: &str, f: &serde_json::Value| {
        let adapt = ["leave_s", "return_s", "follow_s"]
            .iter()
            .find_map(|k| f.get(*k))
            .map_or("".to_owned(), |v| {
                v.as_f64().map_or("never".into(), |x| format!("{x:.2}"))
            });
        let r = |p: &str| f["policies"][p]["regret"].as_f64().unwrap_or(0.0) * 100.0;
        format!(
            "{:<22} {:>6} {:>7.1}% {:>7.1}% {:>7.1}% {:>7.1}% {:>9.4} {:>8.0} {:>7.0} {:>6} {:>6.1}% {:>8}\n",
            name,
            f["requests"].as_u64().unwrap_or(0),
            f["regret"].as_f64().unwrap_or(0.0) * 100.0,
            r("round_robin"),
            r("static_cheapest"),
            r("static_fastest"),
            f["cost_per_1k_usd"].as_f64().unwrap_or(0.0),
            f["latency_mean_ms"].as_f64().unwrap_or(0.0),
            f["latency_p95_ms"].as_f64().unwrap_or(0.0),
            f["client_errors"].as_u64().unwrap_or(0),
            f["exploration_share"].as_f64().unwrap_or(0.0) * 100.0,
            adapt
        )
    };
    if let Some(phases) = s["phases"].as_array() {
        for f in phases {
            t.push_str(&row(f["name"].as_str().unwrap_or("?"), f));
        }
    }
    t.push_str(&row("overall", &s["overall"]));
    t
}
