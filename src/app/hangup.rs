//! What SIGHUP does: the whole config re-read and applied exactly as `POST
//! /admin/reload` does it (an invalid file or a change that needs a restart leaves
//! everything as it was, and says so in the log), or, for a gateway on the embedded demo
//! config that has no file, the provider keys only.

use actix_web::web;

use crate::api::AppState;
use crate::reload::{KeyReloader, ReloadError};

/// A handle `main` calls on each SIGHUP.
#[derive(Clone)]
pub struct Hangup {
    pub(super) state: web::Data<AppState>,
    pub(super) keys: KeyReloader,
}

/// What one SIGHUP did, for the log and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum HangupOutcome {
    /// The config was reloaded; the paths that changed.
    Reloaded(Vec<String>),
    /// No config file: the provider keys were re-read (providers reloaded).
    KeysOnly(usize),
    /// Nothing applied; the reason.
    Refused(String),
}

impl Hangup {
    /// Reloads, logs the outcome, and returns it.
    pub async fn reload(&self) -> HangupOutcome {
        let outcome = match self.state.reloader.reload(self.state.live()).await {
            Ok(done) => HangupOutcome::Reloaded(done.changed),
            Err(ReloadError::NoFile) => match self.keys.reload() {
                Ok(loaded) => HangupOutcome::KeysOnly(loaded.len()),
                Err(e) => HangupOutcome::Refused(format!("provider keys not reloaded: {e}")),
            },
            Err(e) => HangupOutcome::Refused(e.to_string()),
        };
        match &outcome {
            HangupOutcome::Reloaded(changed) => tracing::info!(
                changed = changed.len(),
                paths = %changed.join(","),
                "SIGHUP: config reloaded"
            ),
            HangupOutcome::KeysOnly(n) => tracing::info!(
                providers = n,
                "SIGHUP: no config file (embedded demo config); provider keys reloaded"
            ),
            HangupOutcome::Refused(why) => tracing::error!(error = %why, "SIGHUP: {why}"),
        }
        outcome
    }
}
