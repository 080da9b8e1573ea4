//! `/metrics` after real traffic: every provider of the demo config, every failure
//! class the simulated providers inject (500, 503, overload, 429, garbage, cut stream,
//! failed heartbeats opening a circuit) and a failover; each family the dashboards
//! read must be there with its `# TYPE` and label names. Also: the dashboards' JSON
//! is valid for current Grafana and queries only described metrics, and
//! `server.metrics_listen` moves `/metrics` off the API port.
//!
//! The recorder is global to the test process, so assertions here check presence,
//! never exact counts another test could change.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use common::{TestEnv, demo_config, edit_config, header, set, user_says};
use serde_json::{Value, json};
use switchyard::metrics::{FAMILIES, Kind, PENDING};

/// Upper bound for failed heartbeats to open a circuit (they run every 100 ms here).
const CIRCUIT_DEADLINE: Duration = Duration::from_secs(20);

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// The exposition parsed: `# TYPE` per family, and every sample.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE line has a type");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let value: f64 = value.parse().expect("sample value is a number");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_owned(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels end in }");
                    let labels = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").expect("label is k=\"v\"");
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        Self { types, samples }
    }

    /// Samples of family `name` (a histogram's `_bucket`, `_sum` and `_count`).
    fn family(&self, name: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|(n, ..)| {
                n == name
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| n.strip_suffix(s) == Some(name))
            })
            .collect()
    }

    /// Whether some sample of `name` has every label in `want`.
    fn has(&self, name: &str, want: &[(&str, &str)]) -> bool {
        self.family(name).iter().any(|(_, labels, _)| {
            want.iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the sample of `name` with exactly these labels.
    fn value(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, labels, _)| {
                n == name
                    && labels.len() == want.len()
                    && want
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.2)
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Exposition {
    let resp = client.get(url).send().await.expect("scrape answered");
    assert_eq!(resp.status(), 200);
    let ct = header(resp.headers(), "content-type").to_owned();
    assert!(ct.starts_with("text/plain"), "content type {ct}");
    Exposition::parse(&resp.text().await.expect("exposition read"))
}

/// The demo config with fast heartbeats, no retry delay, and a route whose order is
/// fixed (one candidate, one fallback) to provoke exactly one failover.
fn config() -> String {
    edit_config(demo_config(), |t| {
        set(t, "dispatch", "retry_delay_ms", 0);
        set(t, "health", "heartbeat_interval_ms", 100);
        // Generous: a heartbeat is answered at once, a loaded machine may still stall one.
        set(t, "health", "heartbeat_timeout_ms", 5000);
        // Small enough that a few answers evict each other.
        set(t, "cache", "max_bytes", 1500);
        let mut route = toml::Table::new();
        route.insert(
            "candidates".to_owned(),
            toml::Value::from(vec!["mistral/mistral-small-latest"]),
        );
        route.insert(
            "fallbacks".to_owned(),
            toml::Value::from(vec!["deepseek/deepseek-chat"]),
        );
        set(t, "routes", "failover", route);
    })
}

fn streamed(model: &str) -> Value {
    let mut body = user_says(model, "Hello there");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

#[actix_web::test]
async fn every_dashboard_family_is_exported_with_its_type_and_labels() {
    let env = TestEnv::start(&config()).await;
    // Healthy traffic through all six providers, plain and streamed.
    let models = [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("deepseek", "deepseek-chat"),
        ("qwen", "qwen-plus"),
        ("mistral", "mistral-small-latest"),
    ];
    for (provider, model) in models {
        let (status, headers, _) = env.chat(user_says(model, "Hi")).await;
        assert_eq!(status, 200, "{model}");
        assert_eq!(header(&headers, "x-switchyard-provider"), provider);
        let s = env.chat_stream(streamed(model)).await;
        assert!(s.saw_done, "{model} stream ended without [DONE]: {}", s.raw);
    }
    let (status, ..) = env.chat(user_says("auto", "Hi")).await;
    assert_eq!(status, 200);
    // A client error.
    let resp = env
        .client
        .post(env.url("/v1/chat/completions"))
        .bearer_auth("sk-wrong")
        .json(&user_says("auto", "Hi"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), 401);

    // A failover: the route's only candidate fails, its fallback answers.
    // Deterministic answers are cached: a repeat is a hit, and the small bound evicts.
    for i in 0..6 {
        let mut body = user_says("gpt-4o-mini", &format!("Cache me {i}"));
        body["temperature"] = json!(0);
        env.chat(body.clone()).await;
        let (_, headers, _) = env.chat(body).await;
        assert_eq!(header(&headers, "x-switchyard-cache"), "hit");
    }
    env.mock_patch("mistral", json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    let resp = env
        .chat_request(&user_says("auto", "Hi"))
        .header("x-switchyard-route", "failover")
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "x-switchyard-attempts"), "2");
    env.mock_patch("mistral", json!({"error_rate": 0.0})).await;

    // Every failure class, one provider each.
    env.mock_patch("openai", json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    env.mock_patch("qwen", json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    env.mock_patch("anthropic", json!({"overload_rate": 1.0}))
        .await;
    env.mock_patch(
        "deepseek",
        json!({"rate_limit_rate": 1.0, "retry_after_s": 5}),
    )
    .await;
    env.mock_patch("gemini", json!({"garbage": true})).await;
    env.mock_patch("mistral", json!({"cut_stream": true})).await;
    for model in [
        "gpt-4o-mini",
        "qwen-plus",
        "claude-haiku-4-5",
        "deepseek-chat",
    ] {
        let (status, ..) = env.chat(user_says(model, "Hi")).await;
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{model}: {status}"
        );
    }
    let s = env.chat_stream(streamed("gemini-2.5-flash")).await;
    assert_eq!(s.status, 502, "garbage: {}", s.raw);
    let s = env.chat_stream(streamed("mistral-small-latest")).await;
    assert!(!s.saw_done, "a cut stream must not end with [DONE]");

    // Failed heartbeats open qwen's circuit.
    env.mock_patch("qwen", json!({"heartbeat_fail": true}))
        .await;
    let metrics_url = env.url("/metrics");
    let deadline = Instant::now() + CIRCUIT_DEADLINE;
    let exp = loop {
        let exp = scrape(&env.client, &metrics_url).await;
        // The ledger commits usage within its flush interval: wait for the lag too.
        if exp.value("switchyard_circuit_state", &[("provider", "qwen")]) == Some(2.0)
            && exp.has("switchyard_usage_write_lag_seconds_count", &[])
        {
            break exp;
        }
        assert!(Instant::now() < deadline, "qwen's circuit never opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Every produced family: its TYPE line and its label names.
    for f in FAMILIES.iter().filter(|f| !PENDING.contains(&f.name)) {
        assert_eq!(
            exp.types.get(f.name).map(String::as_str),
            Some(f.kind.as_str()),
            "TYPE of {}",
            f.name
        );
        let samples = exp.family(f.name);
        assert!(!samples.is_empty(), "no samples of {}", f.name);
        for (name, labels, _) in samples {
            let mut want: BTreeSet<&str> = f.labels.iter().copied().collect();
            if f.kind == Kind::Histogram && name.ends_with("_bucket") {
                want.insert("le");
            }
            let got: BTreeSet<&str> = labels.keys().map(String::as_str).collect();
            assert_eq!(got, want, "labels of {name}");
        }
    }

    // The label values the dashboards group by.
    for (provider, model) in models {
        let p = [("provider", provider), ("model", model)];
        for family in [
            "switchyard_requests_total",
            "switchyard_attempts_total",
            "switchyard_request_duration_seconds",
            "switchyard_ttft_seconds",
            "switchyard_tokens_total",
            "switchyard_cost_usd_total",
        ] {
            assert!(exp.has(family, &p), "{family} lacks {provider}/{model}");
        }
        for family in [
            "switchyard_in_flight_requests",
            "switchyard_circuit_state",
            "switchyard_heartbeat_rtt_seconds",
        ] {
            assert!(exp.has(family, &p[..1]), "{family} lacks {provider}");
        }
    }
    for class in ["2xx", "4xx", "5xx"] {
        assert!(
            exp.has("switchyard_requests_total", &[("status_class", class)]),
            "no {class} requests"
        );
    }
    for route in ["auto", "failover"] {
        assert!(exp.has("switchyard_requests_total", &[("route", route)]));
    }
    assert!(exp.has("switchyard_failovers_total", &[("route", "failover")]));
    for (provider, kind) in [
        ("openai", "server"),
        ("qwen", "overloaded"),
        ("anthropic", "overloaded"),
        ("deepseek", "rate_limited"),
        ("gemini", "bad_response"),
        ("mistral", "bad_response"),
    ] {
        assert!(
            exp.has(
                "switchyard_upstream_errors_total",
                &[("provider", provider), ("kind", kind)]
            ),
            "no {kind} error from {provider}"
        );
    }
    assert!(exp.has(
        "switchyard_heartbeat_failures_total",
        &[("provider", "qwen")]
    ));
    for kind in ["prompt", "completion"] {
        assert!(exp.has("switchyard_tokens_total", &[("kind", kind)]));
    }
    let cost = exp
        .value(
            "switchyard_cost_usd_total",
            &[
                ("provider", "openai"),
                ("model", "gpt-4o-mini"),
                ("tenant", "demo"),
            ],
        )
        .expect("cost of the demo tenant");
    assert!(cost > 0.0 && cost < 0.01, "cost {cost}");
    assert_eq!(exp.value("switchyard_open_streams", &[]), Some(0.0));
    assert!(exp.has(
        "switchyard_candidate_score",
        &[
            ("route", "auto"),
            ("provider", "mistral"),
            ("model", "mistral-small-latest")
        ]
    ));
    assert!(exp.has(
        "switchyard_scheduler_weight",
        &[("scope", "global"), ("term", "price")]
    ));
}

/// Every panel of every dashboard, rows' nested panels included.
fn all_panels(panels: &[Value], out: &mut Vec<Value>) {
    for p in panels {
        out.push(p.clone());
        if let Some(nested) = p["panels"].as_array() {
            all_panels(nested, out);
        }
    }
}

#[test]
fn dashboards_are_valid_grafana_json_querying_described_metrics() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("grafana/dashboards exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let described: HashSet<&str> = FAMILIES.iter().map(|f| f.name).collect();
    let mut uids = HashSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("dashboard readable");
        let d: Value = serde_json::from_str(&text).expect("dashboard is JSON");
        let name = path.display();
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 39),
            "{name}: schemaVersion"
        );
        assert!(
            uids.insert(d["uid"].as_str().expect("uid").to_owned()),
            "{name}: uid"
        );
        let vars = d["templating"]["list"].as_array().expect("templating");
        let var = |n: &str| vars.iter().find(|v| v["name"] == n);
        assert_eq!(
            var("datasource").expect("datasource variable")["type"],
            "datasource"
        );
        for n in ["provider", "model", "route"] {
            let v = var(n).unwrap_or_else(|| panic!("{name}: no {n} variable"));
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{name}: variable {n}"
            );
        }
        let mut panels = Vec::new();
        all_panels(d["panels"].as_array().expect("panels"), &mut panels);
        let mut ids = HashSet::new();
        let mut exprs = 0;
        for p in &panels {
            let id = p["id"].as_u64().expect("panel id");
            assert!(ids.insert(id), "{name}: panel id {id} repeats");
            assert!(
                p["gridPos"]["w"].as_u64().is_some(),
                "{name}: panel {id} gridPos"
            );
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}: panel {id}"
            );
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{name}: panel {id} has no query");
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name}: panel {id}"
                );
                let expr = t["expr"].as_str().expect("expr");
                exprs += 1;
                let names = metric_names(expr);
                assert!(
                    !names.is_empty(),
                    "{name}: panel {id} queries no switchyard_ metric"
                );
                for n in names {
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| n.strip_suffix(s).filter(|b| described.contains(b)))
                        .unwrap_or(&n);
                    assert!(
                        described.contains(base),
                        "{name}: panel {id} queries undescribed {n}"
                    );
                }
            }
        }
        assert!(exprs >= 15, "{name}: only {exprs} queries");
    }
}

/// The `switchyard_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("switchyard_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[actix_web::test]
async fn metrics_listen_serves_metrics_apart_from_the_api() {
    let text = edit_config(demo_config(), |t| {
        set(t, "server", "metrics_listen", "127.0.0.1:0");
    });
    let env = TestEnv::start(&text).await;
    let metrics_url = env.metrics_url.clone().expect("metrics listener bound");
    let api = env
        .client
        .get(env.url("/metrics"))
        .send()
        .await
        .expect("api answers");
    assert_eq!(api.status(), 404, "the API port must not serve /metrics");
    let exp = scrape(&env.client, &format!("{metrics_url}/metrics")).await;
    assert_eq!(
        exp.types
            .get("switchyard_candidate_score")
            .map(String::as_str),
        Some("gauge")
    );
}

#[actix_web::test]
async fn the_first_scrape_has_build_info_process_metrics_and_zeroed_dashboard_series() {
    // A route of its own and an error kind no other test provokes, so the series can
    // only come from the start-up declaration (the recorder is shared in this binary).
    let text = edit_config(demo_config(), |t| {
        let mut route = toml::Table::new();
        route.insert(
            "candidates".to_owned(),
            toml::Value::from(vec!["qwen-plus"]),
        );
        set(t, "routes", "never-used", route);
    });
    let env = TestEnv::start(&text).await;
    let exp = scrape(&env.client, &env.url("/metrics")).await;
    for (provider, model) in [("openai", "gpt-4o-mini"), ("qwen", "qwen-plus")] {
        let labels = [
            ("provider", provider),
            ("model", model),
            ("kind", "billing"),
        ];
        assert_eq!(
            exp.value("switchyard_upstream_errors_total", &labels),
            Some(0.0),
            "{provider}/{model}"
        );
        for family in [
            "switchyard_heartbeat_failures_total",
            "switchyard_rate_limited_total",
            "switchyard_rate_limit_queue_depth",
        ] {
            assert!(
                exp.has(family, &[("provider", provider)]),
                "{family} lacks {provider}"
            );
        }
    }
    assert_eq!(
        exp.value("switchyard_failovers_total", &[("route", "never-used")]),
        Some(0.0)
    );
    for family in [
        "switchyard_cache_evictions_total",
        "switchyard_cache_coalesced_waiters",
        "switchyard_usage_dropped_total",
        "switchyard_usage_queue_full_total",
    ] {
        assert!(exp.has(family, &[]), "{family} missing");
    }
    for result in ["ok", "invalid", "restart_required"] {
        assert!(exp.has("switchyard_config_reloads_total", &[("result", result)]));
    }
    assert!(exp.has(
        "switchyard_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))]
    ));
    assert_eq!(
        exp.types.get("switchyard_build_info").map(String::as_str),
        Some("gauge")
    );
    for family in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            exp.value(family, &[]).is_some_and(|v| v > 0.0),
            "{family}: {:?}",
            exp.value(family, &[])
        );
    }
}
