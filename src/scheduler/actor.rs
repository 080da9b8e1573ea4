//! The scheduler actor: owns the weights and the latest health of every provider and
//! model, and publishes them as one immutable [`Snapshot`] that request handlers load
//! without waiting on anyone. Provider actors report with `do_send`; the admin API
//! changes weights with a message whose reply is the new effective weights, after the
//! snapshot that the very next request reads has been published. A config reload
//! (`POST /admin/reload`) is one message too: the new config, its planner and the
//! file's weights go out in a single snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, Supervised};
use arc_swap::ArcSwap;

use super::plan::Planner;
use crate::config::Config;
use crate::config::weights::{PartialWeights, Weights, WeightsError};
use crate::providers::health::{HealthUpdate, ModelHealth, ProviderHealth};

/// Weights at every scope.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WeightTable {
    pub global: Weights,
    pub routes: BTreeMap<String, PartialWeights>,
    pub tiers: BTreeMap<String, PartialWeights>,
}

impl WeightTable {
    /// Publishes the effective weights of every scope as gauges.
    pub fn record(&self) {
        crate::metrics::record_weights("global", "global", self.global);
        for (scope, table) in [("route", &self.routes), ("tier", &self.tiers)] {
            for (name, partial) in table {
                crate::metrics::record_weights(scope, name, partial.apply(self.global));
            }
        }
    }

    /// The weights the config file sets (every tier, and `default`, present).
    pub fn from_config(config: &Config) -> Self {
        Self {
            global: config.scheduler.weights,
            routes: config
                .routes
                .iter()
                .map(|(n, r)| (n.clone(), r.weights))
                .collect(),
            tiers: config
                .tiers
                .iter()
                .map(|(n, t)| (n.clone(), t.weights))
                .chain(std::iter::once((
                    "default".to_owned(),
                    PartialWeights::default(),
                )))
                .collect(),
        }
    }

    /// The weights a request uses: global, then its tier, then its route, then its
    /// own header, each overriding the terms it sets.
    pub fn resolve(&self, tier: &str, route: Option<&str>, header: &PartialWeights) -> Weights {
        let mut w = self.global;
        if let Some(t) = self.tiers.get(tier) {
            w = t.apply(w);
        }
        if let Some(r) = route.and_then(|r| self.routes.get(r)) {
            w = r.apply(w);
        }
        header.apply(w)
    }
}

/// Everything the request path reads, as of one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases with every publication.
    pub version: u64,
    /// Indexed by `ProviderConfig::index`.
    pub providers: Vec<ProviderHealth>,
    /// Indexed by `ModelConfig::index`.
    pub models: Vec<ModelHealth>,
    pub weights: WeightTable,
    /// The running config (replaced whole by a reload).
    pub config: Arc<Config>,
    /// Routes, tiers and models indexed from `config`.
    pub planner: Arc<Planner>,
}

/// Where a weights change applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Global,
    Route(String),
    Tier(String),
}

/// Changes weights; replies with the scope's new effective weights.
#[derive(Debug, Message)]
#[rtype(result = "Result<Weights, WeightsError>")]
pub struct SetWeights {
    pub scope: Scope,
    pub weights: PartialWeights,
}

/// Replaces the config (a reload that [`crate::config::diff`] found live-applicable:
/// same providers and models at the same indices). The weights go back to the file's,
/// dropping changes made through `PUT /admin/weights`. The reply comes after the
/// snapshot is published.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Reconfigure {
    pub config: Arc<Config>,
    pub planner: Arc<Planner>,
}

/// The scheduler actor.
pub struct SchedulerActor {
    board: Arc<ArcSwap<Snapshot>>,
    providers: Vec<ProviderHealth>,
    models: Vec<ModelHealth>,
    weights: WeightTable,
    config: Arc<Config>,
    planner: Arc<Planner>,
    version: u64,
}

impl SchedulerActor {
    /// Builds the actor and the board it publishes to.
    pub fn new(config: Arc<Config>) -> (Self, Arc<ArcSwap<Snapshot>>) {
        let weights = WeightTable::from_config(&config);
        let planner = Arc::new(Planner::new(&config));
        let providers = vec![ProviderHealth::unknown(); config.providers.len()];
        let models = vec![ModelHealth::default(); config.models.len()];
        let board = Arc::new(ArcSwap::from_pointee(Snapshot {
            version: 0,
            providers: providers.clone(),
            models: models.clone(),
            weights: weights.clone(),
            config: config.clone(),
            planner: planner.clone(),
        }));
        let actor = Self {
            board: board.clone(),
            providers,
            models,
            weights,
            config,
            planner,
            version: 0,
        };
        (actor, board)
    }

    fn publish(&mut self) {
        self.version += 1;
        self.board.store(Arc::new(Snapshot {
            version: self.version,
            providers: self.providers.clone(),
            models: self.models.clone(),
            weights: self.weights.clone(),
            config: self.config.clone(),
            planner: self.planner.clone(),
        }));
        self.weights.record();
    }

    fn effective(&self, scope: &Scope) -> Weights {
        match scope {
            Scope::Global => self.weights.global,
            Scope::Tier(t) => self.weights.resolve(t, None, &PartialWeights::default()),
            Scope::Route(r) => self
                .weights
                .resolve("", Some(r), &PartialWeights::default()),
        }
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.publish();
    }
}

impl Supervised for SchedulerActor {}

impl Handler<HealthUpdate> for SchedulerActor {
    type Result = ();

    fn handle(&mut self, msg: HealthUpdate, _ctx: &mut Context<Self>) {
        if let Some(p) = self.providers.get_mut(msg.provider) {
            *p = msg.health;
        }
        for (i, h) in msg.models {
            if let Some(m) = self.models.get_mut(i) {
                *m = h;
            }
        }
        self.publish();
    }
}

impl Handler<SetWeights> for SchedulerActor {
    type Result = Result<Weights, WeightsError>;

    fn handle(&mut self, msg: SetWeights, _ctx: &mut Context<Self>) -> Self::Result {
        msg.weights.validate()?;
        match &msg.scope {
            Scope::Global => self.weights.global = msg.weights.apply(self.weights.global),
            Scope::Route(r) => {
                let slot = self.weights.routes.get_mut(r).ok_or_else(|| WeightsError {
                    field: "route".to_owned(),
                    message: format!("no route named '{r}'"),
                })?;
                *slot = merge(*slot, msg.weights);
            }
            Scope::Tier(t) => {
                let slot = self.weights.tiers.get_mut(t).ok_or_else(|| WeightsError {
                    field: "tier".to_owned(),
                    message: format!("no tier named '{t}'"),
                })?;
                *slot = merge(*slot, msg.weights);
            }
        }
        self.publish();
        Ok(self.effective(&msg.scope))
    }
}

impl Handler<Reconfigure> for SchedulerActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, _ctx: &mut Context<Self>) {
        self.weights = WeightTable::from_config(&msg.config);
        self.config = msg.config;
        self.planner = msg.planner;
        self.publish();
    }
}

fn merge(base: PartialWeights, over: PartialWeights) -> PartialWeights {
    PartialWeights {
        price: over.price.or(base.price),
        latency: over.latency.or(base.latency),
        errors: over.errors.or(base.errors),
    }
}
