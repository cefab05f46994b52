//! The provider's runtime state, held by the hub. It names nothing above the
//! store, so the hub can hold it without importing the protocol.

use std::sync::Arc;

use tokio::sync::RwLock;

use super::keys::KeySet;

#[derive(Debug)]
pub(crate) struct CachedKeys {
    pub(crate) checked_at: i64,
    pub(crate) housekept_at: i64,
    pub(crate) kids: Vec<String>,
    pub(crate) keys: Arc<KeySet>,
}

/// The provider's runtime state: the cached key set and the HTTP client for
/// back-channel logout.
#[derive(Debug, Default)]
pub struct Provider {
    pub(crate) keys: RwLock<Option<CachedKeys>>,
    pub(crate) forced_reload_at: std::sync::atomic::AtomicI64,
    pub(crate) http: std::sync::OnceLock<reqwest::Client>,
}
