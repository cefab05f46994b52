//! The IdP's runtime state, held by the hub. It names nothing above the
//! store, so the hub can hold it without importing the protocol.

use std::sync::Arc;

use tokio::sync::RwLock;

use super::keys::SamlKeys;

/// The IdP's runtime state: the cached certificates.
#[derive(Debug, Default)]
pub struct Provider {
    pub(crate) keys: RwLock<Option<(i64, Arc<SamlKeys>)>>,
}
