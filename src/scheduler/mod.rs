//! Chooses which model answers: resolves the request's `model` (a model, a
//! `provider/model`, or a route) into an ordered plan of candidates.

pub mod plan;

pub use plan::{Plan, Router};
