//! The built-in model catalogue (`config/catalogue.toml`, compiled in): each provider
//! kind's current models with list prices, context window, output cap and
//! capabilities, so a `[[models]]` entry may give only `name` and `provider`. Fields an
//! entry sets win; `check-config` notes a set price that differs from the catalogue's.

use std::sync::OnceLock;

use serde::Deserialize;

use super::ProviderKind;

/// The catalogue's text, as versioned in the repository.
pub const CATALOGUE_TOML: &str = include_str!("../../config/catalogue.toml");

/// One model of one provider kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kind: ProviderKind,
    /// The provider's own id (a `[[models]]` entry's `upstream`).
    pub model: String,
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million cached input tokens (a cache read), where billed.
    pub cached_input: Option<f64>,
    /// USD per million output tokens.
    pub output: f64,
    pub context_window: u32,
    pub max_output_tokens: u32,
    /// `tools`, `vision`, `json_schema`, `reasoning`.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    models: Vec<Entry>,
}

/// Every entry (parsed once; `tests` below hold the file valid, so a broken file is
/// an empty catalogue rather than a crash).
pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        toml::from_str::<File>(CATALOGUE_TOML)
            .map(|f| f.models)
            .unwrap_or_default()
    })
}

/// The entry for `model` at a provider of `kind`.
pub fn lookup(kind: ProviderKind, model: &str) -> Option<&'static Entry> {
    entries()
        .iter()
        .find(|e| e.kind == kind && e.model == model)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_catalogue_parses_and_every_entry_is_sane() {
        let file: File = toml::from_str(CATALOGUE_TOML).expect("config/catalogue.toml parses");
        assert!(file.models.len() >= 25);
        let mut seen = HashSet::new();
        for e in &file.models {
            assert!(seen.insert((e.kind, e.model.clone())), "{} twice", e.model);
            assert!(e.input > 0.0 && e.output >= e.input, "{}: prices", e.model);
            assert!(
                e.cached_input.is_none_or(|c| c < e.input),
                "{}: cache read",
                e.model
            );
            assert!(
                e.context_window >= e.max_output_tokens,
                "{}: window",
                e.model
            );
            for c in &e.capabilities {
                assert!(
                    ["tools", "vision", "json_schema", "reasoning"].contains(&c.as_str()),
                    "{}: capability {c}",
                    e.model
                );
            }
        }
        for kind in [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::Deepseek,
            ProviderKind::Qwen,
            ProviderKind::Mistral,
        ] {
            assert!(file.models.iter().any(|e| e.kind == kind), "{kind:?}");
        }
        assert_eq!(entries().len(), file.models.len());
    }

    #[test]
    fn lookup_is_by_kind_and_provider_id() {
        let e = lookup(ProviderKind::Openai, "gpt-4o-mini").expect("listed");
        assert_eq!((e.input, e.output, e.context_window), (0.15, 0.6, 128000));
        assert!(lookup(ProviderKind::Anthropic, "gpt-4o-mini").is_none());
        assert!(lookup(ProviderKind::OpenaiCompatible, "gpt-4o-mini").is_none());
    }
}
