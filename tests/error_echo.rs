//! Error bodies repeat client input only in short: a huge header value or a number
//! with an extreme exponent comes back as a message of a few hundred bytes at most,
//! still naming the parameter at fault (issue 22, defect 9).

mod common;

use common::{TestEnv, assert_error_shape, demo_config, send_json, user_says};
use serde_json::Value;

/// Longest error message accepted here.
const SHORT: usize = 300;

/// Sends a chat request with one extra header; returns the `error` object of the 400.
async fn rejected(env: &TestEnv, name: &str, value: &str) -> Value {
    let rb = env
        .chat_request(&user_says("gpt-4o-mini", "hi"))
        .header(name, value);
    let (status, _, body) = send_json(rb).await;
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body).clone()
}

/// Asserts `err` is short and names `param`.
fn short_and_named(err: &Value, param: &str) {
    let message = err["message"].as_str().expect("message is a string");
    assert!(
        message.len() < SHORT,
        "{} byte message: {}…",
        message.len(),
        &message[..SHORT.min(message.len())]
    );
    assert!(message.contains(param), "{message}");
}

#[actix_web::test]
async fn a_huge_weights_header_is_echoed_short() {
    let env = TestEnv::start(demo_config()).await;
    let value = format!("price={}", "9x".repeat(50_000));
    let err = rejected(&env, "x-switchyard-weights", &value).await;
    short_and_named(&err, "x-switchyard-weights");
    assert_eq!(err["param"], "x-switchyard-weights");
    assert!(
        err["message"]
            .as_str()
            .expect("message is a string")
            .contains("100000 bytes"),
        "{err}"
    );

    let name = "p".repeat(100_000);
    let err = rejected(&env, "x-switchyard-weights", &format!("{name}=1")).await;
    short_and_named(&err, "x-switchyard-weights");
}

#[actix_web::test]
async fn an_extreme_weight_is_printed_in_exponent_form() {
    let env = TestEnv::start(demo_config()).await;
    let err = rejected(&env, "x-switchyard-weights", "price=1e300").await;
    short_and_named(&err, "x-switchyard-weights");
    assert!(
        err["message"]
            .as_str()
            .expect("message is a string")
            .contains("1e300"),
        "{err}"
    );
}

#[actix_web::test]

async fn a_huge_cost_header_is_echoed_short() {
    let env = TestEnv::start(demo_config()).await;
    let value = "9".repeat(100_000) + "x";
    let err = rejected(&env, "x-switchyard-max-cost-usd", &value).await;
    short_and_named(&err, "x-switchyard-max-cost-usd");
    assert_eq!(err["param"], "x-switchyard-max-cost-usd");
}

#[actix_web::test]

async fn a_tiny_cost_limit_is_printed_short() {
    let env = TestEnv::start(demo_config()).await;
    let err = rejected(&env, "x-switchyard-max-cost-usd", "1e-300").await;
    short_and_named(&err, "x-switchyard-max-cost-usd");
}
