//! The upstream identity providers of `[federation]` and how each is
//! doing, for the console and the API. Read-only: providers are declared
//! in the configuration file.

use serde::Serialize;

use crate::federation::routing::Provider;
use crate::federation::status::Status;
use crate::idp::Idp;

/// One upstream provider as an administrator reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    /// `oidc` or `saml`.
    pub kind: &'static str,
    /// The email domains it signs in.
    pub domains: Vec<String>,
    /// The OIDC issuer, or the entity ID the SAML metadata names (absent
    /// until the metadata was read).
    pub issuer: Option<String>,
    /// Where its discovery document or metadata is read from.
    pub metadata: String,
    /// Unix seconds of the last successful read of it on this instance.
    pub fetched_at: Option<i64>,
    /// The last failed read, and why.
    pub error_at: Option<i64>,
    pub error: Option<String>,
    /// The last refused sign-in through it, and why.
    pub signin_failure_at: Option<i64>,
    pub signin_failure: Option<String>,
    /// The earliest expiry of its signing certificates (SAML), unix seconds.
    pub cert_not_after: Option<i64>,
}

/// Every configured provider, in configuration order.
pub fn list(idp: &Idp) -> Vec<ProviderView> {
    idp.federation.providers().map(|p| view(p)).collect()
}

fn view(p: &Provider) -> ProviderView {
    let c = p.common();
    let Status {
        fetched_at,
        error_at,
        error,
        signin_failure_at,
        signin_failure,
        entity_id,
        cert_not_after,
    } = p.status().get();
    let (kind, issuer, metadata) = match p {
        Provider::Oidc(o) => (
            "oidc",
            Some(o.issuer().to_string()),
            format!(
                "{}/.well-known/openid-configuration",
                o.issuer().trim_end_matches('/')
            ),
        ),
        Provider::Saml(s) => ("saml", entity_id, s.metadata_source()),
    };
    ProviderView {
        id: c.id.clone(),
        name: c.name.clone(),
        kind,
        domains: c.domains.clone(),
        issuer,
        metadata,
        fetched_at,
        error_at,
        error,
        signin_failure_at,
        signin_failure,
        cert_not_after,
    }
}
