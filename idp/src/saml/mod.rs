//! The SAML 2.0 identity provider: metadata, SP-initiated SSO over
//! HTTP-Redirect and HTTP-POST, IdP-initiated SSO from the portal tile,
//! signed responses and assertions (RSA-SHA256, exclusive c14n, through
//! `samael`'s xmlsec binding), and single logout in both directions.
//!
//! This is the engine: functions over typed requests (a binding's
//! parameters, the browser's session) that return typed outcomes (an
//! assertion or a SAML status for an ACS, a logout message for an SP, a
//! page for the user), with no HTTP in them. The web layer's handlers
//! (`web/saml/`) read requests and render those outcomes.
//!
//! One file per job: [`decode`] (wire to element tree), [`wire`] (messages),
//! [`dsig`] (what a signature may ask of the verifier), [`signature`], [`keys`], [`config`], [`sps`] (the SP registry),
//! [`response`] (what is sent), [`binding`] (how it travels), [`sso`] (the
//! decisions of a sign-in), [`slo`] (logout) and [`metadata`].

pub mod attributes;
pub mod binding;
pub mod config;
pub mod decode;
pub mod dsig;
pub mod keys;
pub mod metadata;
pub mod provider;
pub mod response;
pub mod signature;
pub mod slo;
pub mod sps;
pub mod sso;
pub mod wire;

use crate::paths;
use std::sync::Arc;

use crate::clock;
use crate::error::Result;
use crate::idp::Idp;
pub use config::{SamlConfig, ServiceProviderConfig};
use keys::SamlKeys;
pub use provider::Provider;

/// Certificates are re-read this often, so a rotation made by
/// `portcullis admin keys rotate-saml` (another process) reaches every instance.
const KEY_REFRESH_SECS: i64 = 60;

impl Idp {
    /// The IdP's entity ID: configured, or `<public URL>/saml/metadata`.
    pub fn saml_entity_id(&self) -> String {
        self.config
            .saml
            .entity_id
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.issuer(), paths::SAML_METADATA))
    }

    /// The current certificates, generating the first on first use.
    pub async fn saml_keys(&self) -> Result<Arc<SamlKeys>> {
        let now = clock::now();
        if let Some((at, keys)) = &*self.saml.keys.read().await
            && now - at < KEY_REFRESH_SECS
        {
            return Ok(keys.clone());
        }
        let mut slot = self.saml.keys.write().await;
        if let Some((at, keys)) = &*slot
            && now - at < KEY_REFRESH_SECS
        {
            return Ok(keys.clone());
        }
        let overlap = self.config.saml.cert_overlap.as_secs() as i64;
        self.store.drop_retired_saml_certs(now - overlap).await?;
        // Housekeeping rides on the refresh: once a minute per instance.
        let purged = self.store.purge_saml(now).await?;
        if purged > 0 {
            tracing::debug!(purged, "expired SAML requests and sessions removed");
        }
        let keys = Arc::new(
            SamlKeys::load_or_create(
                &self.store,
                &self.keys.secret_box(),
                &self.saml_entity_id(),
                self.config.saml.cert_validity_days,
                now,
            )
            .await?,
        );
        keys.write_pems(&self.config.store.data_dir.join("saml"));
        *slot = Some((now, keys.clone()));
        Ok(keys)
    }

    /// Forgets the cached certificates (after a rotation in this process).
    pub async fn reload_saml_keys(&self) {
        *self.saml.keys.write().await = None;
    }
}
