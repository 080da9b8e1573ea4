//! `[tiers.NAME]`: what the gateway keys of a tier may use: which routes, with which
//! weights, and which models to fall back on.

use std::collections::BTreeMap;

use super::models::Models;
use super::raw::RawTier;
use super::{ConfigError, PartialWeights, RouteConfig, invalid, weights};

/// The tier of keys that name none. It needs no `[tiers.default]`: without one, its
/// keys may use every route.
pub const DEFAULT_TIER: &str = "default";

/// What keys of a tier may use.
#[derive(Debug, Clone, PartialEq)]
pub struct TierConfig {
    /// `None`: every route.
    pub routes: Option<Vec<String>>,
    pub weights: PartialWeights,
    pub fallbacks: Vec<String>,
}

/// Checks every `[tiers.NAME]` against the routes and models.
pub(super) fn validate(
    raw: BTreeMap<String, RawTier>,
    routes: &BTreeMap<String, RouteConfig>,
    models: &Models,
) -> Result<BTreeMap<String, TierConfig>, ConfigError> {
    let mut tiers = BTreeMap::new();
    for (name, t) in raw {
        let at = format!("tiers.{name}");
        for (i, r) in t.routes.iter().flatten().enumerate() {
            if !routes.contains_key(r) {
                return Err(invalid(
                    format!("{at}.routes[{i}]"),
                    format!("no route named '{r}'"),
                ));
            }
        }
        let weights = weights::validate_at(&at, t.weights)?;
        tiers.insert(
            name,
            TierConfig {
                routes: t.routes,
                weights,
                fallbacks: models.check_refs(&format!("{at}.fallbacks"), t.fallbacks)?,
            },
        );
    }
    Ok(tiers)
}
