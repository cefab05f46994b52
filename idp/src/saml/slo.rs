//! Single logout, both directions, as decisions over typed inputs.
//!
//! SP-initiated: a LogoutRequest (either binding) from a registered SP with a
//! logout URL ends the portal session in which that SP was given the
//! request's NameID and SessionIndex, found on the server (an SP's
//! cross-site POST carries no `SameSite=Lax` cookie, so the browser's cookie
//! cannot be what finds it), and is answered with a LogoutResponse over the
//! SP's logout binding. When the SP has a certificate the request must be
//! signed; its ID is remembered, so a replay ends nothing; a SessionIndex
//! is required; when nothing was ended the answer is never Success. Two steps:
//! [`Idp::saml_slo_request`] decides (and ends the session),
//! [`Idp::saml_slo_respond`] writes and signs the answer.
//!
//! IdP-initiated (portal logout): front channel, one SP after another. The
//! portal session ends at once; its SAML sessions are put in a chain
//! ([`Idp::saml_start_logout`]), and the browser is sent to each SP in turn
//! with a signed LogoutRequest whose RelayState is the chain
//! ([`Idp::saml_slo_next`]); each LogoutResponse brings it back
//! ([`Idp::saml_slo_response`]), and the last to the sign-in page.
//! A front channel needs no SP to be reachable from the server, at the price
//! that an SP which never answers keeps the browser.

use crate::paths;

use super::binding::{self, BindingParams, Delivery};
use super::config::{BINDING_POST, ServiceProviderConfig};
use super::keys::SamlCert;
use super::response::{Status, protocol_message, protocol_message_id};
use super::signature::SignatureError;
use super::sso::{Problem, ProblemKind, echoable_id};
use super::wire::{self, LogoutRequest, LogoutResponse, NS_ASSERTION, esc, instant};
use crate::audit::{Event, Outcome};
use crate::crypto;
use crate::error::Result;
use crate::idp::Idp;
use crate::session::SessionKey;

/// Longest chain handle accepted.
const MAX_CHAIN: usize = 128;
/// SessionIndexes looked up per LogoutRequest.
const MAX_SESSION_INDEXES: usize = 8;

/// The outcome of a logout step, for the browser.
#[derive(Debug)]
pub enum Slo {
    /// A LogoutResponse with `status` to the SP that asked.
    Respond { status: Status, delivery: Delivery },
    /// A LogoutRequest (ID `request_id`) to the next SP of a chain.
    Next {
        sp_entity_id: String,
        request_id: String,
        delivery: Delivery,
    },
    /// The chain is over: on to the sign-in page (through a page, as the
    /// browser comes from an SP).
    Done,
    /// No chain named: straight to the sign-in page.
    SignedOut,
    /// A page: the message cannot be answered.
    Page(Problem),
}

/// The decision on an SP's LogoutRequest, to be answered by
/// [`Idp::saml_slo_respond`].
#[derive(Debug, Clone)]
pub struct LogoutAnswer {
    pub sp: ServiceProviderConfig,
    pub status: Status,
    /// The browser's own portal session ended: its cookies are to be cleared.
    pub session_ended: bool,
    /// Some portal session ended (the browser's, or one found by NameID
    /// and SessionIndex when the SP's POST came without our cookie).
    pub ended: bool,
    in_response_to: Option<String>,
    relay_state: Option<String>,
}

impl Idp {
    /// Writes the message `make` builds (given the SP's logout URL as
    /// Destination and, over HTTP-POST, the key for its enveloped signature)
    /// into `field` of the SP's logout binding.
    async fn saml_slo_deliver(
        &self,
        sp: &ServiceProviderConfig,
        field: &str,
        relay_state: Option<&str>,
        make: impl FnOnce(&str, Option<&SamlCert>) -> std::result::Result<String, SignatureError>,
    ) -> Result<std::result::Result<Delivery, Problem>> {
        let Some(url) = sp.slo_url.as_deref() else {
            return Ok(Err(Problem::invalid(
                "The service provider has no logout address.",
            )));
        };
        let keys = self.saml_keys().await?;
        let signer = keys.signer()?;
        let unsigned = |e: SignatureError| {
            tracing::error!(error = %e, "SAML logout message could not be signed");
            Problem::new(
                ProblemKind::Failed,
                "The logout message could not be signed.",
            )
        };
        let post = sp.slo_binding_urn() == BINDING_POST;
        // POST carries an enveloped signature; Redirect signs the query instead.
        let xml = match make(url, post.then_some(signer)) {
            Ok(x) => x,
            Err(e) => return Ok(Err(unsigned(e))),
        };
        if post {
            return Ok(Ok(Delivery::post(url, field, &xml, relay_state)));
        }
        Ok(
            binding::redirect_url(url, field, &xml, relay_state, &signer.private)
                .map(Delivery::Redirect)
                .map_err(unsigned),
        )
    }

    /// Decides on an SP's LogoutRequest for the browser holding the portal
    /// session `session_token` (its cookie, if any): ends that session when
    /// the request names the user this SP signed in through it. `Err`: the
    /// page (an SP not registered for logout, a message not readable).
    pub async fn saml_slo_request(
        &self,
        p: &BindingParams,
        session_token: Option<&str>,
        now: i64,
    ) -> Result<std::result::Result<LogoutAnswer, Problem>> {
        let (xml, root) = match p.read(self.config.saml.max_message_bytes) {
            Ok(x) => x,
            Err(e) => return Ok(Err(Problem::decode(&e))),
        };
        let issuer = root
            .child(NS_ASSERTION, "Issuer")
            .map(|i| i.text.trim().to_string())
            .unwrap_or_default();
        let sp = match self.saml_sp(&issuer).await? {
            Some(sp) if sp.slo_url.is_some() => sp,
            _ => {
                return Ok(Err(Problem::invalid(
                    "The service provider is not registered for single logout.",
                )));
            }
        };
        let decided = match LogoutRequest::from_element(&root) {
            Ok(req) => match self
                .saml_check_logout_request(p, &xml, &req, &sp, now)
                .await
            {
                Ok(()) => {
                    self.saml_end_if_matching(session_token, &req, &sp, now)
                        .await
                }
                Err(s) => Err(s),
            },
            Err(e) => Err(Status::error(wire::STATUS_REQUESTER, None, e.to_string())),
        };
        let (status, session_ended, ended) = match decided {
            Ok(browser) => (Status::success(), browser, true),
            Err(s) => {
                crate::audit::record(
                    &self.store,
                    now,
                    Event::new("saml.slo", Outcome::Failure)
                        .subject(&sp.entity_id)
                        .detail(s.message.clone().unwrap_or_default()),
                )
                .await;
                (s, false, false)
            }
        };
        Ok(Ok(LogoutAnswer {
            sp,
            status,
            session_ended,
            ended,
            in_response_to: echoable_id(&root),
            relay_state: p.relay_state.clone(),
        }))
    }

    /// The signed LogoutResponse of `answer`, over the SP's logout binding.
    pub async fn saml_slo_respond(&self, answer: &LogoutAnswer, now: i64) -> Result<Slo> {
        let entity = self.saml_entity_id();
        let status = &answer.status;
        let delivery = self
            .saml_slo_deliver(
                &answer.sp,
                "SAMLResponse",
                answer.relay_state.as_deref(),
                |dest, signer| {
                    let irt = answer
                        .in_response_to
                        .as_deref()
                        .map(|r| format!(r#" InResponseTo="{}""#, esc(r)))
                        .unwrap_or_default();
                    let attrs = format!(
                        r#" IssueInstant="{}" Destination="{}"{irt}"#,
                        instant(now),
                        esc(dest)
                    );
                    protocol_message("LogoutResponse", &attrs, &entity, &status.xml(), signer)
                },
            )
            .await?;
        Ok(match delivery {
            Ok(delivery) => Slo::Respond {
                status: status.clone(),
                delivery,
            },
            Err(problem) => Slo::Page(problem),
        })
    }

    async fn saml_check_logout_request(
        &self,
        p: &BindingParams,
        xml: &str,
        req: &LogoutRequest,
        sp: &ServiceProviderConfig,
        now: i64,
    ) -> std::result::Result<(), Status> {
        let cfg = &self.config.saml;
        let denied = |why: &str| {
            Status::error(
                wire::STATUS_REQUESTER,
                Some(wire::STATUS_REQUEST_DENIED),
                why,
            )
        };
        match p
            .check_signature(xml, req.signed.is_some(), "SAMLRequest", sp)
            .await
        {
            Ok(true) => {}
            // An SP that has a certificate signs its logout requests: without a
            // signature anyone could end the user's session by a link.
            Ok(false) if sp.certificate.is_some() => {
                return Err(denied("the logout request must be signed"));
            }
            Ok(false) => {}
            Err(e) => return Err(denied(&e.to_string())),
        }
        let skew = cfg.clock_skew.as_secs() as i64;
        if (req.issue_instant - now).abs() > skew {
            return Err(denied("IssueInstant is outside the accepted clock skew"));
        }
        if req.not_on_or_after.is_some_and(|t| t + skew <= now) {
            return Err(denied("the logout request has expired"));
        }
        let ours = format!("{}{}", self.issuer(), paths::SAML_SLO);
        if req.destination.as_ref().is_some_and(|d| *d != ours) {
            return Err(denied("Destination is not this IdP's logout endpoint"));
        }
        Ok(())
    }

    /// Ends the portal session(s) in which this SP was given the request's
    /// NameID and SessionIndex, found on the server: an SP's cross-site
    /// POST carries no `SameSite=Lax` cookie, so the browser's cookie is
    /// not what identifies the session. The request's ID is remembered
    /// first, so a replay ends nothing. `Ok(true)`: the browser's own
    /// session (`session_token`) was among those ended. `Err`: nothing was
    /// ended, and the status says why (never Success).
    async fn saml_end_if_matching(
        &self,
        session_token: Option<&str>,
        req: &LogoutRequest,
        sp: &ServiceProviderConfig,
        now: i64,
    ) -> std::result::Result<bool, Status> {
        let cfg = &self.config.saml;
        let internal = |e: crate::Error| {
            tracing::error!(error = %e, "SAML logout failed");
            Status::error(
                wire::STATUS_RESPONDER,
                None,
                "the logout could not be completed",
            )
        };
        // Remembered as long as a replay could pass the time checks.
        let skew = cfg.clock_skew.as_secs() as i64;
        let until = req
            .not_on_or_after
            .map(|t| t + skew)
            .unwrap_or(now)
            .max(req.issue_instant + skew)
            .max(now + skew)
            + skew;
        if !self
            .store
            .remember_saml_logout_request(&sp.entity_id, &req.id, now, until)
            .await
            .map_err(internal)?
        {
            return Err(Status::error(
                wire::STATUS_REQUESTER,
                Some(wire::STATUS_REQUEST_DENIED),
                "this logout request was received before",
            ));
        }
        // Every assertion we issue has a SessionIndex: the request must name it.
        if req.session_indexes.is_empty() {
            return Err(Status::error(
                wire::STATUS_REQUESTER,
                Some(wire::STATUS_UNKNOWN_PRINCIPAL),
                "the logout request names no SessionIndex",
            ));
        }
        let mut rows = Vec::new();
        for index in req.session_indexes.iter().take(MAX_SESSION_INDEXES) {
            rows.extend(
                self.store
                    .live_saml_sessions_by_index(&sp.entity_id, index, now)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .filter(|r| crypto::ct_eq(r.name_id.as_bytes(), req.name_id.as_bytes())),
            );
        }
        if rows.is_empty() {
            return Err(Status::error(
                wire::STATUS_REQUESTER,
                Some(wire::STATUS_UNKNOWN_PRINCIPAL),
                "no session of this subject with this service provider",
            ));
        }
        let browser = session_token.map(SessionKey::of_token);
        let mut ended_browser = false;
        let mut hashes: Vec<&str> = rows.iter().map(|r| r.session_hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        for hash in hashes {
            let key = SessionKey::from_stored(hash.to_string());
            self.store
                .end_saml_session_of_sp(key.as_str(), &sp.entity_id, now)
                .await
                .map_err(internal)?;
            self.end_session(&key).await.map_err(internal)?;
            ended_browser |= browser.as_ref().is_some_and(|b| b.as_str() == hash);
        }
        let mut users: Vec<&str> = rows.iter().map(|r| r.user_id.as_str()).collect();
        users.dedup();
        for user in users {
            crate::audit::record(
                &self.store,
                now,
                Event::new("signout", Outcome::Success)
                    .user(user)
                    .detail(format!("SAML SP-initiated by {}", sp.entity_id)),
            )
            .await;
        }
        Ok(ended_browser)
    }

    /// A LogoutResponse to one of our chain's LogoutRequests: on to the next SP.
    pub async fn saml_slo_response(&self, p: &BindingParams, now: i64) -> Result<Slo> {
        let xml = match p.decode(self.config.saml.max_message_bytes) {
            Ok(x) => x,
            Err(e) => return Ok(Slo::Page(Problem::decode(&e))),
        };
        let res = match LogoutResponse::parse(&xml) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Slo::Page(Problem::invalid(format!(
                    "The logout answer is not valid: {e}."
                ))));
            }
        };
        let Some(sp) = self.saml_sp(&res.issuer).await? else {
            return Ok(Slo::Page(Problem::invalid(
                "The service provider is not registered.",
            )));
        };
        match p
            .check_signature(&xml, res.signed.is_some(), "SAMLResponse", &sp)
            .await
        {
            Ok(true) => {}
            Ok(false) if sp.certificate.is_none() => {}
            _ => {
                return Ok(Slo::Page(Problem::invalid(
                    "The logout answer's signature is missing or wrong.",
                )));
            }
        }
        let chain = match res.in_response_to.as_deref() {
            Some(irt) => self.store.saml_logout_chain_of(&sp.entity_id, irt).await?,
            None => None,
        };
        let Some(chain) = chain else {
            return Ok(Slo::Page(Problem::invalid(
                "The logout answer does not belong to a logout in progress.",
            )));
        };
        if res.status != wire::STATUS_SUCCESS {
            tracing::info!(sp = %sp.entity_id, status = %res.status, "SP reported a partial logout");
        }
        self.saml_slo_next(Some(&chain), now).await
    }

    /// A LogoutRequest to the next SP of the chain, or the end of it.
    pub async fn saml_slo_next(&self, chain: Option<&str>, now: i64) -> Result<Slo> {
        let Some(chain) = chain.filter(|c| c.len() <= MAX_CHAIN) else {
            return Ok(Slo::SignedOut);
        };
        loop {
            let request_id = wire::new_id();
            let Some(row) = self
                .store
                .next_in_saml_logout_chain(chain, &request_id, now)
                .await?
            else {
                return Ok(Slo::Done);
            };
            let sp = match self.saml_sp(&row.sp_entity_id).await? {
                Some(sp) if sp.slo_url.is_some() => sp,
                _ => continue,
            };
            let entity = self.saml_entity_id();
            let lifetime = self.config.saml.assertion_lifetime.as_secs() as i64;
            let delivery = self
                .saml_slo_deliver(&sp, "SAMLRequest", Some(chain), |dest, signer| {
                    let attrs = format!(
                        r#" IssueInstant="{}" Destination="{}" NotOnOrAfter="{}""#,
                        instant(now),
                        esc(dest),
                        instant(now + lifetime)
                    );
                    let body = format!(
                        r#"<saml:NameID Format="{}" SPNameQualifier="{}">{}</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex>"#,
                        esc(&row.name_id_format),
                        esc(&row.sp_entity_id),
                        esc(&row.name_id),
                        esc(&row.session_index)
                    );
                    protocol_message_id("LogoutRequest", &request_id, &attrs, &entity, &body, signer)
                })
                .await?;
            return Ok(match delivery {
                Ok(delivery) => Slo::Next {
                    sp_entity_id: sp.entity_id,
                    request_id,
                    delivery,
                },
                Err(problem) => Slo::Page(problem),
            });
        }
    }

    /// Starts the front-channel logout of a portal session's SAML sessions;
    /// the URL to send the browser to, or None when no SP is to be told.
    pub async fn saml_start_logout(&self, key: &SessionKey) -> Result<Option<String>> {
        let chain = crypto::random_token();
        let n = self
            .store
            .start_saml_logout_chain(key.as_str(), &chain)
            .await?;
        Ok((n > 0).then(|| format!("{}?chain={chain}", paths::SAML_SLO_NEXT)))
    }
}
