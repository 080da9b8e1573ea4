//! The start-up summary: a few INFO lines saying what this gateway runs, so an operator
//! reading the log sees at once which providers are live (and which were left out, the
//! WARN line before says why), the models and routes clients may name, where it listens
//! and where its usage ledger is.

use std::fmt::Write;
use std::net::SocketAddr;

use crate::config::Config;

/// Logs the summary of `config` for a gateway bound to `addr` (and `metrics_addr`).
pub fn log(config: &Config, addr: SocketAddr, metrics_addr: Option<SocketAddr>) {
    let lines = lines(config, addr, metrics_addr);
    for (topic, text) in &lines {
        tracing::info!(topic = *topic, "{text}");
    }
}

/// `(topic, line)` pairs, in the order they are logged.
fn lines(
    config: &Config,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
) -> Vec<(&'static str, String)> {
    let mut providers = String::new();
    for (i, p) in config.providers.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let keys = p.keys.len();
        let plural = if keys == 1 { "" } else { "s" };
        let _ = write!(
            providers,
            "{sep}{} ({}, {keys} key{plural})",
            p.name,
            p.kind.as_str()
        );
    }
    if providers.is_empty() {
        providers.push_str("none");
    }
    let mut out = vec![("providers", format!("providers enabled: {providers}"))];
    if !config.disabled_providers.is_empty() {
        out.push((
            "providers",
            format!(
                "providers disabled (no usable key): {}",
                config.disabled_providers.join(", ")
            ),
        ));
    }
    let models: Vec<String> = config
        .models
        .iter()
        .map(|m| format!("{}/{}", m.provider.name, m.name))
        .collect();
    out.push((
        "models",
        format!("models ({}): {}", models.len(), models.join(", ")),
    ));
    let routes: Vec<&str> = config.routes.keys().map(String::as_str).collect();
    let routes = if routes.is_empty() {
        "none".to_owned()
    } else {
        routes.join(", ")
    };
    out.push(("routes", format!("routes: {routes}")));
    let metrics = match metrics_addr {
        Some(m) => format!("http://{m}/metrics"),
        None => format!("http://{addr}/metrics"),
    };
    out.push((
        "listen",
        format!("listening on http://{addr} (API), metrics at {metrics}"),
    ));
    let ledger = match &config.cluster {
        Some(_) => format!(
            "usage ledger: {} (SQLite; [cluster] shares rate limits and weights through Redis)",
            config.usage.database.display()
        ),
        None => format!("usage ledger: {} (SQLite)", config.usage.database.display()),
    };
    out.push(("usage", ledger));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_providers_models_routes_addresses_and_the_ledger() {
        let toml = crate::DEMO_CONFIG.replace(
            "keys = [{ value = \"sk-mock-gemini\" }]",
            "keys = [{ env = \"SWITCHYARD_SUMMARY_TEST_UNSET\" }]",
        );
        let config = Config::from_toml(&toml, None, Some("127.0.0.1:9")).unwrap();
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lines: Vec<String> = lines(&config, addr, None)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let text = lines.join("\n");
        assert!(text.contains("providers enabled: "), "{text}");
        assert!(text.contains("openai (openai, "), "{text}");
        assert!(
            text.contains("providers disabled (no usable key): gemini"),
            "{text}"
        );
        assert!(!text.contains("gemini/"), "{text}");
        assert!(text.contains("openai/gpt-4o-mini"), "{text}");
        assert!(
            text.contains("routes: auto, classify, code, legal"),
            "{text}"
        );
        assert!(
            text.contains(
                "listening on http://127.0.0.1:8080 (API), metrics at http://127.0.0.1:8080/metrics"
            ),
            "{text}"
        );
        assert!(text.contains("usage ledger: "), "{text}");
    }
}
