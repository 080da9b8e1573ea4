//! Optional OpenAI parameters end to end: an OpenAI-family upstream receives
//! `logprobs`, `logit_bias` and the rest its kind takes (read back from a recording
//! upstream started here, as the simulated providers do not keep bodies); a strict
//! provider (Mistral, which answers 422 to any unknown field) does not; `logprobs`
//! come back, streamed or not; what the answering provider does not take is named in
//! `x-switchyard-dropped-params`, or, under a route with `unsupported_params =
//! "reject"`, steers the request away from it or ends in a 400 naming the parameter.

mod common;

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use common::{TestEnv, demo_config, edit_config, user_says};
use serde_json::{Value, json};

/// An OpenAI-shaped upstream that keeps every chat body it receives.
struct Recorder {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Recorder {
    fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = bodies.clone();
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new()
                .route(
                    "/v1/chat/completions",
                    web::post().to(move |body: web::Bytes| {
                        let kept = kept.clone();
                        async move {
                            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            kept.lock().expect("recorder lock").push(v);
                            HttpResponse::Ok().json(json!({
                                "id": "chatcmpl-rec", "object": "chat.completion", "created": 1,
                                "model": "rec",
                                "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "recorded"}}],
                                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
                            }))
                        }
                    }),
                )
                .route(
                    "/v1/models",
                    web::get().to(|| async {
                        HttpResponse::Ok().json(json!({"object": "list", "data": []}))
                    }),
                )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("recorder binds");
        let url = format!("http://{}/v1", server.addrs()[0]);
        actix_web::rt::spawn(server.run());
        Self { url, bodies }
    }

    /// The last chat body received.
    fn last(&self) -> Value {
        self.bodies
            .lock()
            .expect("recorder lock")
            .last()
            .cloned()
            .expect("a chat call arrived")
    }
}

/// The demo config with the `openai` provider and a new openai-compatible `compat`
/// provider (model `compat-model`) pointed at `rec`, their key read from `key_file`.
fn config(rec: &Recorder, key_file: &std::path::Path) -> String {
    edit_config(demo_config(), |t| {
        let providers = t["providers"]
            .as_table_mut()
            .expect("a table in the demo config");
        let key = toml::Value::Array(vec![toml::Value::Table(toml::toml! {
            file = (key_file.display().to_string())
        })]);
        let openai = providers["openai"]
            .as_table_mut()
            .expect("a table in the demo config");
        openai.insert("base_url".into(), rec.url.clone().into());
        openai.insert("keys".into(), key.clone());
        openai.remove("h2c");
        let mut compat = toml::Table::new();
        compat.insert("kind".into(), "openai-compatible".into());
        compat.insert("base_url".into(), rec.url.clone().into());
        compat.insert("keys".into(), key);
        providers.insert("compat".into(), compat.into());
        let models = t["models"]
            .as_array_mut()
            .expect("[[models]] in the demo config");
        models.push(toml::Value::Table(toml::toml! {
            name = "compat-model"
            provider = "compat"
            input_per_mtok_usd = 0.1
            output_per_mtok_usd = 0.1
            context_window = 32000
            max_output_tokens = 4096
        }));
    })
}

/// `user_says(model, …)` plus the optional parameters under test.
fn with_params(model: &str) -> Value {
    let mut body = user_says(model, "hi");
    let extra = json!({
        "logprobs": true, "top_logprobs": 2, "logit_bias": {"50256": -100},
        "service_tier": "flex", "user": "u-1", "parallel_tool_calls": false,
        "store": false, "top_k": 40, "frobnicate": 1,
    });
    body.as_object_mut()
        .expect("a JSON object body")
        .extend(extra.as_object().expect("a JSON object").clone());
    body
}

#[actix_web::test]
async fn openai_family_upstreams_receive_what_their_kind_takes() {
    let rec = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "sk-recorded").unwrap();
    let env = TestEnv::start(&config(&rec, &key_file)).await;

    let (status, _, body) = env.chat(with_params("gpt-4o-mini")).await;
    assert_eq!(status, 200, "{body}");
    let sent = rec.last();
    assert_eq!(sent["logprobs"], true, "{sent}");
    assert_eq!(sent["top_logprobs"], 2, "{sent}");
    assert_eq!(sent["logit_bias"], json!({"50256": -100}), "{sent}");
    assert_eq!(sent["service_tier"], "flex", "{sent}");
    assert_eq!(sent["user"], "u-1", "{sent}");
    assert_eq!(sent["parallel_tool_calls"], false, "{sent}");
    assert_eq!(
        sent["store"], false,
        "a documented OpenAI key passes: {sent}"
    );
    assert!(
        sent.get("top_k").is_none() && sent.get("frobnicate").is_none(),
        "{sent}"
    );

    // A generic openai-compatible server gets every extra key, but no service tier.
    let (status, _, body) = env.chat(with_params("compat-model")).await;
    assert_eq!(status, 200, "{body}");
    let sent = rec.last();
    assert_eq!(sent["logit_bias"], json!({"50256": -100}), "{sent}");
    assert_eq!(sent["top_k"], 40, "{sent}");
    assert_eq!(sent["frobnicate"], 1, "{sent}");
    assert!(sent.get("service_tier").is_none(), "{sent}");
}

#[actix_web::test]
async fn a_strict_provider_is_not_sent_what_it_would_refuse() {
    // The simulated Mistral answers 422 extra_forbidden to any field it does not know.
    let env = TestEnv::start(&common::single_attempt_config()).await;
    let (status, _, body) = env.chat(with_params("mistral-small-latest")).await;
    assert_eq!(status, 200, "{body}");
}

/// The tokens' text in a `logprobs` object, joined.
fn logprob_text(logprobs: &Value) -> String {
    logprobs["content"]
        .as_array()
        .expect("a content list")
        .iter()
        .map(|t| t["token"].as_str().expect("a token"))
        .collect()
}

#[actix_web::test]
async fn logprobs_come_back_from_the_openai_family_streamed_or_not() {
    let env = TestEnv::start(demo_config()).await;
    let mut body = user_says("gpt-4o-mini", "say something with logprobs");
    body["logprobs"] = json!(true);
    let (status, headers, answer) = env.chat(body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(headers.get("x-switchyard-dropped-params").is_none());
    let content = answer["choices"][0]["message"]["content"]
        .as_str()
        .expect("text");
    let logprobs = &answer["choices"][0]["logprobs"];
    assert!(!content.is_empty());
    assert_eq!(logprob_text(logprobs), content, "{logprobs}");
    assert!(logprobs["content"][0]["logprob"].is_f64(), "{logprobs}");

    body["stream"] = json!(true);
    body["messages"][0]["content"] = json!("stream something with logprobs");
    let s = env.chat_stream(body).await;
    assert_eq!(s.status, 200, "{}", s.raw);
    let streamed: String = s
        .chunks
        .iter()
        .filter(|c| !c["choices"][0]["logprobs"].is_null())
        .map(|c| logprob_text(&c["choices"][0]["logprobs"]))
        .collect();
    assert!(!s.text().is_empty());
    assert_eq!(streamed, s.text(), "{}", s.raw);
}

#[actix_web::test]
async fn what_the_provider_does_not_take_is_named_in_a_header() {
    let env = TestEnv::start(demo_config()).await;
    let mut body = user_says("claude-haiku-4-5", "hi");
    let extra = json!({"seed": 3, "logit_bias": {"1": 2}, "frobnicate": true, "user": "u-9"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, headers, answer) = env.chat(body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        common::header(&headers, "x-switchyard-dropped-params"),
        "seed,logit_bias,frobnicate",
        "user becomes metadata.user_id, so it is not dropped"
    );

    // Any character may be in a client's key: the header stays legal (the fuzzer's
    // case 780 once made this a text/plain 500).
    let mut body = user_says("claude-haiku-4-5", "odd key");
    body["\u{0}\u{202e}😀"] = json!([]);
    let (status, headers, answer) = env.chat(body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        common::header(&headers, "x-switchyard-dropped-params"),
        "%00%E2%80%AE%F0%9F%98%80"
    );

    // A plain request, and one whose every parameter OpenAI takes: no header.
    let (_, headers, _) = env.chat(user_says("gpt-4o-mini", "hi")).await;
    assert!(headers.get("x-switchyard-dropped-params").is_none());
    let mut body = user_says("gpt-4o-mini", "hi again");
    body["seed"] = json!(3);
    body["store"] = json!(false);
    let (_, headers, _) = env.chat(body).await;
    assert!(headers.get("x-switchyard-dropped-params").is_none());
}

#[actix_web::test]
async fn a_rejecting_route_skips_or_refuses_providers_that_cannot_take_a_parameter() {
    let config = edit_config(demo_config(), |t| {
        let routes = t["routes"].as_table_mut().unwrap();
        routes.insert(
            "strict".into(),
            toml::Value::Table(toml::toml! {
                candidates = ["claude-haiku-4-5", "gpt-4o-mini"]
                unsupported_params = "reject"
            }),
        );
        routes.insert(
            "claude-only".into(),
            toml::Value::Table(toml::toml! {
                candidates = ["claude-haiku-4-5"]
                unsupported_params = "reject"
            }),
        );
        // The tier's fallbacks are candidates too: keep only Claude ones, so nothing
        // that takes `logit_bias` is left.
        t["tiers"]["paid"]["fallbacks"] = toml::Value::Array(vec!["claude-sonnet-4-5".into()]);
    });
    let env = TestEnv::start(&config).await;
    for i in 0..5 {
        let mut body = user_says("strict", &format!("bias {i}"));
        body["logit_bias"] = json!({"50256": -100});
        let (status, headers, answer) = env.chat(body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(common::header(&headers, "x-switchyard-provider"), "openai");
    }
    let mut body = user_says("claude-only", "bias");
    body["logit_bias"] = json!({"50256": -100});
    let (status, _, answer) = env.chat(body).await;
    assert_eq!(status, 400, "{answer}");
    let err = common::assert_error_shape(&answer);
    assert_eq!(err["code"], "unsupported_parameter", "{answer}");
    assert_eq!(err["param"], "logit_bias", "{answer}");
    assert_eq!(err["type"], "invalid_request_error", "{answer}");
    // Without the parameter the same route answers.
    let (status, _, answer) = env.chat(user_says("claude-only", "no bias")).await;
    assert_eq!(status, 200, "{answer}");
}
