//! Weights: how much price, latency and errors count in a score, and where they come
//! from (global, tier, route, request header — later ones override earlier ones, term
//! by term).

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};
use crate::error::{echo, echo_number};

/// A full set of weights. Relative: `price 0.7, latency 0.3` and `7, 3` rank the same.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Weight of the normalised expected cost.
    pub price: f64,
    /// Weight of the normalised expected latency.
    pub latency: f64,
    /// Weight of the recent error rate (0..1) as a penalty.
    pub errors: f64,
}

impl Default for Weights {
    /// Even price and latency; errors weigh as much as both together, so a candidate
    /// failing half its requests ranks below one that is twice as dear and twice as slow.
    fn default() -> Self {
        Self {
            price: 0.5,
            latency: 0.5,
            errors: 1.0,
        }
    }
}

/// Weights with some terms unset, as written in config, admin calls and headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialWeights {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<f64>,
}

/// A weight that is not a finite number in 0..=100.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WeightsError {
    pub field: String,
    pub message: String,
}

/// The largest weight accepted; weights are relative, so this only catches typos.
pub const MAX_WEIGHT: f64 = 100.0;

impl PartialWeights {
    /// Overrides `base` term by term.
    pub fn apply(&self, base: Weights) -> Weights {
        Weights {
            price: self.price.unwrap_or(base.price),
            latency: self.latency.unwrap_or(base.latency),
            errors: self.errors.unwrap_or(base.errors),
        }
    }

    /// Whether no term is set.
    pub fn is_empty(&self) -> bool {
        self.price.is_none() && self.latency.is_none() && self.errors.is_none()
    }

    /// Checks every given term.
    pub fn validate(&self) -> Result<(), WeightsError> {
        for (field, v) in [
            ("price", self.price),
            ("latency", self.latency),
            ("errors", self.errors),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && (0.0..=MAX_WEIGHT).contains(&v))
            {
                return Err(WeightsError {
                    field: field.to_owned(),
                    message: format!(
                        "expected a number from 0 to {MAX_WEIGHT}, got {}",
                        echo_number(v)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Parses the `x-switchyard-weights` header: `price=0.7,latency=0.3[,errors=1]`.
    pub fn parse_header(text: &str) -> Result<Self, WeightsError> {
        let mut w = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| WeightsError {
                field: echo(part),
                message: "expected name=value".to_owned(),
            })?;
            let name = name.trim();
            let value: f64 = value.trim().parse().map_err(|_| WeightsError {
                field: echo(name),
                message: format!("'{}' is not a number", echo(value.trim())),
            })?;
            match name {
                "price" => w.price = Some(value),
                "latency" => w.latency = Some(value),
                "errors" => w.errors = Some(value),
                other => {
                    return Err(WeightsError {
                        field: echo(other),
                        message: "unknown weight: expected price, latency or errors".to_owned(),
                    });
                }
            }
        }
        w.validate()?;
        Ok(w)
    }
}

/// A config table's `weights` (absent: no term set), checked; errors name the path
/// `AT.weights.TERM`.
pub(super) fn validate_at(
    at: &str,
    weights: Option<PartialWeights>,
) -> Result<PartialWeights, ConfigError> {
    let weights = weights.unwrap_or_default();
    weights
        .validate()
        .map_err(|e| invalid(format!("{at}.weights.{}", e.field), e.message))?;
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parses_and_overrides_term_by_term() {
        let w = PartialWeights::parse_header("price=0.7, latency=0.3").unwrap();
        let full = w.apply(Weights::default());
        assert_eq!((full.price, full.latency, full.errors), (0.7, 0.3, 1.0));
    }

    #[test]
    fn bad_weights_name_the_field() {
        let e = PartialWeights::parse_header("price=abc").unwrap_err();
        assert_eq!(e.field, "price");
        let e = PartialWeights::parse_header("speed=1").unwrap_err();
        assert_eq!(e.field, "speed");
        let e = PartialWeights::parse_header("latency=-1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "latency: expected a number from 0 to 100, got -1"
        );
    }
}
