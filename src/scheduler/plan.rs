//! Plans: the ordered candidates a request may be answered by.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, ModelConfig};
use crate::error::GatewayError;

/// Candidates in the order they will be tried.
pub type Plan = Vec<Arc<ModelConfig>>;

/// Resolves names to candidates. Built once from the config; lookups allocate only the plan.
#[derive(Debug, Default)]
pub struct Router {
    /// Model name → every provider's offer of it, in config order.
    by_name: HashMap<String, Vec<Arc<ModelConfig>>>,
    /// `provider/model` → that one offer.
    by_qualified: HashMap<String, Arc<ModelConfig>>,
    /// Route name → its candidates, expanded.
    routes: HashMap<String, Vec<Arc<ModelConfig>>>,
    /// Route names in config order, for listings.
    route_names: Vec<String>,
}

impl Router {
    /// Indexes the config's models and routes.
    pub fn new(config: &Config) -> Self {
        let mut r = Self::default();
        for m in &config.models {
            r.by_name.entry(m.name.clone()).or_default().push(m.clone());
            r.by_qualified
                .insert(format!("{}/{}", m.provider.name, m.name), m.clone());
        }
        for (name, candidates) in &config.routes {
            let mut expanded = Vec::new();
            for c in candidates {
                if let Some(m) = r.by_qualified.get(c) {
                    expanded.push(m.clone());
                } else if let Some(ms) = r.by_name.get(c) {
                    expanded.extend(ms.iter().cloned());
                }
            }
            r.routes.insert(name.clone(), expanded);
            r.route_names.push(name.clone());
        }
        r
    }

    /// The plan for a request's `model` field (or a route header that overrides it).
    pub fn plan(&self, model: &str) -> Result<Plan, GatewayError> {
        if let Some(route) = self.routes.get(model) {
            if route.is_empty() {
                return Err(GatewayError::Unavailable {
                    message: format!("route '{model}' has no enabled candidates"),
                    retry_after: None,
                });
            }
            return Ok(route.clone());
        }
        if let Some(ms) = self.by_name.get(model) {
            return Ok(ms.clone());
        }
        if let Some(m) = self.by_qualified.get(model) {
            return Ok(vec![m.clone()]);
        }
        Err(GatewayError::ModelNotFound(model.to_owned()))
    }

    /// Distinct model names, in config order of first appearance.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Route names.
    pub fn route_names(&self) -> &[String] {
        &self.route_names
    }

    /// Every `provider/model` pair.
    pub fn offers(&self) -> impl Iterator<Item = &Arc<ModelConfig>> {
        self.by_qualified.values()
    }
}
