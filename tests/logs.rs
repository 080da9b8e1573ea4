//! The request log: `switchyard demo --log-format json` writes one JSON line per request
//! to stderr with the request id (the same as the `x-request-id` response header),
//! method, path, status, provider, model, attempts and duration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// Upper bound for the demo to print its address and for a log line to appear; both
/// normally take milliseconds.
const DEADLINE: Duration = Duration::from_secs(30);

/// Kills the demo when the test ends, passed or not.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends each line of `reader` to the returned channel, from a thread of its own.
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn json_log_has_one_line_per_request_with_its_id() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--log-format", "json", "demo", "--listen", "127.0.0.1:0"])
        .env("SWITCHYARD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let stdout = lines(child.stdout.take().expect("stdout piped"));
    let stderr = lines(child.stderr.take().expect("stderr piped"));
    let _demo = Demo(child);

    let url = loop {
        let line = stdout
            .recv_timeout(DEADLINE)
            .expect("the demo prints its address");
        if let Some(rest) = line.split("gateway at ").nth(1) {
            let url = rest.split_whitespace().next().expect("an address");
            break url.trim_end_matches("/v1").to_owned();
        }
    };
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth("sk-switchyard-demo")
        .header("x-request-id", "req-log-test-1")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-log-test-1");

    let entry = loop {
        let line = stderr
            .recv_timeout(DEADLINE)
            .expect("a request log line appears");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        if v["fields"]["request_id"] == "req-log-test-1" {
            break v;
        }
    };
    let f = &entry["fields"];
    assert_eq!(entry["level"], "INFO");
    assert_eq!(f["message"], "request");
    assert_eq!(f["method"], "POST");
    assert_eq!(f["path"], "/v1/chat/completions");
    assert_eq!(f["status"], 200);
    assert_eq!(f["provider"], "openai");
    assert_eq!(f["model"], "gpt-4o-mini");
    assert_eq!(f["attempts"], "1");
    assert!(
        f["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "duration_ms: {entry}"
    );
}
