//! Single logout, both directions.
//!
//! SP-initiated: a LogoutRequest (either binding) from a registered SP with a
//! logout URL ends the portal session of the browser when the NameID is the
//! one that SP was given through that session, and is answered with a
//! LogoutResponse over the SP's logout binding. When the SP has a
//! certificate the request must be signed.
//!
//! IdP-initiated (portal logout): front channel, one SP after another. The
//! portal session ends at once; its SAML sessions are put in a chain, and the
//! browser is sent to each SP in turn with a signed LogoutRequest whose
//! RelayState is the chain; each LogoutResponse brings it back to
//! [`paths::SAML_SLO_NEXT`](paths::SAML_SLO_NEXT), and the last to the sign-in page.
//! A front channel needs no SP to be reachable from the server, at the price
//! that an SP which never answers keeps the browser.

use crate::paths;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::binding;
use super::config::{BINDING_POST, ServiceProviderConfig};
use super::decode;
use super::response::{Status, protocol_message};
use super::sso::{BindingParams, check_signature, decode_message, decode_page, error_page, params};
use super::wire::{self, LogoutRequest, LogoutResponse, NS_ASSERTION, esc, instant};
use crate::audit::{Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::session::SessionKey;
use crate::web::cookies::Name;
use crate::web::{Portal, PortalError};

pub async fn handle_get(State(portal): State<Portal>, headers: HeaderMap, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or("");
    receive(&portal, &headers, raw.as_bytes(), true).await
}

pub async fn handle_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&portal, &headers, &body, false).await
}

async fn receive(portal: &Portal, headers: &HeaderMap, raw: &[u8], redirect: bool) -> Response {
    if raw.len() > portal.idp.config.saml.max_message_bytes * 2 {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The logout message is too large.",
        );
    }
    let is_response = url::form_urlencoded::parse(raw).any(|(k, _)| k == "SAMLResponse");
    let field = if is_response {
        "SAMLResponse"
    } else {
        "SAMLRequest"
    };
    let p = match params(raw, field, redirect) {
        Ok(p) if p.message.is_some() => p,
        Ok(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The request carries no SAML message.",
            );
        }
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    if is_response {
        logout_response(portal, p).await
    } else {
        logout_request(portal, headers, p).await
    }
}

/// Sends `xml` (built by `make` with the SP's logout URL as Destination) in
/// `field` to the SP's logout endpoint over its binding.
async fn send(
    portal: &Portal,
    sp: &ServiceProviderConfig,
    field: &str,
    relay_state: Option<&str>,
    make: impl FnOnce(
        &str,
        Option<&super::keys::SamlCert>,
    ) -> Result<String, super::signature::SignatureError>,
) -> Response {
    let Some(url) = sp.slo_url.as_deref() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The service provider has no logout address.",
        );
    };
    let keys = match portal.idp.saml_keys().await {
        Ok(k) => k,
        Err(e) => return PortalError::from(e).into_response(),
    };
    let signer = match keys.signer() {
        Ok(s) => s,
        Err(e) => return PortalError::from(e).into_response(),
    };
    let post = sp.slo_binding_urn() == BINDING_POST;
    // POST carries an enveloped signature; Redirect signs the query instead.
    let xml = match make(url, post.then_some(signer)) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "SAML logout message could not be signed");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The logout message could not be signed.",
            );
        }
    };
    if post {
        let value = binding::post_value(&xml);
        let mut fields = vec![(field, value.as_str())];
        if let Some(r) = relay_state {
            fields.push(("RelayState", r));
        }
        binding::post_page(url, &fields)
    } else {
        match binding::redirect_url(url, field, &xml, relay_state, &signer.private) {
            Ok(to) => binding::redirect_page(&to),
            Err(e) => {
                tracing::error!(error = %e, "SAML logout message could not be signed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The logout message could not be signed.",
                )
            }
        }
    }
}

async fn logout_request(portal: &Portal, headers: &HeaderMap, p: BindingParams) -> Response {
    let idp = &portal.idp;
    let cfg = &idp.config.saml;
    let xml = match decode_message(&p, cfg.max_message_bytes) {
        Ok(x) => x,
        Err(e) => return decode_page(&e),
    };
    let root = match decode::parse(&xml) {
        Ok(r) => r,
        Err(e) => return decode_page(&e),
    };
    let issuer = root
        .child(NS_ASSERTION, "Issuer")
        .map(|i| i.text.trim().to_string())
        .unwrap_or_default();
    let sp = match idp.saml_sp(&issuer).await {
        Ok(Some(sp)) if sp.slo_url.is_some() => sp,
        Ok(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The service provider is not registered for single logout.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    };
    let in_response_to = root
        .attr("ID")
        .filter(|id| id.len() <= 256 && !id.chars().any(|c| c.is_control()))
        .map(str::to_string);
    let status = match LogoutRequest::from_element(&root) {
        Ok(req) => match validate(portal, &p, &xml, &req, &sp) {
            Ok(()) => end_if_matching(portal, headers, &req, &sp).await,
            Err(s) => Err(s),
        },
        Err(e) => Err(Status::error(wire::STATUS_REQUESTER, None, e.to_string())),
    };
    let (status, cleared) = match status {
        Ok(cleared) => (Status::success(), cleared),
        Err(s) => {
            portal
                .audit(
                    Event::new("saml.slo", Outcome::Failure)
                        .subject(&sp.entity_id)
                        .detail(s.message.clone().unwrap_or_default()),
                )
                .await;
            (s, false)
        }
    };
    let entity = idp.saml_entity_id();
    let now = clock::now();
    let mut res = send(
        portal,
        &sp,
        "SAMLResponse",
        p.relay_state.as_deref(),
        |dest, signer| {
            let irt = in_response_to
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
    .await;
    if cleared {
        for n in [Name::Session, Name::Mfa] {
            res.headers_mut()
                .append(header::SET_COOKIE, portal.cookies.clear(n));
        }
    }
    res
}

fn validate(
    portal: &Portal,
    p: &BindingParams,
    xml: &str,
    req: &LogoutRequest,
    sp: &ServiceProviderConfig,
) -> Result<(), Status> {
    let cfg = &portal.idp.config.saml;
    let denied = |why: String| {
        Status::error(
            wire::STATUS_REQUESTER,
            Some(wire::STATUS_REQUEST_DENIED),
            why,
        )
    };
    match check_signature(p, xml, req.signed.is_some(), "SAMLRequest", sp) {
        Ok(true) => {}
        // An SP that has a certificate signs its logout requests: without a
        // signature anyone could end the user's session by a link.
        Ok(false) if sp.certificate.is_some() => {
            return Err(denied("the logout request must be signed".into()));
        }
        Ok(false) => {}
        Err(e) => return Err(denied(e.to_string())),
    }
    let now = clock::now();
    let skew = cfg.clock_skew.as_secs() as i64;
    if (req.issue_instant - now).abs() > skew {
        return Err(denied(
            "IssueInstant is outside the accepted clock skew".into(),
        ));
    }
    if req.not_on_or_after.is_some_and(|t| t + skew <= now) {
        return Err(denied("the logout request has expired".into()));
    }
    let ours = format!("{}{}", portal.idp.issuer(), paths::SAML_SLO);
    if req.destination.as_ref().is_some_and(|d| *d != ours) {
        return Err(denied(
            "Destination is not this IdP's logout endpoint".into(),
        ));
    }
    Ok(())
}

/// Ends the browser's portal session when the request names the user this
/// SP signed in through it. `Ok(true)`: a session ended.
async fn end_if_matching(
    portal: &Portal,
    headers: &HeaderMap,
    req: &LogoutRequest,
    sp: &ServiceProviderConfig,
) -> Result<bool, Status> {
    let idp = &portal.idp;
    let internal = |e: crate::Error| {
        tracing::error!(error = %e, "SAML logout failed");
        Status::error(
            wire::STATUS_RESPONDER,
            None,
            "the logout could not be completed",
        )
    };
    let Some(token) = portal.cookies.get(headers, Name::Session) else {
        // Nothing to end in this browser: the SP's own session is its business.
        return Ok(false);
    };
    let key = SessionKey::of_token(&token);
    // Not the session check: a session due to re-verify still signs out.
    let Ok(session) = idp
        .sessions
        .resume_key(&key, clock::now())
        .await
        .map_err(internal)?
    else {
        return Ok(false);
    };
    let rows = idp
        .store
        .saml_sessions_of(key.as_str())
        .await
        .map_err(internal)?;
    let matches = rows.iter().any(|r| {
        r.sp_entity_id == sp.entity_id
            && crypto::ct_eq(r.name_id.as_bytes(), req.name_id.as_bytes())
            && (req.session_indexes.is_empty() || req.session_indexes.contains(&r.session_index))
    });
    if !matches {
        return Err(Status::error(
            wire::STATUS_REQUESTER,
            Some(wire::STATUS_UNKNOWN_PRINCIPAL),
            "the browser's session does not belong to this subject",
        ));
    }
    idp.store
        .end_saml_session_of_sp(key.as_str(), &sp.entity_id, clock::now())
        .await
        .map_err(internal)?;
    idp.end_session(&key).await.map_err(internal)?;
    portal
        .audit(
            Event::new("signout", Outcome::Success)
                .user(&session.user_id)
                .detail(format!("SAML SP-initiated by {}", sp.entity_id)),
        )
        .await;
    Ok(true)
}

/// A LogoutResponse to one of our chain's LogoutRequests: on to the next SP.
async fn logout_response(portal: &Portal, p: BindingParams) -> Response {
    let idp = &portal.idp;
    let xml = match decode_message(&p, idp.config.saml.max_message_bytes) {
        Ok(x) => x,
        Err(e) => return decode_page(&e),
    };
    let res = match LogoutResponse::parse(&xml) {
        Ok(r) => r,
        Err(e) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("The logout answer is not valid: {e}."),
            );
        }
    };
    let sp = match idp.saml_sp(&res.issuer).await {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The service provider is not registered.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    };
    match check_signature(&p, &xml, res.signed.is_some(), "SAMLResponse", &sp) {
        Ok(true) => {}
        Ok(false) if sp.certificate.is_none() => {}
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The logout answer's signature is missing or wrong.",
            );
        }
    }
    let chain = match res.in_response_to.as_deref() {
        Some(irt) => match idp.store.saml_logout_chain_of(&sp.entity_id, irt).await {
            Ok(c) => c,
            Err(e) => return PortalError::from(e).into_response(),
        },
        None => None,
    };
    let Some(chain) = chain else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The logout answer does not belong to a logout in progress.",
        );
    };
    if res.status != wire::STATUS_SUCCESS {
        tracing::info!(sp = %sp.entity_id, status = %res.status, "SP reported a partial logout");
    }
    next_step(portal, &chain).await
}

#[derive(Deserialize)]
pub struct NextQuery {
    chain: Option<String>,
}

pub async fn next(State(portal): State<Portal>, Query(q): Query<NextQuery>) -> Response {
    match q.chain.filter(|c| c.len() <= 128) {
        Some(chain) => next_step(&portal, &chain).await,
        None => (
            StatusCode::FOUND,
            [(header::LOCATION, "/login?signed_out=1")],
        )
            .into_response(),
    }
}

/// Sends a LogoutRequest to the next SP of the chain, or ends at the sign-in page.
async fn next_step(portal: &Portal, chain: &str) -> Response {
    let idp = &portal.idp;
    loop {
        let request_id = wire::new_id();
        let row = match idp
            .store
            .next_in_saml_logout_chain(chain, &request_id, clock::now())
            .await
        {
            Ok(r) => r,
            Err(e) => return PortalError::from(e).into_response(),
        };
        let Some(row) = row else {
            return binding::redirect_page("/login?signed_out=1");
        };
        let sp = match idp.saml_sp(&row.sp_entity_id).await {
            Ok(Some(sp)) if sp.slo_url.is_some() => sp,
            Ok(_) => continue,
            Err(e) => return PortalError::from(e).into_response(),
        };
        let entity = idp.saml_entity_id();
        let now = clock::now();
        let lifetime = idp.config.saml.assertion_lifetime.as_secs() as i64;
        return send(portal, &sp, "SAMLRequest", Some(chain), |dest, signer| {
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
            super::response::protocol_message_id("LogoutRequest", &request_id, &attrs, &entity, &body, signer)
        })
        .await;
    }
}

impl crate::idp::Idp {
    /// Starts the front-channel logout of a portal session's SAML sessions;
    /// the URL to send the browser to, or None when no SP is to be told.
    pub async fn saml_start_logout(
        &self,
        key: &SessionKey,
    ) -> crate::error::Result<Option<String>> {
        let chain = crypto::random_token();
        let n = self
            .store
            .start_saml_logout_chain(key.as_str(), &chain)
            .await?;
        Ok((n > 0).then(|| format!("{}?chain={chain}", paths::SAML_SLO_NEXT)))
    }
}
