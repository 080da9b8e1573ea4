//! Chooses which model answers each request.
//!
//! The [`actor::SchedulerActor`] owns weights and the latest health of every provider
//! and publishes them as one immutable [`actor::Snapshot`]; request handlers load the
//! snapshot and run the pure [`plan::Planner`] (resolution, tiers, rules, fallbacks),
//! which assesses each [`candidate`] (expected cost and latency, or why it is left
//! out) and ranks them with [`score`] (weighted cost + latency + error and load
//! penalties) on their own thread, so no request ever waits on the actor.

pub mod actor;
pub mod candidate;
pub mod explain;
pub mod explore;
pub mod plan;
pub mod sample;
pub mod score;

pub use actor::{SchedulerActor, Snapshot};
pub use plan::{Draws, Plan, PlanRequest, Planner};
