//! The ledger's durability, against the real binary: SIGKILL under load loses at most
//! the records of the last batch window and nothing the ledger already acknowledged;
//! SIGTERM loses nothing. Admin-created keys survive a restart.
//!
//! The gateway runs as `switchyard serve` in a child process; the simulated providers
//! run in this test, so their request counts are the ground truth.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::mock::{MockServer, MockState};
use tokio::sync::Mutex;

const ADMIN: &str = "test-admin-token";
const KEY: &str = "sk-crash-test";
/// The batch window configured below.
const FLUSH_MS: u64 = 100;
/// Slack on top of the batch window for committing the batch on a busy machine: a
/// request that ended longer than window + slack before the kill must be on disk.
const COMMIT_SLACK: Duration = Duration::from_secs(2);
/// Concurrent clients generating load.
const CLIENTS: usize = 8;
/// Upper bound on start-up and shutdown of the child.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

fn write_config(dir: &Path, mock_host: &str) -> std::path::PathBuf {
    let db = dir.join("usage.db");
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

[providers.openai]
kind = "openai"
base_url = "http://{mock_host}/openai/v1"
keys = [{{ env = "SWITCHYARD_CRASH_TEST_PROVIDER_KEY" }}]

[[models]]
name = "gpt-4o-mini"
provider = "openai"
input_per_mtok_usd = 0.15
output_per_mtok_usd = 0.60
context_window = 128000

[health]
heartbeat_interval_ms = 600000

[[keys]]
id = "load"
key = {{ value = "{KEY}" }}
tenant = "load"

[usage]
database = "{db}"
flush_interval_ms = {FLUSH_MS}
"#,
        db = db.display().to_string().replace('\\', "/"),
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A gateway child process and its URL.
struct Gateway {
    child: Child,
    url: String,
}

fn spawn_gateway(config: &Path) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .env("SWITCHYARD_CRASH_TEST_PROVIDER_KEY", "sk-mock")
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
    Gateway {
        child,
        url: format!("http://{addr}"),
    }
}

/// Request ids answered 200, with when the answer arrived.
type Answered = Arc<Mutex<Vec<(String, Instant)>>>;

/// Starts `CLIENTS` loops sending chat requests with unique request ids until `stop`.
fn start_load(
    client: &reqwest::Client,
    url: &str,
    stop: &Arc<AtomicBool>,
    answered: &Answered,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|c| {
            let (client, url, stop, answered) =
                (client.clone(), url.to_owned(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let id = format!("load-{c}-{i}");
                    let resp = client
                        .post(format!("{url}/v1/chat/completions"))
                        .bearer_auth(KEY)
                        .header("x-request-id", &id)
                        // Distinct prompts: identical ones would be coalesced into one
                        // provider call, and the test counts provider calls.
                        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("hi {id}")}]}))
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 200 => {
                            if r.bytes().await.is_ok() {
                                answered.lock().await.push((id, Instant::now()));
                            }
                        }
                        // The gateway is gone (killed or stopping).
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect()
}

/// Every record's request id, paging through `/v1/usage/records`.
async fn recorded_ids(client: &reqwest::Client, url: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = 0i64;
    loop {
        let page: Value = client
            .get(format!("{url}/v1/usage/records?limit=1000&after={after}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("records reachable")
            .json()
            .await
            .expect("records are JSON");
        for r in page["data"].as_array().expect("data") {
            ids.push(r["request_id"].as_str().expect("request_id").to_owned());
        }
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => return ids,
        }
    }
}

async fn wait_for_answers(answered: &Answered, n: usize) {
    let deadline = Instant::now() + CHILD_DEADLINE;
    while answered.lock().await.len() < n {
        assert!(Instant::now() < deadline, "load made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("wait task")
        .expect("child exits")
}

#[actix_web::test]
async fn sigkill_under_load_keeps_every_acknowledged_record() {
    let mock = MockServer::start("127.0.0.1:0", MockState::default_set())
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &mock.host());
    let gw = spawn_gateway(&config);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let answered: Answered = Arc::default();
    let load = start_load(&client, &gw.url, &stop, &answered);

    wait_for_answers(&answered, 300).await;
    // What the ledger has acknowledged (committed, readable) while load goes on.
    let acknowledged = recorded_ids(&client, &gw.url).await;
    // Keep the load on until answers older than the crash window exist, so the kill
    // tests both sides of the window.
    let window = Duration::from_millis(FLUSH_MS) + COMMIT_SLACK;
    let first = answered.lock().await[0].1;
    let deadline = Instant::now() + CHILD_DEADLINE;
    while first.elapsed() < window + Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "load stalled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut child = gw.child;
    let killed_at = Instant::now();
    child.kill().expect("SIGKILL sent");
    wait_exit(child).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load task");
    }

    let gw = spawn_gateway(&config);
    let recorded = recorded_ids(&client, &gw.url).await;
    let recorded_set: HashSet<&String> = recorded.iter().collect();
    assert_eq!(
        recorded.len(),
        recorded_set.len(),
        "a request was counted twice"
    );
    for id in &acknowledged {
        assert!(recorded_set.contains(id), "acknowledged record {id} lost");
    }
    let answered = answered.lock().await;
    let mut recent = 0;
    let mut old = 0;
    for (id, at) in answered.iter() {
        if killed_at.duration_since(*at) > window {
            assert!(
                recorded_set.contains(id),
                "{id} ended {:?} before the kill and was lost",
                killed_at.duration_since(*at)
            );
            old += 1;
        } else {
            recent += 1;
        }
    }
    let upstream = mock.state.providers["openai"]
        .counters
        .requests
        .load(Ordering::Relaxed);
    let recorded_n = recorded.len() as u64;
    assert!(
        old > 0,
        "no answer older than the window: the test proved nothing"
    );
    assert!(
        recorded_n <= upstream,
        "{recorded_n} records for {upstream} provider calls"
    );
    let lost = upstream - recorded_n;
    // Lost: only requests that ended inside the window, or were in flight at the kill.
    assert!(
        lost <= (recent + CLIENTS) as u64,
        "{lost} of {upstream} lost; only {recent} ended within {window:?} of the kill"
    );
    eprintln!(
        "SIGKILL: {upstream} provider calls, {recorded_n} recorded, {lost} lost ({recent} answered within {window:?} of the kill, {old} before it, {} acknowledged before)",
        acknowledged.len()
    );
    let mut child = gw.child;
    child.kill().expect("stopped");
    wait_exit(child).await;
    mock.stop().await;
}

#[actix_web::test]
async fn sigterm_under_load_loses_nothing_and_keys_survive_restart() {
    let mock = MockServer::start("127.0.0.1:0", MockState::default_set())
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &mock.host());
    let gw = spawn_gateway(&config);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let created: Value = client
        .post(format!("{}/admin/keys", gw.url))
        .bearer_auth(ADMIN)
        .json(&json!({"tenant": "later", "id": "survivor"}))
        .send()
        .await
        .expect("admin reachable")
        .json()
        .await
        .expect("JSON");
    let new_key = created["key"].as_str().expect("key").to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let answered: Answered = Arc::default();
    let load = start_load(&client, &gw.url, &stop, &answered);
    wait_for_answers(&answered, 300).await;
    let pid = gw.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = wait_exit(gw.child).await;
    assert!(exit.success(), "graceful exit: {exit:?}");
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load task");
    }

    let gw = spawn_gateway(&config);
    let recorded = recorded_ids(&client, &gw.url).await;
    let recorded_set: HashSet<&String> = recorded.iter().collect();
    assert_eq!(
        recorded.len(),
        recorded_set.len(),
        "a request was counted twice"
    );
    let upstream = mock.state.providers["openai"]
        .counters
        .requests
        .load(Ordering::Relaxed);
    assert_eq!(
        recorded.len() as u64,
        upstream,
        "every provider call is recorded"
    );
    for (id, _) in answered.lock().await.iter() {
        assert!(recorded_set.contains(id), "{id} answered but not recorded");
    }
    eprintln!(
        "SIGTERM: {upstream} provider calls, {} recorded",
        recorded.len()
    );

    // The admin-created key works after the restart.
    let resp = client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(&new_key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "still here?"}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let mut child = gw.child;
    child.kill().expect("stopped");
    wait_exit(child).await;
    mock.stop().await;
}
