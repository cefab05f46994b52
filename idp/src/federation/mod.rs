//! Federated sign-in: upstream OpenID Connect providers (we are the relying
//! party) and SAML identity providers (we are the service provider), chosen
//! by the email's domain. Each module does one job:
//!
//! - [`config`]: the typed, validated `[federation]` section;
//! - [`routing`]: which provider owns an email domain;
//! - [`oidc`]: code flow with PKCE, state and nonce, ID token validation;
//! - [`saml`]: AuthnRequests, Response/Assertion validation, replay cache,
//!   metadata from a file or a refreshed URL;
//! - [`status`]: what each provider last did (metadata reads, failures);
//! - [`provision`]: from a verified upstream identity to a local account
//!   (link by subject, link by verified email, or just-in-time creation),
//!   group mapping and the MFA decision.
//!
//! No HTTP handlers here: the portal's `federation` pages sit on top.

pub mod config;
pub mod flow;
pub mod oidc;
pub mod provision;
pub mod routing;
pub mod saml;
pub mod status;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use config::{Common, FederationConfig};
pub use routing::Federation;

/// A verified identity as the upstream provider asserted it, before any
/// local decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    /// The provider's stable subject (`sub`, or the SAML NameID).
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches for the email (`email_verified`; SAML IdPs are
    /// trusted for the domains they own).
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub groups: Vec<String>,
    /// The provider says a second factor was used, in terms the
    /// configuration accepts (`amr`/`acr` or AuthnContextClassRef).
    pub upstream_mfa: bool,
    /// What ending the upstream session at sign-out needs, sealed later.
    #[serde(default)]
    pub logout_hint: Option<String>,
}

/// Why a federated sign-in failed. Each has a sentence for the person and
/// a detail for the audit log; neither carries a token or an assertion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider answered with an error: {code}")]
    ProviderError { code: String },
    #[error("the provider's answer was not valid: {0}")]
    Invalid(String),
    #[error("the answer was already used")]
    Replayed,
    #[error("the answer is to no sign-in started here")]
    UnknownRequest,
    #[error("the sign-in took too long or was started in another browser")]
    FlowLost,
    #[error("the provider did not give an email address")]
    NoEmail,
    #[error("the provider did not verify the email address")]
    EmailNotVerified,
    #[error("the email's domain does not belong to this provider")]
    ForeignDomain,
    #[error("no account exists and this provider may not create one")]
    NoAccount,
    #[error("the account is linked to another identity at this provider")]
    AlreadyLinked,
    #[error("the account is locked")]
    Locked(crate::directory::LockReason),
    #[error(transparent)]
    Internal(#[from] crate::Error),
}

impl FederationError {
    /// What the person is told, naming the provider.
    pub fn message(&self, provider: &str) -> String {
        match self {
            Self::Unreachable(_) => format!(
                "{provider} could not be reached. Try again in a few minutes, or contact your administrator."
            ),
            Self::ProviderError { .. } => {
                format!("{provider} did not sign you in. Try again, or contact your administrator.")
            }
            Self::Invalid(_) | Self::Replayed | Self::UnknownRequest => format!(
                "The answer from {provider} could not be accepted. Start again from the sign-in page."
            ),
            Self::FlowLost => format!(
                "The sign-in with {provider} took too long or was started elsewhere. Start again from the sign-in page."
            ),
            Self::NoEmail | Self::EmailNotVerified | Self::ForeignDomain => format!(
                "{provider} did not confirm an email address that may sign in here. Contact your administrator."
            ),
            Self::NoAccount => format!(
                "You signed in at {provider}, but there is no account for you here. Contact your administrator."
            ),
            Self::AlreadyLinked => format!(
                "Your account here is already linked to another {provider} identity. Contact your administrator."
            ),
            // A federated account has no password here to reset.
            Self::Locked(reason) => reason.advice(false).to_string(),
            Self::Internal(_) => "Something went wrong on our side. Try again.".to_string(),
        }
    }
}

/// The HTTP client for upstream calls: no redirects followed (the OAuth 2.0
/// security BCP), a timeout, the platform's roots.
pub fn http_client(
    timeout: std::time::Duration,
) -> Result<openidconnect::reqwest::Client, crate::Error> {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| crate::Error::Invalid(format!("federation HTTP client: {e}")))
}

/// Shared by the portal: the registry behind an `Arc`.
pub type Shared = Arc<Federation>;
