//! The built-in model catalogue: a `[[models]]` entry naming only `name` and `provider`
//! answers and is billed at the catalogue's prices; a missing price for a model the
//! catalogue does not know is a config error naming the field; `check-config` notes a
//! configured price that differs from the catalogue's.

mod common;

use std::time::{Duration, Instant};

use common::{TestEnv, demo_config, edit_config, send_json, user_says};
use serde_json::Value;
use switchyard::config::Config;

const ADMIN: &str = "switchyard-admin-demo";

/// The demo config plus `gpt-4.1-nano` at the simulated OpenAI, by name alone.
fn with_bare_model() -> String {
    edit_config(demo_config(), |t| {
        let models = t["models"].as_array_mut().expect("[[models]]");
        models.push(toml::Value::Table(toml::toml! {
            name = "gpt-4.1-nano"
            provider = "openai"
        }));
    })
}

#[test]
fn a_bare_entry_takes_prices_window_and_cap_from_the_catalogue() {
    let config = Config::from_toml(&with_bare_model(), None, Some("127.0.0.1:9")).unwrap();
    let m = config
        .models
        .iter()
        .find(|m| &*m.name == "gpt-4.1-nano")
        .expect("loaded");
    assert_eq!(
        (m.prices.input, m.prices.cached_input, m.prices.output),
        (0.1, 0.025, 0.4)
    );
    // The window is the model's; the cap sent when a client gives none stays 4096.
    assert_eq!((m.context_window, m.max_output_tokens), (1_047_576, 4096));
}

#[test]
fn a_model_the_catalogue_does_not_know_needs_its_prices() {
    let text = edit_config(demo_config(), |t| {
        let models = t["models"].as_array_mut().expect("[[models]]");
        models.push(toml::Value::Table(toml::toml! {
            name = "my-finetune"
            provider = "openai"
            context_window = 8000
        }));
    });
    let err = Config::from_toml(&text, None, Some("127.0.0.1:9"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("models[10].input_per_mtok_usd"), "{err}");
    assert!(
        err.contains("'my-finetune' is not in the built-in catalogue"),
        "{err}"
    );
}

#[test]
fn check_config_notes_a_price_that_differs_from_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let text = edit_config(&with_bare_model(), |t| {
        let models = t["models"].as_array_mut().expect("[[models]]");
        let last = models
            .last_mut()
            .and_then(toml::Value::as_table_mut)
            .unwrap();
        last.insert("input_per_mtok_usd".into(), 0.2.into());
    });
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check-config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "note: models[10].input_per_mtok_usd = 0.2 for gpt-4.1-nano, the catalogue lists 0.1"
        ),
        "{stderr}"
    );
}

#[actix_web::test]
async fn a_catalogue_only_model_is_billed_at_the_catalogue_price() {
    let env = TestEnv::start(&with_bare_model()).await;
    let (status, _, answer) = env.chat(user_says("gpt-4.1-nano", "hello nano")).await;
    assert_eq!(status, 200, "{answer}");
    let usage = &answer["usage"];
    let prompt = usage["prompt_tokens"].as_f64().unwrap();
    let completion = usage["completion_tokens"].as_f64().unwrap();
    let expected = (prompt * 0.1 + completion * 0.4) / 1e6;
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let (status, _, body) = send_json(
            env.client
                .get(env.url("/v1/usage/records?limit=100"))
                .bearer_auth(ADMIN),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let found = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["model"] == "gpt-4.1-nano")
            .cloned();
        if let Some(r) = found {
            break r;
        }
        assert!(Instant::now() < deadline, "no record: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cost = record["cost_usd"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (cost - expected).abs() < 1e-12,
        "{cost} != {expected}: {record}"
    );
    assert_eq!(record["provider"], Value::from("openai"), "{record}");
}
