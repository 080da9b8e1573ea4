//! `switchyard check-config` refuses what a gateway could not serve with, naming the
//! key (and the line, for TOML errors), and exits non-zero (issue 22, defect 8).

use std::process::{Command, Output};

/// A provider whose key is a file that exists everywhere, and a model and route on it.
const USABLE: &str = r#"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
keys = [{ file = "/dev/null" }]

[[models]]
name = "gpt-4o-mini"
provider = "openai"
input_per_mtok_usd = 0.15
output_per_mtok_usd = 0.6
context_window = 128000

[routes.auto]
candidates = ["gpt-4o-mini"]
"#;

/// Writes `text` to a temp file and runs `switchyard check-config [args] FILE`.
fn check(text: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, text).expect("config written");
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("check-config")
        .args(args)
        .arg(&file)
        .output()
        .expect("switchyard runs")
}

/// Runs the check, asserts exit code 1, returns stderr.
fn refused(text: &str) -> String {
    let out = check(text, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_usable_config_passes() {
    let out = check(USABLE, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok (1 providers, 1 models, 1 routes"),
        "{stdout}"
    );
}

#[test]
fn an_empty_route_is_refused() {
    let text = USABLE.replace(r#"candidates = ["gpt-4o-mini"]"#, "candidates = []");
    let e = refused(&text);
    assert!(
        e.contains("routes.auto.candidates: a route needs at least one candidate"),
        "{e}"
    );
}

#[test]
fn bad_listen_addresses_are_refused_naming_the_key() {
    let e = refused(&format!("[server]\nlisten = \"not an address\"\n{USABLE}"));
    assert!(e.contains("server.listen: expected host:port"), "{e}");
    let e = refused(&format!("[server]\nlisten = \"0.0.0.0:65536\"\n{USABLE}"));
    assert!(
        e.contains("server.listen: port 65536 is out of range"),
        "{e}"
    );
    let e = refused(&format!("[server]\nmetrics_listen = \"9464\"\n{USABLE}"));
    assert!(e.contains("server.metrics_listen: "), "{e}");
    let out = check(
        &format!("[server]\nlisten = \"localhost:8080\"\n{USABLE}"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn toml_errors_keep_line_and_column() {
    let e = refused(&format!("{USABLE}\n[server]\nworkers = = 2\n"));
    assert!(e.contains("config: line 18, column "), "{e}");
    let e = refused(&USABLE.replace(
        "context_window = 128000",
        "context_window = 128000\ncontext_window = 1",
    ));
    assert!(e.contains("line 13, column 1: duplicate key"), "{e}");
}

#[test]
fn negative_integers_and_bare_secrets_say_what_is_expected() {
    let e = refused(&format!("[dispatch]\nmax_attempts = -3\n{USABLE}"));
    assert!(
        e.contains("dispatch.max_attempts: expected a non-negative integer, got -3"),
        "{e}"
    );
    let e = refused(&USABLE.replace(r#"{ file = "/dev/null" }"#, r#""sk-live-abc""#));
    assert!(
        e.contains(r#"providers.openai.keys[0]: expected a secret source: { env = "NAME" } or { file = "path" }"#),
        "{e}"
    );
    assert!(!e.contains("sk-live-abc"), "{e}");
}

#[test]
fn no_usable_provider_fails_unless_allowed() {
    let text = USABLE.replace(
        r#"{ file = "/dev/null" }"#,
        r#"{ env = "SWITCHYARD_TEST_SURELY_UNSET_VAR" }"#,
    );
    let e = refused(&text);
    assert!(e.contains("warning: provider openai disabled"), "{e}");
    assert!(e.contains("no provider is usable"), "{e}");
    assert!(e.contains("--allow-empty"), "{e}");
    let out = check(&text, &["--allow-empty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (0 providers"));
}
