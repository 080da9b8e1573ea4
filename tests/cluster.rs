//! Scale-out against a real Redis: replicas as real `switchyard serve` processes with a
//! `[cluster]` section, sharing one simulated provider that runs in this test (its
//! arrival log is the ground truth).
//!
//! Redis comes from `SWITCHYARD_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`);
//! every test uses a key prefix of its own, so tests run in parallel on one server.
//! The outage test puts a TCP relay of its own between the replica and Redis and cuts
//! it, so the shared server keeps serving the other tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::mock::{Format, MockServer, MockState};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const ADMIN: &str = "cluster-admin-token";
const KEY: &str = "sk-cluster-test";
/// Start-up of a child, generously.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);
/// The provider key's limit the replicas share.
const RPM: u64 = 600;

fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test (or run) uses.
fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("sy-test-{test}-{}-{nanos}", std::process::id())
}

fn write_config(dir: &Path, n: usize, mock_host: &str, redis: &str, prefix: &str) -> PathBuf {
    let db = dir.join(format!("usage-{n}.db"));
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2

[admin]
token = {{ value = "{ADMIN}" }}

[dispatch]
max_attempts = 1
retry_delay_ms = 0

[providers.limited]
kind = "openai"
base_url = "http://{mock_host}/limited/v1"
keys = [{{ env = "SWITCHYARD_CLUSTER_TEST_PROVIDER_KEY" }}]
rpm = {RPM}
max_queue_ms = 2000

[[models]]
name = "limited-model"
provider = "limited"
input_per_mtok_usd = 0.15
output_per_mtok_usd = 0.60
context_window = 128000

[health]
heartbeat_interval_ms = 600000

[cache]
enabled = false

[[keys]]
id = "load"
key = {{ value = "{KEY}" }}
tenant = "load"

[usage]
database = "{db}"

[cluster]
redis_url = "{redis}"
replica_id = "replica-{n}"
key_prefix = "{prefix}"
expected_replicas = 3
"#,
        db = db.display().to_string().replace('\\', "/"),
    );
    let path = dir.join(format!("replica-{n}.toml"));
    std::fs::write(&path, text).expect("config written");
    path
}

/// A replica child process and its URL; killed when dropped.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_replica(config: &Path) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .env("SWITCHYARD_CLUSTER_TEST_PROVIDER_KEY", "sk-mock")
        .env("SWITCHYARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway binary starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the log to the end, so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(t) = &tx
                && let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "switchyard listening"
                && let Some(addr) = v["fields"]["addr"].as_str()
            {
                let _ = t.send(addr.to_owned());
                tx = None;
            }
        }
    });
    let addr = rx
        .recv_timeout(CHILD_DEADLINE)
        .expect("gateway logs its address");
    Replica {
        child,
        url: format!("http://{addr}"),
    }
}

async fn start_mock() -> MockServer {
    MockServer::start(
        "127.0.0.1:0",
        MockState::new(&[("limited", Format::OpenAi)]),
    )
    .await
    .expect("the mock starts")
}

/// The provider's arrival times in milliseconds since the mock started.
async fn arrivals(client: &reqwest::Client, mock: &MockServer) -> Vec<u64> {
    let v: Value = client
        .get(format!("http://{}/_mock", mock.host()))
        .send()
        .await
        .expect("mock answers")
        .json()
        .await
        .expect("mock JSON");
    v["providers"]["limited"]["arrivals_ms"]
        .as_array()
        .expect("arrivals_ms")
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

/// The most arrivals in any window of `window_ms` (each window starting at an arrival).
fn max_in_window(times: &[u64], window_ms: u64) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    let mut j = 0;
    for i in 0..sorted.len() {
        while j < sorted.len() && sorted[j] < sorted[i] + window_ms {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

async fn chat(client: &reqwest::Client, url: &str, n: u64) -> u16 {
    let body = json!({
        "model": "limited-model",
        "messages": [{"role": "user", "content": format!("request {n}")}],
    });
    match client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn admin_cluster(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(format!("{url}/admin/cluster"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("replica answers")
        .json()
        .await
        .expect("cluster JSON")
}

/// Open-loop load: `per_sec` requests a second for `secs`, round-robin over `urls`.
/// Returns the count of each status (0: no answer).
async fn load(urls: &[String], per_sec: u64, secs: u64) -> std::collections::BTreeMap<u16, u64> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let interval = Duration::from_micros(1_000_000 / per_sec);
    let start = tokio::time::Instant::now();
    for k in 0..per_sec * secs {
        tokio::time::sleep_until(start + interval * k as u32).await;
        let url = urls[k as usize % urls.len()].clone();
        let client = client.clone();
        let n = seq.fetch_add(1, Ordering::Relaxed);
        tasks.push(tokio::spawn(async move { chat(&client, &url, n).await }));
    }
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap_or(0)).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_hold_one_providers_rpm_together() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = prefix("rpm");
    let replicas: Vec<Replica> = (1..=3)
        .map(|n| {
            spawn_replica(&write_config(
                dir.path(),
                n,
                &mock.host(),
                &redis_url(),
                &prefix,
            ))
        })
        .collect();
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    // 3× the limit for 90 s: 30 requests a second against 600 a minute.
    let counts = load(&urls, 3 * RPM / 60, 90).await;
    let client = reqwest::Client::new();
    let times = arrivals(&client, &mock).await;
    let most = max_in_window(&times, 60_000);
    eprintln!("most in a 60 s window: {most}; statuses {counts:?}");
    assert!(
        most <= RPM as usize,
        "the provider saw {most} requests in one 60 s window (limit {RPM}); statuses {counts:?}"
    );
    assert!(
        most >= (RPM * 95 / 100) as usize,
        "the limit was held but not used: at most {most} in a 60 s window; statuses {counts:?}"
    );
    // What the provider could not take was refused by the gateway, not by the provider,
    // and nothing failed otherwise.
    for status in counts.keys() {
        assert!(
            matches!(status, 200 | 429),
            "unexpected status {status}: {counts:?}"
        );
    }
    assert_eq!(
        counts.get(&200).copied().unwrap_or(0) as usize,
        times.len(),
        "every answered request reached the provider once"
    );
    // Every replica lists all three.
    let view = admin_cluster(&client, &urls[0]).await;
    assert_eq!(view["mode"], "cluster", "{view}");
    assert_eq!(view["engines"]["redis"]["up"], true, "{view}");
    let ids: Vec<&str> = view["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .filter_map(|r| r["replica_id"].as_str())
        .collect();
    assert_eq!(ids, ["replica-1", "replica-2", "replica-3"], "{view}");
}

/// A TCP relay to Redis that the test can cut and restore.
struct Relay {
    addr: String,
    open: Arc<AtomicBool>,
}

async fn start_relay(target: String) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
    let addr = listener.local_addr().expect("relay addr").to_string();
    let open = Arc::new(AtomicBool::new(true));
    let gate = open.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !gate.load(Ordering::Relaxed) {
                let _ = inbound.shutdown().await;
                continue;
            }
            let target = target.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let (mut ri, mut wi) = inbound.split();
                let (mut ro, mut wo) = outbound.split();
                let cut = async {
                    while gate.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy(&mut ri, &mut wo) => {}
                    _ = tokio::io::copy(&mut ro, &mut wi) => {}
                    () = cut => {}
                }
            });
        }
    });
    Relay { addr, open }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_redis_serves_on_its_share_and_rejoins() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let target = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = start_relay(target).await;
    let url = format!("redis://{}", relay.addr);
    let replica = spawn_replica(&write_config(
        dir.path(),
        1,
        &mock.host(),
        &url,
        &prefix("cut"),
    ));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin_cluster(&client, &replica.url).await["engines"]["redis"]["up"] != true {
        assert!(Instant::now() < deadline, "the replica never reached redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Redis unreachable for 10 s, under load: every request is answered (200, or 429
    // past this replica's share of the limit), none fails or hangs.
    relay.open.store(false, Ordering::Relaxed);
    let counts = load(std::slice::from_ref(&replica.url), 30, 10).await;
    for status in counts.keys() {
        assert!(
            matches!(status, 200 | 429),
            "unexpected status {status}: {counts:?}"
        );
    }
    let view = admin_cluster(&client, &replica.url).await;
    assert_eq!(view["engines"]["redis"]["up"], false, "{view}");
    // The local share: 600 / 3 replicas = 200 a minute, in a bucket that starts full
    // and refills 3.3 a second: ~233 of the 300 offered, with slack for a slow load.
    let sent = arrivals(&client, &mock).await.len();
    assert!(
        sent <= (RPM / 3) as usize + 55,
        "cut off from redis, the replica sent {sent} requests in 10 s: more than its share"
    );
    assert!(sent > 0, "the replica stopped serving: {counts:?}");

    // Back: the replica rejoins by itself.
    relay.open.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin_cluster(&client, &replica.url).await["engines"]["redis"]["up"] != true {
        assert!(Instant::now() < deadline, "the replica never rejoined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(chat(&client, &replica.url, 1_000_000).await, 200);
}

#[actix_web::test]
async fn without_a_cluster_section_the_gateway_is_embedded() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), 1, &mock.host(), "redis://x", "p");
    let text = std::fs::read_to_string(&path).expect("config");
    let embedded = text.split("[cluster]").next().expect("head").to_owned();
    std::fs::write(&path, embedded).expect("config written");
    let replica = spawn_replica(&path);
    let view = admin_cluster(&reqwest::Client::new(), &replica.url).await;
    assert_eq!(view["mode"], "embedded", "{view}");
    assert_eq!(view["replicas"], json!([]), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weights_change_on_one_replica_reaches_the_others() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let replicas = two_replicas(dir.path(), &mock, "weights").await;
    let client = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let put = client
        .put(format!("{}/admin/weights", replicas[0].url))
        .bearer_auth(ADMIN)
        .json(&json!({"price": 0.9, "latency": 0.1}))
        .send()
        .await
        .expect("replica 1 answers");
    assert_eq!(put.status(), 200);
    let changed = Instant::now();
    let deadline = changed + Duration::from_secs(5);
    loop {
        let w: Value = client
            .get(format!("{}/admin/weights", replicas[1].url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("replica 2 answers")
            .json()
            .await
            .expect("weights JSON");
        if w["global"]["price"] == 0.9 && w["global"]["latency"] == 0.1 {
            break;
        }
        assert!(Instant::now() < deadline, "replica 2 kept its weights: {w}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("weights reached replica 2 in {:?}", changed.elapsed());
}

/// Two replicas under the test's own key prefix, started and subscribed: each lists
/// the other in `/admin/cluster`.
async fn two_replicas(dir: &Path, mock: &MockServer, test: &str) -> Vec<Replica> {
    let prefix = prefix(test);
    let replicas: Vec<Replica> = (1..=2)
        .map(|n| spawn_replica(&write_config(dir, n, &mock.host(), &redis_url(), &prefix)))
        .collect();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin_cluster(&client, &replicas[1].url).await["replicas"]
        .as_array()
        .map_or(0, Vec::len)
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the replicas never saw each other"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replicas
}

/// Sets knobs of the simulated `limited` provider.
async fn mock_patch(client: &reqwest::Client, mock: &MockServer, knobs: Value) {
    let resp = client
        .patch(format!("http://{}/_mock/providers/limited", mock.host()))
        .json(&knobs)
        .send()
        .await
        .expect("mock answers");
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_asks_one_replica_to_wait_gets_no_traffic_from_the_others() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let replicas = two_replicas(dir.path(), &mock, "backoff").await;
    let client = reqwest::Client::new();
    // Both answer normally first.
    for (i, r) in replicas.iter().enumerate() {
        assert_eq!(chat(&client, &r.url, i as u64).await, 200);
    }
    let before = arrivals(&client, &mock).await.len();

    // The provider tells replica 1 to wait 20 s.
    mock_patch(
        &client,
        &mock,
        json!({"rate_limit_rate": 1.0, "retry_after_s": 20}),
    )
    .await;
    assert_eq!(chat(&client, &replicas[0].url, 10).await, 429);
    assert_eq!(arrivals(&client, &mock).await.len(), before + 1);
    mock_patch(&client, &mock, json!({"rate_limit_rate": 0.0})).await;

    // Replica 2 heard it (published within milliseconds; 2 s is a generous bound) and
    // does not send: its client gets 429 with the provider's wait, the provider nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resp = client
        .post(format!("{}/v1/chat/completions", replicas[1].url))
        .bearer_auth(KEY)
        .json(&json!({
            "model": "limited-model",
            "messages": [{"role": "user", "content": "after the 429"}],
        }))
        .send()
        .await
        .expect("replica 2 answers");
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(
        (10..=20).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(
        arrivals(&client, &mock).await.len(),
        before + 1,
        "replica 2 sent to a provider that had asked the cluster to wait"
    );
}
