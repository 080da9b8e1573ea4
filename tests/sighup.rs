//! SIGHUP reloads the whole config of a running `switchyard` process like `POST
//! /admin/reload`: a valid change applies (the weights move), an invalid file or a
//! change that needs a restart leaves everything as it was and says why in the log, and
//! the process keeps serving throughout.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

const ADMIN: &str = "switchyard-admin-demo";
/// Upper bound for start-up and for a reload to show; both normally take milliseconds.
const WITHIN: Duration = Duration::from_secs(30);

/// A `switchyard demo --config` child, with its log lines as they arrive.
struct Demo {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn demo_with(weights: &str, db: &Path) -> String {
    let text = include_str!("../config/demo.toml");
    let text = text.replace(
        "weights = { price = 0.5, latency = 0.5, errors = 1.0 }\nexploration",
        &format!("weights = {weights}\nexploration"),
    );
    assert!(
        text.contains(weights),
        "the demo config's [scheduler] weights line moved"
    );
    format!(
        "{text}\n[usage]\ndatabase = \"{}\"\n",
        db.display().to_string().replace('\\', "/")
    )
}

fn spawn(config: &Path) -> Demo {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--log-format", "json", "demo", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--config")
        .arg(config)
        .env("SWITCHYARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchyard starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            kept.lock().expect("log lock").push(line);
        }
    });
    Demo {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    }
}

fn hup(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

async fn global_price(client: &reqwest::Client, url: &str) -> Option<f64> {
    let resp = client
        .get(format!("{url}/admin/weights"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    body["global"]["price"].as_f64()
}

/// Waits until `cond` holds, up to [`WITHIN`].
async fn until<F: FnMut() -> Fut, Fut: Future<Output = bool>>(what: &str, mut cond: F) {
    let start = std::time::Instant::now();
    while !cond().await {
        assert!(start.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The JSON log lines whose message contains `text`.
fn logged(log: &Mutex<Vec<String>>, text: &str) -> Vec<Value> {
    log.lock()
        .expect("log lock")
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(text))
        })
        .collect()
}

#[actix_web::test]
async fn sighup_reloads_the_config_file_with_the_admin_reloads_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("usage.db");
    let config = dir.path().join("demo.toml");
    let before = "{ price = 0.5, latency = 0.5, errors = 1.0 }";
    std::fs::write(&config, demo_with(before, &db)).expect("config written");
    let gw = spawn(&config);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    until("the gateway answers", || async {
        global_price(&client, &gw.url).await.is_some()
    })
    .await;
    assert_eq!(global_price(&client, &gw.url).await, Some(0.5));
    // The start-up summary says what runs and where the ledger is (the log is written
    // by a flusher thread: wait for the line rather than race it).
    until("the start-up summary is logged", || async {
        !logged(&gw.log, "usage ledger: ").is_empty()
    })
    .await;
    let ledger = logged(&gw.log, "usage ledger: ");
    assert!(
        ledger[0]["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&db.display().to_string())),
        "{ledger:?}"
    );
    assert_eq!(logged(&gw.log, "providers enabled: ").len(), 1);

    // A valid change applies.
    let after = "{ price = 0.9, latency = 0.1, errors = 1.0 }";
    std::fs::write(&config, demo_with(after, &db)).expect("config written");
    hup(&gw.child);
    until("the new weights are live", || async {
        global_price(&client, &gw.url).await == Some(0.9)
    })
    .await;
    until("the reload is logged", || async {
        !logged(&gw.log, "SIGHUP: config reloaded").is_empty()
    })
    .await;

    // An invalid file changes nothing and says which key is wrong.
    let bad = demo_with(after, &db).replace("max_attempts = 3", "max_attempts = -3");
    std::fs::write(&config, bad).expect("config written");
    hup(&gw.child);
    until("the refusal is logged", || async {
        logged(&gw.log, "SIGHUP: config not reloaded")
            .iter()
            .any(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("dispatch.max_attempts"))
            })
    })
    .await;
    assert_eq!(global_price(&client, &gw.url).await, Some(0.9));

    // A change that needs a restart is refused and named.
    let moved = demo_with(before, &db).replace("[server]", "[server]\nworkers = 7");
    std::fs::write(&config, moved).expect("config written");
    hup(&gw.child);
    until("the restart refusal is logged", || async {
        logged(&gw.log, "need a restart").iter().any(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("server.workers"))
        })
    })
    .await;
    assert_eq!(
        global_price(&client, &gw.url).await,
        Some(0.9),
        "nothing applied"
    );
}
