//! `[[models]]`: one model at one provider, with its prices, context window, output cap
//! and the latency assumed before any is measured (what an entry leaves out comes from
//! the built-in [`super::catalogue`]); and `Models`, the checked list that routes and
//! tiers name their candidates and fallbacks against.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::providers::Providers;
use super::raw::{H2c, RawModel};
use super::{ConfigError, Prices, ProviderConfig, ProviderKind, RateLimits, invalid};

/// Default `max_output_tokens`, sent when the client gives none (Anthropic requires
/// one): long enough for most answers and within every current model's output cap.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;
/// Default `prior_latency_ms`: about what a hosted model takes for a short answer, so
/// an unmeasured model is neither favoured nor shunned until it has been measured.
pub const DEFAULT_PRIOR_LATENCY_MS: u64 = 1000;

/// One model at one provider.
#[derive(Debug)]
pub struct ModelConfig {
    /// Position in [`super::Config::models`], used to index live state.
    pub index: usize,
    pub name: Arc<str>,
    pub provider: Arc<ProviderConfig>,
    pub upstream: String,
    pub prices: Prices,
    pub context_window: u32,
    pub max_output_tokens: u32,
    /// Latency assumed before anything is measured.
    pub prior_latency_ms: f64,
}

impl ModelConfig {
    /// A model at a provider of its own, outside any config: for adapter tests and
    /// translation benchmarks. Prices are 1 USD per million tokens either way.
    pub fn standalone(
        kind: ProviderKind,
        base_url: &str,
        upstream: &str,
        max_output_tokens: u32,
    ) -> Self {
        Self {
            index: 0,
            name: upstream.into(),
            provider: Arc::new(ProviderConfig {
                index: 0,
                name: kind.as_str().into(),
                kind,
                base_url: base_url.to_owned(),
                keys: Vec::new(),
                key_sources: Vec::new(),
                timeout: Duration::from_secs(60),
                first_byte_timeout: Duration::from_secs(30),
                limits: RateLimits::default(),
                h2c: H2c::Off,
            }),
            upstream: upstream.to_owned(),
            prices: Prices {
                input: 1.0,
                output: 1.0,
                cached_input: 1.0,
            },
            context_window: 128_000,
            max_output_tokens,
            prior_latency_ms: 1000.0,
        }
    }
}

/// The models that loaded, and the names (`NAME` and `PROVIDER/NAME`) of those dropped
/// with a disabled provider: routes and tiers may still list those.
#[derive(Debug, Default)]
pub(super) struct Models {
    pub(super) enabled: Vec<Arc<ModelConfig>>,
    disabled: HashSet<String>,
}

impl Models {
    /// Whether a loaded model is called `name`.
    pub(super) fn has_name(&self, name: &str) -> bool {
        self.enabled.iter().any(|m| *m.name == *name)
    }

    /// Whether `c` names a loaded model, as `NAME` or `PROVIDER/NAME`.
    fn knows(&self, c: &str) -> bool {
        self.enabled
            .iter()
            .any(|m| *m.name == *c || format!("{}/{}", m.provider.name, m.name) == c)
    }

    /// The model names in `list` that loaded; names of dropped models are left out,
    /// any other name is an error at `at[i]`.
    pub(super) fn check_refs(
        &self,
        at: &str,
        list: Vec<String>,
    ) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (i, c) in list.into_iter().enumerate() {
            if self.knows(&c) {
                out.push(c);
            } else if !self.disabled.contains(&c) {
                return Err(invalid(
                    format!("{at}[{i}]"),
                    format!("no model named '{c}'"),
                ));
            }
        }
        Ok(out)
    }
}

/// Checks every `[[models]]` against the providers that loaded; `notes` gets a line
/// for each set price that differs from the catalogue's.
pub(super) fn validate(
    raw: Vec<RawModel>,
    providers: &Providers,
    notes: &mut Vec<String>,
) -> Result<Models, ConfigError> {
    let mut out = Models::default();
    let mut seen = HashSet::new();
    for (i, m) in raw.into_iter().enumerate() {
        let at = format!("models[{i}]");
        check_name(&at, &m, &mut seen)?;
        let Some(provider) = providers.enabled.iter().find(|p| *p.name == *m.provider) else {
            if providers.disabled.contains(&m.provider) {
                out.disabled.insert(format!("{}/{}", m.provider, m.name));
                out.disabled.insert(m.name);
                continue;
            }
            return Err(invalid(
                format!("{at}.provider"),
                format!("no provider named '{}'", m.provider),
            ));
        };
        let known = resolve(&at, &m, provider.kind, notes)?;
        check_numbers(&at, &known)?;
        let model = model(out.enabled.len(), m, known, provider.clone());
        out.enabled.push(Arc::new(model));
    }
    Ok(out)
}

/// A name is non-empty, has no `/` (that separates `PROVIDER/NAME`) and is listed
/// once per provider.
fn check_name(
    at: &str,
    m: &RawModel,
    seen: &mut HashSet<(String, String)>,
) -> Result<(), ConfigError> {
    if m.name.is_empty() || m.name.contains('/') {
        return Err(invalid(
            format!("{at}.name"),
            "expected a non-empty name without '/'",
        ));
    }
    if !seen.insert((m.name.clone(), m.provider.clone())) {
        return Err(invalid(
            format!("{at}.name"),
            format!(
                "model {} is listed twice for provider {}",
                m.name, m.provider
            ),
        ));
    }
    Ok(())
}

/// An entry's numbers: those it sets, the rest from the catalogue.
struct Known {
    prices: Prices,
    context_window: u32,
    max_output_tokens: u32,
}

/// [`Known`] for `m` at a provider of `kind`: a field the entry leaves out comes from
/// the catalogue entry of its provider id, and without one, is an error naming it.
fn resolve(
    at: &str,
    m: &RawModel,
    kind: ProviderKind,
    notes: &mut Vec<String>,
) -> Result<Known, ConfigError> {
    let id = m.upstream.as_deref().unwrap_or(&m.name);
    let listed = super::catalogue::lookup(kind, id);
    let need = |field: &str, set: Option<f64>, from: Option<f64>| {
        set.or(from).ok_or_else(|| {
            invalid(
                format!("{at}.{field}"),
                format!(
                    "required: '{id}' is not in the built-in catalogue for kind {} \
                     (config/catalogue.toml), so set {field}",
                    kind.as_str()
                ),
            )
        })
    };
    let input = need(
        "input_per_mtok_usd",
        m.input_per_mtok_usd,
        listed.map(|e| e.input),
    )?;
    let output = need(
        "output_per_mtok_usd",
        m.output_per_mtok_usd,
        listed.map(|e| e.output),
    )?;
    let window = need(
        "context_window",
        m.context_window.map(f64::from),
        listed.map(|e| f64::from(e.context_window)),
    )?;
    if let Some(e) = listed {
        for (field, set, list) in [
            ("input_per_mtok_usd", m.input_per_mtok_usd, Some(e.input)),
            ("output_per_mtok_usd", m.output_per_mtok_usd, Some(e.output)),
            (
                "cached_input_per_mtok_usd",
                m.cached_input_per_mtok_usd,
                e.cached_input,
            ),
        ] {
            if let (Some(set), Some(list)) = (set, list)
                && (set - list).abs() > 1e-9
            {
                notes.push(format!(
                    "{at}.{field} = {set} for {id}, the catalogue lists {list} (a negotiated price, or a stale one?)"
                ));
            }
        }
    }
    let cached_input = m
        .cached_input_per_mtok_usd
        .or(listed
            .and_then(|e| e.cached_input)
            .filter(|_| m.input_per_mtok_usd.is_none()))
        .unwrap_or(input);
    Ok(Known {
        prices: Prices {
            input,
            output,
            cached_input,
        },
        context_window: window as u32,
        // The cap sent when a client gives none stays the default (the catalogue's is
        // the model's limit, far above what most answers need), within that limit.
        max_output_tokens: m.max_output_tokens.unwrap_or_else(|| {
            listed.map_or(DEFAULT_MAX_OUTPUT_TOKENS, |e| {
                e.max_output_tokens.min(DEFAULT_MAX_OUTPUT_TOKENS)
            })
        }),
    })
}

/// Prices are finite and not negative; the context window is not zero.
fn check_numbers(at: &str, m: &Known) -> Result<(), ConfigError> {
    for (field, v) in [
        ("input_per_mtok_usd", m.prices.input),
        ("output_per_mtok_usd", m.prices.output),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(invalid(format!("{at}.{field}"), "expected a price >= 0"));
        }
    }
    if m.context_window == 0 {
        return Err(invalid(
            format!("{at}.context_window"),
            "expected a number > 0",
        ));
    }
    Ok(())
}

/// The checked model, defaults filled in.
fn model(index: usize, m: RawModel, known: Known, provider: Arc<ProviderConfig>) -> ModelConfig {
    ModelConfig {
        index,
        prior_latency_ms: m.prior_latency_ms.unwrap_or(DEFAULT_PRIOR_LATENCY_MS) as f64,
        upstream: m.upstream.unwrap_or_else(|| m.name.clone()),
        name: m.name.into(),
        provider,
        prices: known.prices,
        context_window: known.context_window,
        max_output_tokens: known.max_output_tokens,
    }
}
