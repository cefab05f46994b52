//! The steps of a federated sign-in the core runs and audits: sending the
//! user to the upstream provider, and any refusal on the way back. The
//! sign-in itself (link or provision, then a session) is in `provision.rs`.

use super::oidc::OidcPending;
use super::routing::Provider;
use super::saml::SamlPending;
use super::{Common, FederationError};
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::idp::Idp;

/// A sign-in sent upstream: where to send the browser, and what to keep
/// until it comes back (one of the two, by the provider's kind).
#[derive(Debug)]
pub struct Started {
    pub url: url::Url,
    pub oidc: Option<OidcPending>,
    pub saml: Option<SamlPending>,
}

impl Idp {
    /// Starts a sign-in at `provider`, audited; a refusal is audited too.
    pub async fn start_federation(
        &self,
        provider: &Provider,
        login_hint: Option<&str>,
        ip: Option<&str>,
    ) -> Result<Started, FederationError> {
        let fed = &self.federation;
        let ttl = fed.config.login_timeout.as_secs() as i64;
        let started = match provider {
            Provider::Oidc(o) => {
                o.start(&fed.http, login_hint)
                    .await
                    .map(|(url, pending)| Started {
                        url,
                        oidc: Some(pending),
                        saml: None,
                    })
            }
            Provider::Saml(s) => {
                s.start(&fed.http, &self.store, ttl)
                    .await
                    .map(|(url, pending)| Started {
                        url,
                        oidc: None,
                        saml: Some(pending),
                    })
            }
        };
        let c = provider.common();
        match &started {
            Ok(_) => {
                audit::record(
                    &self.store,
                    clock::now(),
                    Event::new("federation.start", Outcome::Success)
                        .ip(ip)
                        .subject(login_hint.unwrap_or(""))
                        .detail(format!("provider {}", c.id)),
                )
                .await;
            }
            Err(e) => self.federation_refused(c, e, ip, login_hint).await,
        }
        started
    }

    /// Records a refused federated sign-in, whichever step refused it.
    pub async fn federation_refused(
        &self,
        provider: &Common,
        err: &FederationError,
        ip: Option<&str>,
        subject: Option<&str>,
    ) {
        if let Some(p) = self.federation.get(&provider.id) {
            p.status().signin_failed(clock::now(), err.to_string());
        }
        audit::record(
            &self.store,
            clock::now(),
            Event::new("federation.signin", Outcome::Failure)
                .ip(ip)
                .subject(subject.unwrap_or(""))
                .detail(format!("provider {}: {err}", provider.id)),
        )
        .await;
    }
}
