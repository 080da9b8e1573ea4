//! Config loading: paths in errors, secrets, defaults, the demo config.

use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
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
"#;

fn err(text: &str) -> String {
    Config::from_toml(text, None, None).unwrap_err().to_string()
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::from_toml(MINIMAL, None, None).unwrap();
    assert_eq!(c.listen, DEFAULT_LISTEN);
    assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(
        c.dispatch.policies.default.retry_delay,
        Duration::from_millis(500)
    );
    assert_eq!(c.models[0].upstream, "gpt-4o-mini");
    assert_eq!(c.models[0].max_output_tokens, 4096);
}

#[test]
fn wrong_type_names_the_key() {
    let text = MINIMAL.replace(
        "keys = [{ file = \"/dev/null\" }]",
        "keys = [{ file = \"/dev/null\" }]\ntimeout_ms = \"fast\"",
    );
    let e = err(&text);
    assert!(e.starts_with("providers.openai.timeout_ms: "), "{e}");
    assert!(e.contains("integer"), "{e}");
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let e = err(&MINIMAL.replace("context_window", "colour = 1\ncontext_window"));
    assert!(e.starts_with("models[0]"), "{e}");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn literal_provider_keys_are_refused_for_real_providers() {
    let e = err(&MINIMAL.replace("{ file = \"/dev/null\" }", "{ value = \"sk-live-1\" }"));
    assert_eq!(
        e,
        "providers.openai.keys[0]: provider keys may not be written in the config: use `env` or `file`"
    );
    assert!(!e.contains("sk-live-1"));
}

#[test]
fn unset_key_variable_disables_the_provider_and_its_models() {
    let text = MINIMAL.replace(
        "{ file = \"/dev/null\" }",
        "{ env = \"SWITCHYARD_TEST_SURELY_UNSET_VAR\" }",
    ) + "\n[routes.auto]\ncandidates = [\"gpt-4o-mini\"]\n";
    let c = Config::from_toml(&text, None, None).unwrap();
    assert!(c.providers.is_empty() && c.models.is_empty());
    assert!(c.warnings[0].contains("SWITCHYARD_TEST_SURELY_UNSET_VAR"));
    assert!(c.routes["auto"].candidates.is_empty());
}

#[test]
fn cross_references_are_checked() {
    let e = err(&MINIMAL.replace("provider = \"openai\"", "provider = \"nope\""));
    assert_eq!(e, "models[0].provider: no provider named 'nope'");
    let e = err(&(MINIMAL.to_owned() + "\n[routes.auto]\ncandidates = [\"gpt-9\"]\n"));
    assert_eq!(e, "routes.auto.candidates[0]: no model named 'gpt-9'");
    let e = err(&MINIMAL.replace("kind = \"openai\"", "kind = \"skynet\""));
    assert!(
        e.starts_with("providers.openai.kind: unknown variant `skynet`"),
        "{e}"
    );
}

#[test]
fn mock_placeholder_needs_the_demo() {
    let text = MINIMAL.replace("https://api.openai.com/v1", "http://{mock}/openai/v1");
    assert!(err(&text).contains("only `switchyard demo` provides"));
    let c = Config::from_toml(&text, None, Some("127.0.0.1:9")).unwrap();
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:9/openai/v1");
}

#[test]
fn demo_and_production_examples_load() {
    let demo = Config::from_toml(crate::DEMO_CONFIG, None, Some("127.0.0.1:1")).unwrap();
    assert!(demo.providers.len() >= 4);
    assert_eq!(demo.keys[0].sha256, key_digest("sk-switchyard-demo"));
    let prod = include_str!("../../config/gateway.toml");
    // Without provider keys in the environment every provider is disabled, not an error.
    Config::from_toml(prod, None, None).unwrap();
}

#[test]
fn gateway_keys_are_kept_only_hashed() {
    let text = MINIMAL.to_owned() + "\n[[keys]]\nid = \"k\"\nkey_sha256 = \"zz\"\ntenant = \"t\"\n";
    assert_eq!(err(&text), "keys[0].key_sha256: expected 64 hex characters");
    let c = Config::from_toml(
        &(MINIMAL.to_owned()
            + "\n[[keys]]\nid = \"k\"\nkey = { value = \"sk-1\" }\ntenant = \"t\"\n"),
        None,
        None,
    )
    .unwrap();
    assert_eq!(c.keys[0].sha256, key_digest("sk-1"));
    assert_eq!(c.keys[0].tier, "default");
    assert!(!format!("{c:?}").contains("sk-1"));
}

#[test]
fn rechunk_is_off_by_default_and_validated_when_on() {
    let c = Config::from_toml(MINIMAL, None, None).unwrap();
    assert_eq!(c.dispatch.rechunk, None);

    let on = format!("{MINIMAL}\n[streaming]\nrechunk = {{}}\n");
    let c = Config::from_toml(&on, None, None).unwrap();
    assert_eq!(c.dispatch.rechunk, Some(RechunkConfig::default()));

    let custom = format!("{MINIMAL}\n[streaming.rechunk]\ncoalesce_ms = 5\nmax_chunk_chars = 64\n");
    let r = Config::from_toml(&custom, None, None)
        .unwrap()
        .dispatch
        .rechunk
        .unwrap();
    assert_eq!(r.coalesce, Duration::from_millis(5));
    assert_eq!(r.max_chunk_chars, 64);

    let e = err(&format!(
        "{MINIMAL}\n[streaming.rechunk]\nmax_chunk_chars = 0\n"
    ));
    assert!(e.starts_with("streaming.rechunk.max_chunk_chars: "), "{e}");
    let e = err(&format!(
        "{MINIMAL}\n[streaming.rechunk]\ncoalesce_ms = 5000\n"
    ));
    assert!(e.starts_with("streaming.rechunk.coalesce_ms: "), "{e}");
    let e = err(&format!("{MINIMAL}\n[streaming.rechunk]\ncoalesce = 5\n"));
    assert!(e.starts_with("streaming.rechunk"), "{e}");
}

#[test]
fn h2c_is_off_by_default_and_only_for_plain_http() {
    let c = Config::from_toml(MINIMAL, None, None).unwrap();
    assert_eq!(c.providers[0].h2c, H2c::Off);
    let e = err(&MINIMAL.replace("keys = [", "h2c = true\nkeys = ["));
    assert!(e.starts_with("providers.openai.h2c: "), "{e}");
    let plain = |h2c: &str| {
        MINIMAL
            .replace("https://api.openai.com/v1", "http://127.0.0.1:9/v1")
            .replace("keys = [", &format!("h2c = {h2c}\nkeys = ["))
    };
    let h2c = |v: &str| Config::from_toml(&plain(v), None, None).map(|c| c.providers[0].h2c);
    assert_eq!(h2c("true").unwrap(), H2c::All);
    assert_eq!(h2c("false").unwrap(), H2c::Off);
    assert_eq!(h2c("\"streams\"").unwrap(), H2c::Streams);
    let e = err(&plain("\"sometimes\""));
    assert!(e.starts_with("providers.openai.h2c: "), "{e}");
    assert!(e.contains(r#"true, false or "streams""#), "{e}");
    // Streams only: a one-shot call stays on HTTP/1.1.
    assert!(H2c::Streams.for_request(true) && !H2c::Streams.for_request(false));
    assert!(H2c::All.for_request(false) && !H2c::Off.for_request(true));
}

#[test]
fn a_route_without_candidates_is_refused() {
    let e = err(&format!("{MINIMAL}\n[routes.auto]\ncandidates = []\n"));
    assert_eq!(
        e,
        "routes.auto.candidates: a route needs at least one candidate"
    );
}

#[test]
fn listen_addresses_are_checked_at_load() {
    let server = |key: &str, addr: &str| format!("[server]\n{key} = \"{addr}\"\n{MINIMAL}");
    let e = err(&server("listen", "not an address"));
    assert!(e.starts_with("server.listen: expected host:port"), "{e}");
    let e = err(&server("listen", "127.0.0.1:70000"));
    assert_eq!(
        e,
        "server.listen: port 70000 is out of range: expected 0 to 65535"
    );
    let e = err(&server("metrics_listen", "127.0.0.1"));
    assert!(
        e.starts_with("server.metrics_listen: expected host:port"),
        "{e}"
    );
    let e = err(&server("listen", &"h".repeat(10_000)));
    assert!(e.len() < 300, "{e}");
    for ok in [
        "localhost:8080",
        "0.0.0.0:0",
        "[::1]:65535",
        "gateway.internal:443",
    ] {
        let c = Config::from_toml(&server("listen", ok), None, None).unwrap();
        assert_eq!(c.listen, ok);
    }
    for bad in [":8080", "[::1:80", "::1:80", "host:", "host:8o"] {
        let e = err(&server("listen", bad));
        assert!(e.starts_with("server.listen: "), "{bad}: {e}");
    }
}

#[test]
fn syntax_errors_and_duplicate_keys_keep_their_line() {
    let e = err("[server]\nlisten = \"127.0.0.1:1\"\nworkers = = 2\n");
    assert!(e.starts_with("config: line 3, column "), "{e}");
    let e = err(&format!("{MINIMAL}context_window = 1\n"));
    assert!(e.starts_with("config: line 13, column 1: "), "{e}");
    assert!(e.contains("duplicate key"), "{e}");
    let e = err(&format!(
        "{MINIMAL}\n[providers.openai]\nkind = \"openai\"\n"
    ));
    assert!(e.contains("line 14, column "), "{e}");
}

#[test]
fn out_of_range_integers_say_what_is_expected() {
    let e = err(&format!("[dispatch]\nmax_attempts = -3\n{MINIMAL}"));
    assert_eq!(
        e,
        "dispatch.max_attempts: expected a non-negative integer, got -3"
    );
    let e = err(&format!("[dispatch]\nmax_attempts = 5000000000\n{MINIMAL}"));
    assert_eq!(
        e,
        "dispatch.max_attempts: expected an integer from 0 to 4294967295, got 5000000000"
    );
}

#[test]
fn a_bare_string_secret_says_what_is_expected_without_echoing_it() {
    let e = err(&MINIMAL.replace("{ file = \"/dev/null\" }", "\"sk-live-123\""));
    assert_eq!(
        e,
        r#"providers.openai.keys[0]: expected a secret source: { env = "NAME" } or { file = "path" }, not a string"#
    );
    let e = err(&format!("[admin]\ntoken = \"adm-secret\"\n{MINIMAL}"));
    assert_eq!(
        e,
        r#"admin.token: expected a secret source: { env = "NAME" }, { file = "path" } or { value = "..." }, not a string"#
    );
    let e =
        err(&(MINIMAL.to_owned() + "\n[[keys]]\nid = \"k\"\nkey = \"sk-gw-1\"\ntenant = \"t\"\n"));
    assert!(
        e.starts_with("keys[0].key: expected a secret source"),
        "{e}"
    );
    assert!(
        e.contains("{ value = \"...\" }") && !e.contains("sk-gw-1"),
        "{e}"
    );
    // The table forms still work, unknown fields still name themselves.
    let e = err(&MINIMAL.replace("{ file = ", "{ fil = "));
    assert!(e.starts_with("providers.openai.keys[0]"), "{e}");
    assert!(e.contains("fil"), "{e}");
}
