//! `POST /admin/reload`: the config file is read again and swapped in while the gateway
//! serves, or refused as a whole (400 invalid, 409 needs a restart) with nothing applied.

mod common;

use common::{
    DEMO_KEY, TestEnv, assert_error_shape, demo_config, edit_config, header, send_json, set,
    user_says,
};
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN: &str = "switchyard-admin-demo";

/// `POST /admin/reload` with the admin token.
async fn reload(env: &TestEnv) -> (StatusCode, Value) {
    let (status, _, body) =
        send_json(env.client.post(env.url("/admin/reload")).bearer_auth(ADMIN)).await;
    (status, body)
}

/// A GET on the admin API.
async fn admin_get(env: &TestEnv, path: &str) -> Value {
    let (status, _, body) = send_json(env.client.get(env.url(path)).bearer_auth(ADMIN)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The model that answered a request to route `code`.
async fn code_model(env: &TestEnv) -> String {
    let (status, headers, body) = env.chat(user_says("code", "write a loop")).await;
    assert_eq!(status, 200, "{body}");
    header(&headers, "x-switchyard-model").to_owned()
}

/// `expected_cost_usd` of `provider/model` in `GET /admin/providers`.
async fn expected_cost(env: &TestEnv, provider: &str, model: &str) -> f64 {
    let body = admin_get(env, "/admin/providers").await;
    body["data"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == provider))
        .and_then(|p| p["models"].as_array())
        .and_then(|ms| ms.iter().find(|m| m["name"] == model))
        .and_then(|m| m["expected_cost_usd"].as_f64())
        .unwrap_or_else(|| panic!("no {provider}/{model} in {body}"))
}

/// The demo config with route `code` on gpt-4o-mini only, a dearer gpt-4o-mini and
/// one more gateway key.
fn edited_config() -> String {
    let text = edit_config(demo_config(), |t| {
        let routes = t["routes"].as_table_mut().expect("routes");
        routes["code"]["candidates"] = toml::Value::Array(vec!["gpt-4o-mini".into()]);
        let models = t["models"].as_array_mut().expect("models");
        let mini = models
            .iter_mut()
            .find(|m| m["name"].as_str() == Some("gpt-4o-mini"))
            .expect("gpt-4o-mini in the demo");
        mini["input_per_mtok_usd"] = 15.0.into();
    });
    text + "\n[[keys]]\nid = \"added\"\nkey = { value = \"sk-added-by-reload\" }\ntenant = \"demo\"\n"
}

#[actix_web::test]
async fn reload_applies_routes_prices_keys_and_resets_weights() {
    let env = TestEnv::start_from_file(demo_config()).await;
    assert_ne!(code_model(&env).await, "gpt-4o-mini");
    let cost_before = expected_cost(&env, "openai", "gpt-4o-mini").await;
    let (status, _, _) = send_json(
        env.client
            .put(env.url("/admin/weights"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"price": 7.0})),
    )
    .await;
    assert_eq!(status, 200);

    env.write_config(&edited_config());
    let (status, body) = reload(&env).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reloaded"], true);
    assert_eq!(body["weights"], "reset_to_file");
    let changed: Vec<&str> = body["changed"]
        .as_array()
        .expect("changed list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        changed,
        [
            "keys.added",
            "models.openai/gpt-4o-mini.input_per_mtok_usd",
            "routes.code"
        ],
        "{body}"
    );
    assert!(
        !body.to_string().contains("sk-added-by-reload"),
        "a key leaked: {body}"
    );

    // The very next request sees the new route, the new price and the new key.
    assert_eq!(code_model(&env).await, "gpt-4o-mini");
    let routes = admin_get(&env, "/admin/routes").await;
    assert_eq!(
        routes["routes"]["code"]["candidates"],
        serde_json::json!(["gpt-4o-mini"])
    );
    let cost_after = expected_cost(&env, "openai", "gpt-4o-mini").await;
    assert!(
        cost_after > cost_before * 10.0,
        "{cost_before} -> {cost_after}"
    );
    let (status, _, body) = send_json(
        env.client
            .post(env.url("/v1/chat/completions"))
            .bearer_auth("sk-added-by-reload")
            .json(&user_says("gpt-4o-mini", "hi")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let weights = admin_get(&env, "/admin/weights").await;
    assert_eq!(weights["global"]["price"], 0.5, "{weights}");

    // Reloading the same file again changes nothing.
    let (status, body) = reload(&env).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], serde_json::json!([]));
}

#[actix_web::test]
async fn reload_removes_a_config_key() {
    let env = TestEnv::start_from_file(demo_config()).await;
    let without_demo_key = edit_config(demo_config(), |t| {
        let keys = t["keys"].as_array_mut().expect("keys");
        keys.retain(|k| k["id"].as_str() != Some("demo"));
    });
    env.write_config(&without_demo_key);
    let (status, body) = reload(&env).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], serde_json::json!(["keys.demo"]));
    let (status, _, _) = env.chat(user_says("gpt-4o-mini", "hi")).await;
    assert_eq!(status, 401, "{DEMO_KEY} still works after its removal");
}

#[actix_web::test]
async fn invalid_file_is_refused_and_the_old_config_keeps_serving() {
    let env = TestEnv::start_from_file(demo_config()).await;
    let before = admin_get(&env, "/admin/routes").await;

    // A type error, found while reading the file.
    env.write_config(&edit_config(&edited_config(), |t| {
        set(t, "dispatch", "max_attempts", "three");
    }));
    let (status, body) = reload(&env).await;
    assert_eq!(status, 400, "{body}");
    let err = assert_error_shape(&body);
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("dispatch.max_attempts")),
        "{body}"
    );
    assert_eq!(err["param"], "dispatch.max_attempts");
    assert_eq!(err["code"], "invalid_config");

    // A cross-reference error, found by validation.
    env.write_config(&edit_config(&edited_config(), |t| {
        t["routes"]["code"]["candidates"] = toml::Value::Array(vec!["no-such-model".into()]);
    }));
    let (status, body) = reload(&env).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["param"], "routes.code.candidates[0]",
        "{body}"
    );

    // Not TOML at all.
    env.write_config_raw("[routes.code\ncandidates = ");
    let (status, body) = reload(&env).await;
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body);

    // Nothing of the edited file was applied.
    assert_eq!(admin_get(&env, "/admin/routes").await, before);
    assert_ne!(code_model(&env).await, "gpt-4o-mini");
}

#[actix_web::test]
async fn restart_only_change_is_refused_with_409_and_nothing_applied() {
    let env = TestEnv::start_from_file(demo_config()).await;
    let before = admin_get(&env, "/admin/routes").await;
    let text = edit_config(&edited_config(), |t| {
        set(t, "server", "listen", "127.0.0.1:1");
        t["providers"]["mistral"]["base_url"] = "http://{mock}/elsewhere/v1".into();
    });
    env.write_config(&text);
    let (status, body) = reload(&env).await;
    assert_eq!(status, 409, "{body}");
    let err = assert_error_shape(&body);
    assert_eq!(err["code"], "restart_required");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("providers.mistral.base_url, server.listen"),
        "{message}"
    );
    assert!(!message.contains("routes.code"), "{message}");
    assert_eq!(admin_get(&env, "/admin/routes").await, before);
    assert_ne!(code_model(&env).await, "gpt-4o-mini");
    let (status, _, _) = send_json(
        env.client
            .post(env.url("/v1/chat/completions"))
            .bearer_auth("sk-added-by-reload")
            .json(&user_says("gpt-4o-mini", "hi")),
    )
    .await;
    assert_eq!(status, 401, "a key of the refused file was applied");
}

#[actix_web::test]
async fn reload_needs_the_admin_token() {
    let env = TestEnv::start_from_file(demo_config()).await;
    let (status, _, body) = send_json(env.client.post(env.url("/admin/reload"))).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = send_json(
        env.client
            .post(env.url("/admin/reload"))
            .bearer_auth(DEMO_KEY),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_error_shape(&body);
}

#[actix_web::test]
async fn embedded_config_has_nothing_to_reload() {
    let env = TestEnv::start(demo_config()).await;
    let (status, body) = reload(&env).await;
    assert_eq!(status, 400, "{body}");
    let err = assert_error_shape(&body);
    assert_eq!(err["code"], "reload_unavailable");
}

/// `switchyard_config_reloads_total{result}` as the exposition shows it (0 if absent).
async fn reloads_counted(env: &TestEnv, result: &str) -> f64 {
    let text = env.metrics_text().await;
    let prefix = format!("switchyard_config_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

#[actix_web::test]
async fn reloads_are_counted_by_result() {
    let env = TestEnv::start_from_file(demo_config()).await;
    // Other tests of this binary share the process-wide recorder: compare before/after.
    let before: Vec<f64> = futures_util::future::join_all(
        ["ok", "invalid", "restart_required"].map(|r| reloads_counted(&env, r)),
    )
    .await;

    env.write_config(&edited_config());
    assert_eq!(reload(&env).await.0, 200);
    env.write_config(&edit_config(demo_config(), |t| {
        set(t, "dispatch", "max_attempts", -1);
    }));
    assert_eq!(reload(&env).await.0, 400);
    env.write_config(&edit_config(demo_config(), |t| {
        set(t, "server", "listen", "127.0.0.1:1");
    }));
    assert_eq!(reload(&env).await.0, 409);

    for (result, before) in ["ok", "invalid", "restart_required"]
        .into_iter()
        .zip(before)
    {
        let after = reloads_counted(&env, result).await;
        assert!(after >= before + 1.0, "{result}: {before} -> {after}");
    }
    let text = env.metrics_text().await;
    assert!(
        text.contains("# HELP switchyard_config_reloads_total"),
        "undescribed"
    );
}
