//! End-to-end overhead: the same load sent straight to a simulated provider and through
//! the gateway, in one run, on one machine. Run with `cargo bench --bench e2e_overhead`.
//!
//! Starts `switchyard mock` (zero added latency) and `switchyard serve` with the demo
//! configuration (scheduler, usage ledger, metrics and logging at production settings)
//! as separate processes, then drives fixed-count, time-bounded loads at concurrency 1,
//! 16, 64 and 256: throughput, p50/p99 latency and the gateway's added latency;
//! streaming time to first byte and whole-stream time; the gateway's CPU per request,
//! idle and peak RSS; and RSS with 10,000 concurrent slow streams held open, opened all
//! at once and in waves of 500, once open, after 12 s held, and 12 s after their clients
//! hung up. Prints a table and writes it as JSON to `target/e2e_overhead.json`.
//!
//! The non-streaming load comes from `wrk` when it is installed (`apt-get install
//! wrk`; a C load generator leaves the 2-core machine's CPU to the servers, and it is
//! what the peer figures were measured with), otherwise from the built-in generator.
//! With wrk each level runs [`WRK_ROUNDS`] alternating direct/gateway rounds and
//! reports the round with the median ratio (all rounds' ratios are printed too).
//!
//! `E2E_SECTIONS=load,stream,slow,cluster` runs a subset (`cluster`: the cost of a
//! `[cluster]` section on the machine's Redis, `E2E_REDIS_URL`); `E2E_WORKERS=N` sets the gateway's
//! worker threads (default: one per core); `E2E_H2C=false` (or `true`) replaces the demo's
//! `h2c = "streams"` for every provider.

#![allow(clippy::print_stdout, reason = "a benchmark's report is its output")]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const GATEWAY_KEY: &str = "sk-switchyard-demo";
/// Every request is distinct (`#N#` becomes a counter), so the gateway's request
/// coalescing and cache never answer for the provider: each request goes upstream.
const BODY: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, request #N#"}]}"#;
const STREAM_BODY: &str = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello there, request #N#"}]}"#;
/// Requests per run at concurrency 1 and above; each run also stops after MAX_RUN.
const REQUESTS_C1: usize = 3_000;
const REQUESTS: usize = 40_000;
const MAX_RUN: Duration = Duration::from_secs(8);
const SLOW_STREAMS: usize = 10_000;
/// A slow stream's prompt: the simulated provider echoes it, ~70 tokens a second apart,
/// so every stream outlives the measurement.
const SLOW_STREAM_BODY: &str = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello there, request #N#: one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight twenty-nine thirty thirty-one thirty-two thirty-three thirty-four thirty-five thirty-six thirty-seven thirty-eight thirty-nine forty forty-one forty-two forty-three forty-four forty-five forty-six forty-seven forty-eight forty-nine fifty fifty-one fifty-two fifty-three fifty-four fifty-five fifty-six fifty-seven fifty-eight fifty-nine sixty"}]}"#;
/// Opened at once, then in waves of this many (each waiting for its first chunks).
const SLOW_WAVE: usize = 500;
/// How long the slow streams are held before RSS is read again, and how long after
/// the clients hang up: past one of the gateway's heap trims (every 10 s).
const HOLD: Duration = Duration::from_secs(12);
/// Alternating direct/gateway wrk rounds per concurrency level (the median is reported).
const WRK_ROUNDS: usize = 3;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// User + system CPU time of a process.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    Duration::from_millis(ticks * 10)
}

/// (current RSS, peak RSS) in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

async fn wait_ready(url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() < 500)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

struct Setup {
    _mock: Proc,
    gateway: Proc,
    mock_url: String,
    gateway_url: String,
    /// The benchmark's configuration, for a second gateway of the same shape.
    config: String,
    _dir: tempfile::TempDir,
}

/// Starts `switchyard serve` on `config_path` at a free port, logging to `name.log`.
async fn spawn_gateway(
    config_path: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
) -> (Proc, String) {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let gateway = Proc(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config_path)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("SWITCHYARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start gateway"),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/healthz")).await;
    (gateway, url)
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock_port = free_port();
    let mock = Proc(
        Command::new(BIN)
            .args(["mock", "--listen", &format!("127.0.0.1:{mock_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mock"),
    );
    let mock_url = format!("http://127.0.0.1:{mock_port}");
    wait_ready(&format!("{mock_url}/_mock")).await;

    // The demo configuration, pointed at the mock process, with keys from a file.
    let key_file = dir.path().join("provider.key");
    std::fs::write(&key_file, "sk-bench-provider").expect("key file");
    let mut config = switchyard::DEMO_CONFIG.replace("{mock}", &format!("127.0.0.1:{mock_port}"));
    for p in [
        "openai",
        "anthropic",
        "gemini",
        "deepseek",
        "qwen",
        "mistral",
    ] {
        config = config.replace(
            &format!("{{ value = \"sk-mock-{p}\" }}"),
            &format!("{{ file = \"{}\" }}", key_file.display()),
        );
    }
    config = config.replace("listen = \"127.0.0.1:8080\"", "");
    let config = bench_settings(&config, dir.path());
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, &config).expect("config");
    let (gateway, gateway_url) = spawn_gateway(&config_path, dir.path(), "gateway").await;
    Setup {
        _mock: mock,
        gateway,
        mock_url,
        gateway_url,
        config,
        _dir: dir,
    }
}

/// Production-like changes to the demo configuration: the usage ledger writes to a
/// SQLite file in the run's temporary folder, and the token buckets stay on but sized
/// for the load (the demo's 10,000 requests per minute would measure the limiter's
/// queue, not the gateway).
fn bench_settings(config: &str, dir: &std::path::Path) -> String {
    let config = config
        .replace("rpm = 10000", "rpm = 100000000")
        .replace("tpm = 2000000", "tpm = 1000000000");
    let workers =
        std::env::var("E2E_WORKERS").map_or(String::new(), |w| format!("workers = {w}\n"));
    let config = config.replacen("[server]\n", &format!("[server]\n{workers}"), 1);
    let config = match std::env::var("E2E_H2C") {
        Ok(h2c) => config.replace("h2c = \"streams\"", &format!("h2c = {h2c}")),
        Err(_) => config,
    };
    format!(
        "{config}\n[usage]\ndatabase = \"{}\"\n",
        dir.join("usage.db").display()
    )
}

/// One wrk run: `(requests/s, p50 ms, p99 ms, requests, errors)`.
fn wrk(
    url: &str,
    script: &std::path::Path,
    concurrency: usize,
    seconds: u64,
) -> Option<(f64, f64, f64, u64, u64)> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{concurrency}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |v: &str| -> Option<f64> {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let mut p50 = None;
    let mut p99 = None;
    let mut rps = None;
    let mut requests = None;
    let mut errors = 0u64;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["50%", v] => p50 = ms(v),
            ["99%", v] => p99 = ms(v),
            ["Requests/sec:", v] => rps = v.parse().ok(),
            [n, "requests", "in", ..] => requests = n.parse().ok(),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", ..] => errors += 1,
            _ => {}
        }
    }
    Some((rps?, p50?, p99?, requests?, errors))
}

fn wrk_script(dir: &std::path::Path, name: &str, key: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let (head, tail) = body.split_once("#N#").unwrap_or((body, ""));
    let script = format!(
        "local n = 0\nlocal headers = {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer {key}\"}}\n\
         request = function()\n  n = n + 1\n  return wrk.format(\"POST\", nil, headers, '{head}' .. n .. '{tail}')\nend\n"
    );
    let _ = std::fs::write(&path, script);
    path
}

#[derive(Default)]
struct RunResult {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latency: Option<Histogram<u64>>,
    ttfb: Option<Histogram<u64>>,
}

/// Throughput and latency of one run, whichever generator produced it.
struct WrkResult {
    rps: f64,
    p50: f64,
    p99: f64,
    requests: u64,
    errors: u64,
}

impl WrkResult {
    fn rps(&self) -> f64 {
        self.rps
    }
    fn q(&self, q: f64) -> f64 {
        if q < 0.9 { self.p50 } else { self.p99 }
    }
}

impl From<&RunResult> for WrkResult {
    fn from(r: &RunResult) -> Self {
        Self {
            rps: r.rps(),
            p50: r.q(0.5),
            p99: r.q(0.99),
            requests: r.requests,
            errors: r.errors,
        }
    }
}

impl RunResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn q(&self, q: f64) -> f64 {
        self.latency
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }
    fn ttfb_q(&self, q: f64) -> f64 {
        self.ttfb
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

/// Sends `total` requests (or stops after MAX_RUN) from `concurrency` workers.
async fn run(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    body: &'static str,
    concurrency: usize,
    total: usize,
    stream: bool,
) -> RunResult {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let http = http.clone();
        let url = url.to_owned();
        let auth = auth.to_owned();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = RunResult {
                latency: Some(hist()),
                ttfb: Some(hist()),
                ..RunResult::default()
            };
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total || started.elapsed() >= MAX_RUN {
                    break;
                }
                let t0 = Instant::now();
                let resp = http
                    .post(&url)
                    .bearer_auth(&auth)
                    .header("content-type", "application/json")
                    .body(body.replace("#N#", &n.to_string()))
                    .send()
                    .await;
                let ok = match resp {
                    Ok(mut resp) if resp.status().is_success() => {
                        let mut first = true;
                        let mut ok = true;
                        loop {
                            match resp.chunk().await {
                                Ok(Some(_)) => {
                                    if first
                                        && stream
                                        && let Some(h) = r.ttfb.as_mut()
                                    {
                                        let _ = h.record(t0.elapsed().as_micros() as u64);
                                    }
                                    first = false;
                                }
                                Ok(None) => break,
                                Err(_) => {
                                    ok = false;
                                    break;
                                }
                            }
                        }
                        ok
                    }
                    _ => false,
                };
                if ok {
                    r.requests += 1;
                    if let Some(h) = r.latency.as_mut() {
                        let _ = h.record(t0.elapsed().as_micros() as u64);
                    }
                } else {
                    r.errors += 1;
                }
            }
            r
        }));
    }
    let mut total_r = RunResult {
        latency: Some(hist()),
        ttfb: Some(hist()),
        ..RunResult::default()
    };
    for t in tasks {
        let r = t.await.expect("worker");
        total_r.requests += r.requests;
        total_r.errors += r.errors;
        if let (Some(a), Some(b)) = (total_r.latency.as_mut(), r.latency.as_ref()) {
            let _ = a.add(b);
        }
        if let (Some(a), Some(b)) = (total_r.ttfb.as_mut(), r.ttfb.as_ref()) {
            let _ = a.add(b);
        }
    }
    total_r.elapsed = started.elapsed();
    total_r
}

async fn knobs(http: &reqwest::Client, mock_url: &str, provider: &str, knobs: Value) {
    let _ = http
        .patch(format!("{mock_url}/_mock/providers/{provider}"))
        .json(&knobs)
        .send()
        .await;
}

/// One slow stream: opened, held until `release`, then dropped (the client hangs up).
/// True if it answered 200 and its first chunk arrived.
async fn slow_stream(
    http: reqwest::Client,
    url: String,
    i: usize,
    opened: Arc<std::sync::atomic::AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
) -> bool {
    let body = SLOW_STREAM_BODY.replace("#N#", &format!("slow {i}"));
    let resp = http
        .post(&url)
        .bearer_auth(GATEWAY_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match resp {
        Ok(mut r) if r.status().is_success() => {
            let first = r.chunk().await;
            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            release.notified().await;
            first.is_ok_and(|c| c.is_some())
        }
        _ => {
            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }
}

/// Waits (polling, bounded) until `n` streams have opened or failed.
async fn until_opened(opened: &std::sync::atomic::AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while opened.load(std::sync::atomic::Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`SLOW_STREAMS`] streams held open at once, opened `wave` at a time (each wave
/// waits for its first chunks): RSS once all are open, after [`HOLD`] more (the
/// gateway hands freed heap back every 10 s), and [`HOLD`] after every client hung up.
async fn slow_streams(s: &Setup, http: &reqwest::Client, wave: usize) -> Value {
    let url = format!("{}/v1/chat/completions", s.gateway_url);
    let started = Instant::now();
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::with_capacity(SLOW_STREAMS);
    for i in 0..SLOW_STREAMS {
        let task = slow_stream(
            http.clone(),
            url.clone(),
            i,
            opened.clone(),
            release.clone(),
        );
        tasks.push(tokio::spawn(task));
        if (i + 1) % wave == 0 {
            until_opened(&opened, i + 1).await;
        }
    }
    until_opened(&opened, SLOW_STREAMS).await;
    let open_time = started.elapsed();
    let (rss_open, _) = rss_mib(s.gateway.pid());
    tokio::time::sleep(HOLD).await;
    let (rss_held, _) = rss_mib(s.gateway.pid());
    release.notify_waiters();
    let mut ok = 0usize;
    for t in tasks {
        if t.await.unwrap_or(false) {
            ok += 1;
        }
    }
    tokio::time::sleep(HOLD).await;
    let (rss_closed, _) = rss_mib(s.gateway.pid());
    json!({
        "streams": SLOW_STREAMS,
        "opened_per_wave": wave,
        "ok": ok,
        "errors": SLOW_STREAMS - ok,
        "open_seconds": open_time.as_secs_f64(),
        "gateway_rss_mib": rss_open,
        "gateway_rss_held_mib": rss_held,
        "gateway_rss_after_hang_up_mib": rss_closed,
    })
}

fn main() {
    // 10,000 client streams need 10,000 sockets here and twice that in the gateway.
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, 65_536, 65_536);
    let _ = rlimit::increase_nofile_limit(65_536);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let s = setup().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = rss_mib(s.gateway.pid());
    let direct_url = format!("{}/openai/v1/chat/completions", s.mock_url);
    let gw_url = format!("{}/v1/chat/completions", s.gateway_url);
    let mut rows = Vec::new();
    let use_wrk = Command::new("wrk").arg("--version").output().is_ok();
    let direct_script = wrk_script(s._dir.path(), "direct.lua", "sk-bench", BODY);
    let gw_script = wrk_script(s._dir.path(), "gateway.lua", GATEWAY_KEY, BODY);
    println!(
        "\nSwitchyard end-to-end overhead (gateway vs direct to the simulated provider; load from {})\n",
        if use_wrk {
            "wrk"
        } else {
            "the built-in generator"
        }
    );
    println!(
        "{:>5} {:>10} {:>10} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "conc",
        "direct/s",
        "gw/s",
        "ratio",
        "d p50ms",
        "gw p50ms",
        "d p99ms",
        "gw p99ms",
        "+p50 ms",
        "+p99 ms",
        "cpu/req"
    );
    // `E2E_SECTIONS=load,stream,slow` (default all) runs a subset, for quick iterations.
    let sections =
        std::env::var("E2E_SECTIONS").unwrap_or_else(|_| "load,stream,slow,cluster".to_owned());
    let levels: &[usize] = if sections.contains("load") {
        &[1, 16, 64, 256]
    } else {
        &[]
    };
    for &c in levels {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(c)
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let total = if c == 1 { REQUESTS_C1 } else { REQUESTS };
        let mut ratio_rounds: Vec<f64> = Vec::new();
        // Warm both paths (connections, scheduler data).
        run(&http, &direct_url, "sk-bench", BODY, c, c * 20, false).await;
        run(&http, &gw_url, GATEWAY_KEY, BODY, c, c * 20, false).await;
        let (direct, gw, cpu_per_req_us) = if use_wrk {
            // Alternating rounds, the row being the round with the median ratio: on a
            // shared machine a neighbour's burst during one run would otherwise decide
            // the ratio.
            let secs = if c == 1 { 2 } else { 3 };
            let as_result = |(rps, p50, p99, n, e): (f64, f64, f64, u64, u64)| WrkResult {
                rps,
                p50,
                p99,
                requests: n,
                errors: e,
            };
            let mut rounds = Vec::with_capacity(WRK_ROUNDS);
            let (mut cpu, mut gw_requests) = (Duration::ZERO, 0u64);
            for _ in 0..WRK_ROUNDS {
                let d = wrk(&direct_url, &direct_script, c, secs);
                let cpu0 = cpu_time(s.gateway.pid());
                let g = wrk(&gw_url, &gw_script, c, secs);
                cpu += cpu_time(s.gateway.pid()) - cpu0;
                if let (Some(d), Some(g)) = (d, g) {
                    let (d, g) = (as_result(d), as_result(g));
                    gw_requests += g.requests;
                    rounds.push((d, g));
                }
            }
            if rounds.is_empty() {
                println!("wrk failed at concurrency {c}");
                continue;
            }
            rounds.sort_by(|a, b| (a.1.rps / a.0.rps).total_cmp(&(b.1.rps / b.0.rps)));
            ratio_rounds = rounds.iter().map(|(d, g)| g.rps / d.rps).collect();
            let per = cpu.as_secs_f64() * 1e6 / gw_requests.max(1) as f64;
            let (d, g) = rounds.swap_remove(rounds.len() / 2);
            (d, g, per)
        } else {
            let direct = run(&http, &direct_url, "sk-bench", BODY, c, total, false).await;
            let cpu0 = cpu_time(s.gateway.pid());
            let gw = run(&http, &gw_url, GATEWAY_KEY, BODY, c, total, false).await;
            let cpu = cpu_time(s.gateway.pid()) - cpu0;
            let per = cpu.as_secs_f64() * 1e6 / gw.requests.max(1) as f64;
            (WrkResult::from(&direct), WrkResult::from(&gw), per)
        };
        println!(
            "{:>5} {:>10.0} {:>10.0} {:>6.2} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>10.3} {:>10.3} {:>6.1}µs",
            c,
            direct.rps(),
            gw.rps(),
            gw.rps() / direct.rps(),
            direct.q(0.5),
            gw.q(0.5),
            direct.q(0.99),
            gw.q(0.99),
            gw.q(0.5) - direct.q(0.5),
            gw.q(0.99) - direct.q(0.99),
            cpu_per_req_us
        );
        if ratio_rounds.len() > 1 {
            let r: Vec<String> = ratio_rounds.iter().map(|r| format!("{r:.2}")).collect();
            println!("{:>5} ratio per round: {}", "", r.join(" "));
        }
        rows.push(json!({
            "concurrency": c,
            "direct_rps": direct.rps(), "gateway_rps": gw.rps(), "ratio": gw.rps() / direct.rps(),
            "direct_p50_ms": direct.q(0.5), "gateway_p50_ms": gw.q(0.5),
            "direct_p99_ms": direct.q(0.99), "gateway_p99_ms": gw.q(0.99),
            "added_p50_ms": gw.q(0.5) - direct.q(0.5), "added_p99_ms": gw.q(0.99) - direct.q(0.99),
            "gateway_cpu_us_per_request": cpu_per_req_us,
            "ratio_rounds": ratio_rounds,
            "errors": direct.errors + gw.errors,
        }));
    }
    let mut streams = Vec::new();
    println!("\nstreaming (20-token answers, one token per event)");
    println!(
        "{:>5} {:>11} {:>11} {:>10} {:>11} {:>11}",
        "conc", "d ttfb p50", "gw ttfb p50", "+ttfb ms", "d full p50", "gw full p50"
    );
    let levels: &[usize] = if sections.contains("stream") {
        &[1, 16]
    } else {
        &[]
    };
    for &c in levels {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(c)
            .build()
            .expect("client");
        run(&http, &gw_url, GATEWAY_KEY, STREAM_BODY, c, c * 20, true).await;
        let direct_stream_body: &'static str = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there, request #N#"}]}"#;
        let direct = run(
            &http,
            &direct_url,
            "sk-bench",
            direct_stream_body,
            c,
            2_000,
            true,
        )
        .await;
        let gw = run(&http, &gw_url, GATEWAY_KEY, STREAM_BODY, c, 2_000, true).await;
        println!(
            "{:>5} {:>11.3} {:>11.3} {:>10.3} {:>11.3} {:>11.3}",
            c,
            direct.ttfb_q(0.5),
            gw.ttfb_q(0.5),
            gw.ttfb_q(0.5) - direct.ttfb_q(0.5),
            direct.q(0.5),
            gw.q(0.5)
        );
        streams.push(json!({
            "concurrency": c,
            "direct_ttfb_p50_ms": direct.ttfb_q(0.5), "gateway_ttfb_p50_ms": gw.ttfb_q(0.5),
            "added_ttfb_p50_ms": gw.ttfb_q(0.5) - direct.ttfb_q(0.5),
            "direct_full_p50_ms": direct.q(0.5), "gateway_full_p50_ms": gw.q(0.5),
            "errors": direct.errors + gw.errors,
        }));
    }
    let (_, peak_rss) = rss_mib(s.gateway.pid());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let cluster = if sections.contains("cluster") {
        cluster_overhead(&s).await
    } else {
        Value::Null
    };
    let slow = if sections.contains("slow") {
        knobs(
            &http,
            &s.mock_url,
            "openai",
            json!({"token_delay_ms": 1000}),
        )
        .await;
        let at_once = slow_streams(&s, &http, SLOW_STREAMS).await;
        let in_waves = slow_streams(&s, &http, SLOW_WAVE).await;
        knobs(&http, &s.mock_url, "openai", json!({"token_delay_ms": 0})).await;
        json!({"at_once": at_once, "in_waves": in_waves})
    } else {
        Value::Null
    };
    println!("\nidle RSS {idle_rss:.1} MiB, peak RSS through the load runs {peak_rss:.1} MiB");
    for (name, r) in [
        ("at once", &slow["at_once"]),
        ("in waves of 500", &slow["in_waves"]),
    ] {
        if r.is_null() {
            continue;
        }
        println!(
            "10,000 slow streams opened {name}: {} ok, {} errors, open in {:.1} s; gateway RSS {:.1} MiB open, {:.1} MiB {}s later, {:.1} MiB {}s after the clients hung up",
            r["ok"],
            r["errors"],
            r["open_seconds"].as_f64().unwrap_or(0.0),
            r["gateway_rss_mib"].as_f64().unwrap_or(0.0),
            r["gateway_rss_held_mib"].as_f64().unwrap_or(0.0),
            HOLD.as_secs(),
            r["gateway_rss_after_hang_up_mib"].as_f64().unwrap_or(0.0),
            HOLD.as_secs(),
        );
    }
    let report = json!({
        "date_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "machine": { "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()) },
        "non_stream": rows,
        "stream": streams,
        "idle_rss_mib": idle_rss,
        "peak_rss_mib": peak_rss,
        "slow_streams": slow,
        "cluster": cluster,
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e_overhead.json");
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    println!("\nwritten to {}", path.display());
}

/// The cost of `[cluster]`: a second gateway with the same configuration plus a
/// `[cluster]` section on the machine's Redis (`E2E_REDIS_URL`, default
/// `redis://127.0.0.1:6379`), so that every admission of the demo's rate-limited keys
/// takes the shared bucket's round trip; alternating wrk rounds against both at c=1
/// and c=64, the row being the round with the median throughput ratio.
async fn cluster_overhead(s: &Setup) -> Value {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("\ncluster: skipped (needs wrk)");
        return Value::Null;
    }
    let redis =
        std::env::var("E2E_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let dir = s._dir.path();
    let config = format!(
        "{}\n[cluster]\nredis_url = \"{redis}\"\nkey_prefix = \"sy-bench-{}\"\n",
        s.config.replace("usage.db", "usage-cluster.db"),
        std::process::id()
    );
    let path = dir.join("bench-cluster.toml");
    std::fs::write(&path, config).expect("config");
    let (cluster_gw, cluster_url) = spawn_gateway(&path, dir, "gateway-cluster").await;
    let script = wrk_script(dir, "cluster.lua", GATEWAY_KEY, BODY);
    let embedded = format!("{}/v1/chat/completions", s.gateway_url);
    let clustered = format!("{cluster_url}/v1/chat/completions");
    println!("\n[cluster] on the same machine's Redis, against the same gateway without it");
    println!(
        "{:>5} {:>10} {:>10} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "conc",
        "single/s",
        "cluster/s",
        "ratio",
        "s p50ms",
        "c p50ms",
        "s p99ms",
        "c p99ms",
        "s cpu",
        "c cpu"
    );
    let mut rows = Vec::new();
    for c in [1usize, 64] {
        let secs = if c == 1 { 2 } else { 3 };
        let _ = wrk(&embedded, &script, c, 1);
        let _ = wrk(&clustered, &script, c, 1);
        let mut rounds = Vec::new();
        for _ in 0..WRK_ROUNDS {
            let cpu0 = cpu_time(s.gateway.pid());
            let a = wrk(&embedded, &script, c, secs);
            let cpu_a = cpu_time(s.gateway.pid()) - cpu0;
            let cpu0 = cpu_time(cluster_gw.pid());
            let b = wrk(&clustered, &script, c, secs);
            let cpu_b = cpu_time(cluster_gw.pid()) - cpu0;
            if let (Some(a), Some(b)) = (a, b) {
                let per = |cpu: Duration, n: u64| cpu.as_secs_f64() * 1e6 / n.max(1) as f64;
                rounds.push((a, b, per(cpu_a, a.3), per(cpu_b, b.3)));
            }
        }
        if rounds.is_empty() {
            println!("wrk failed at concurrency {c}");
            continue;
        }
        rounds.sort_by(|x, y| (x.1.0 / x.0.0).total_cmp(&(y.1.0 / y.0.0)));
        let (a, b, cpu_a, cpu_b) = rounds.swap_remove(rounds.len() / 2);
        println!(
            "{:>5} {:>10.0} {:>10.0} {:>6.2} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>7.1}µs {:>7.1}µs",
            c,
            a.0,
            b.0,
            b.0 / a.0,
            a.1,
            b.1,
            a.2,
            b.2,
            cpu_a,
            cpu_b
        );
        rows.push(json!({
            "concurrency": c,
            "single_rps": a.0, "cluster_rps": b.0, "ratio": b.0 / a.0,
            "single_p50_ms": a.1, "cluster_p50_ms": b.1, "added_p50_ms": b.1 - a.1,
            "single_p99_ms": a.2, "cluster_p99_ms": b.2, "added_p99_ms": b.2 - a.2,
            "single_cpu_us_per_request": cpu_a, "cluster_cpu_us_per_request": cpu_b,
            "errors": a.4 + b.4,
        }));
    }
    Value::Array(rows)
}
