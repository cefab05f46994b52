//! Whether this instance can serve sign-ins: the readiness a load balancer
//! asks for, answered by the core so the gateway never reaches the store.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::idp::Idp;

/// How long readiness waits for the store: a probe is answered within a
/// second whatever the database does.
pub const READY_WITHIN: Duration = Duration::from_millis(800);

/// Why this instance is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the state store does not answer: {0}")]
    Unreachable(#[source] Error),
    #[error("the state store is full: a write failed for want of space in the last {}s", crate::store::STORAGE_FULL_WINDOW.as_secs())]
    StorageFull,
}

impl Idp {
    /// Ready when the state store answers within [`READY_WITHIN`] and no
    /// write failed for want of space lately: without either nobody can
    /// sign in.
    pub async fn ready(&self) -> std::result::Result<(), NotReady> {
        if crate::store::storage_full_recently() {
            return Err(NotReady::StorageFull);
        }
        let pinged: Result<()> = self.store.ping(READY_WITHIN).await;
        pinged.map_err(NotReady::Unreachable)
    }
}

impl Idp {
    /// Closes the state store's connections: every later operation that
    /// needs it fails as unavailable. For shutdown, and for fault tests (a
    /// database that went away).
    pub async fn close_store(&self) {
        self.store.close().await;
    }
}
