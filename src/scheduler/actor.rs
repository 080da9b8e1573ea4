//! The scheduler actor: owns the weights and the latest health of every provider and
//! model, and publishes them as one immutable [`Snapshot`] that request handlers load
//! without waiting on anyone. Provider actors report with `do_send`; the admin API
//! changes weights with a message whose reply is the new effective weights, after the
//! snapshot that the very next request reads has been published.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, Supervised};
use arc_swap::ArcSwap;

use super::weights::{PartialWeights, Weights, WeightsError};
use crate::config::Config;
use crate::providers::health::{ModelHealth, ProviderHealth};

/// Weights at every scope.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WeightTable {
    pub global: Weights,
    pub routes: BTreeMap<String, PartialWeights>,
    pub tiers: BTreeMap<String, PartialWeights>,
}

impl WeightTable {
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
}

/// Where a weights change applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Global,
    Route(String),
    Tier(String),
}

/// A provider actor's latest health.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct HealthUpdate {
    pub provider: usize,
    pub health: ProviderHealth,
    /// `(ModelConfig::index, health)` for the provider's models.
    pub models: Vec<(usize, ModelHealth)>,
}

/// Changes weights; replies with the scope's new effective weights.
#[derive(Debug, Message)]
#[rtype(result = "Result<Weights, WeightsError>")]
pub struct SetWeights {
    pub scope: Scope,
    pub weights: PartialWeights,
}

/// The scheduler actor.
pub struct SchedulerActor {
    board: Arc<ArcSwap<Snapshot>>,
    providers: Vec<ProviderHealth>,
    models: Vec<ModelHealth>,
    weights: WeightTable,
    version: u64,
}

impl SchedulerActor {
    /// Builds the actor and the board it publishes to.
    pub fn new(config: &Config) -> (Self, Arc<ArcSwap<Snapshot>>) {
        let weights = WeightTable {
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
        };
        let providers = vec![ProviderHealth::unknown(); config.providers.len()];
        let models = vec![ModelHealth::default(); config.models.len()];
        let board = Arc::new(ArcSwap::from_pointee(Snapshot {
            version: 0,
            providers: providers.clone(),
            models: models.clone(),
            weights: weights.clone(),
        }));
        let actor = Self {
            board: board.clone(),
            providers,
            models,
            weights,
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
        }));
        crate::metrics::record_weights(&self.weights);
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

fn merge(base: PartialWeights, over: PartialWeights) -> PartialWeights {
    PartialWeights {
        price: over.price.or(base.price),
        latency: over.latency.or(base.latency),
        errors: over.errors.or(base.errors),
    }
}
