//! Whether this instance can serve sign-ins: the readiness a load balancer
//! asks for, answered by the core so the gateway never reaches the store.

use crate::error::Result;
use crate::idp::Idp;

impl Idp {
    /// Ready when the state store answers: without it nobody can sign in.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }
}
