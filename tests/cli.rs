//! The command line's start-up failures: a clear one-line error and exit code 1, never
//! a panic.

use std::process::Command;
use std::time::{Duration, Instant};

/// Upper bound for a start-up that fails; it normally takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn a_taken_port_fails_start_up_cleanly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["demo", "--listen", &addr])
        .output()
        .expect("switchyard runs");
    assert!(started.elapsed() < DEADLINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("switchyard: Address already in use"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
