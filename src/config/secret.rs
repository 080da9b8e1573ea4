//! Secrets (provider keys, gateway keys, the admin token) and where they are read from.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// A secret value. Never printed: `Debug` and `Display` show `*****`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

/// Where a secret comes from: `{ env = "NAME" }`, `{ file = "path" }`, or, for demo
/// credentials and simulated providers only, `{ value = "..." }`. Anything but a table
/// is refused with what is expected, without echoing it (a bare string is most likely
/// the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// Environment variable holding the secret.
    pub env: Option<String>,
    /// File holding the secret (trailing whitespace trimmed); relative to the config file.
    pub file: Option<String>,
    /// The secret itself. Allowed for gateway keys, the admin token and simulated
    /// providers; rejected for real provider keys.
    pub value: Option<String>,
}

/// What a secret source may be written as, for error messages.
const EXPECTED: &str =
    r#"a secret source: { env = "NAME" }, { file = "path" } or { value = "..." }"#;
/// The same for provider keys, which may not be literal.
const EXPECTED_PROVIDER_KEY: &str = r#"a secret source: { env = "NAME" } or { file = "path" }"#;

/// The table form of [`SecretSource`], as serde derives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

/// Reads a [`SecretSource`]; `expected` names the accepted forms when it is not a table.
struct SourceVisitor {
    expected: &'static str,
}

impl<'de> serde::de::Visitor<'de> for SourceVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretSource, E> {
        // Never `Unexpected::Str`: the string is likely the secret itself.
        Err(E::custom(format_args!(
            "expected {}, not a string",
            self.expected
        )))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<SecretSource, A::Error> {
        let f = Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(SecretSource {
            env: f.env,
            file: f.file,
            value: f.value,
        })
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SourceVisitor { expected: EXPECTED })
    }
}

/// `[providers.NAME] keys`: like `Vec<SecretSource>`, but a non-table entry is told that
/// only `env` and `file` are accepted.
pub(super) fn provider_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<SecretSource>, D::Error> {
    struct ProviderKey(SecretSource);
    impl<'de> Deserialize<'de> for ProviderKey {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(SourceVisitor {
                expected: EXPECTED_PROVIDER_KEY,
            })
            .map(ProviderKey)
        }
    }
    Ok(Vec::<ProviderKey>::deserialize(d)?
        .into_iter()
        .map(|k| k.0)
        .collect())
}

/// What resolving a source found.
#[derive(Debug)]
pub enum Resolved {
    Found(Secret),
    /// The named environment variable is not set.
    MissingEnv(String),
}

impl SecretSource {
    /// Whether the secret is written in the config text itself.
    pub fn is_literal(&self) -> bool {
        self.value.is_some()
    }

    /// Reads the secret. `at` is the config path for error messages.
    pub fn resolve(&self, at: &str, base_dir: Option<&Path>) -> Result<Resolved, ConfigError> {
        match (&self.env, &self.file, &self.value) {
            (Some(name), None, None) => Ok(match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Resolved::Found(Secret::new(v.trim())),
                _ => Resolved::MissingEnv(name.clone()),
            }),
            (None, Some(file), None) => {
                let path = match base_dir {
                    Some(dir) => dir.join(file),
                    None => file.into(),
                };
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                    path: at.to_owned(),
                    message: format!("cannot read secret file {}: {e}", path.display()),
                })?;
                Ok(Resolved::Found(Secret::new(text.trim())))
            }
            (None, None, Some(v)) => Ok(Resolved::Found(Secret::new(v.clone()))),
            _ => Err(ConfigError::Invalid {
                path: at.to_owned(),
                message: "give exactly one of `env`, `file` or `value`".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s} {s:?}"), "***** *****");
    }
}
