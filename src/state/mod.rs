//! State that replicas share. The embedded default shares nothing: every counter lives
//! in process. With `[cluster]`, [`Redis`] connects to the shared engine and
//! [`rate::GlobalLimits`] enforces each provider key's RPM and TPM across all
//! replicas with one atomic server-side script per admission, and [`events`] carries
//! admin changes to every replica (docs/scale-out.md).
//!
//! - [`engine`]: the connection (its own thread and runtime), its health, the replica
//!   registry behind `/admin/cluster`;
//! - [`events`]: admin changes (weights) published to every replica;
//! - [`rate`]: the provider token buckets across replicas.

pub mod engine;
pub mod events;
pub mod rate;

pub use engine::{Redis, ReplicaInfo};

/// A failure to start the shared-state engine.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot start the cluster engine: {0}")]
    Start(String),
}
