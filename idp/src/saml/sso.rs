//! Single sign-on. An AuthnRequest (HTTP-Redirect with a detached signature,
//! or HTTP-POST with an enveloped one) is checked in two stages: until the
//! issuer is a registered SP and the ACS one of its registered endpoints,
//! failures get a page (the IdP must never post to an address it does not
//! know); after that every failure is a SAML error Response to that ACS.
//! An accepted request is recorded (its ID answers InResponseTo and cannot be
//! replayed) and answered from [`resume`] once the browser has a session
//! fresh and strong enough: the portal sign-in and the step-up page both
//! come back there with `return_to`.

use crate::paths;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::binding;
use super::config::{
    BINDING_POST, NAMEID_PERSISTENT, NAMEID_TRANSIENT, NAMEID_UNSPECIFIED, ServiceProviderConfig,
};
use super::decode::{self, DecodeError};
use super::response::{self, AssertionFacts, Status};
use super::signature;
use super::wire::{self, AuthnRequest, NS_ASSERTION};
use crate::access::SecondFactor;
use crate::audit::{Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::directory::User;
use crate::session::{Live, Refusal};
use crate::session::{Session, SessionKey};
use crate::store::{SamlRequestRow, SamlSessionRow};
use crate::web::render::message;
use crate::web::{ClientIp, Portal, PortalError};

/// AuthnContextClassRefs that ask for more than a password.
const MFA_CLASSES: [&str; 4] = [
    "https://refeds.org/profile/mfa",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:X509",
];
/// AuthnContextClassRefs a password sign-in meets.
const PASSWORD_CLASSES: [&str; 3] = [
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
];
/// RelayState longer than this is refused (the binding says 80 bytes; SP
/// libraries put return URLs in it, so some room is left).
const MAX_RELAY_STATE: usize = 1024;

/// A page for a request that cannot be answered at an ACS.
pub fn error_page(status: StatusCode, why: &str) -> Response {
    message(
        status,
        "This sign-in request is not valid",
        why,
        Some((paths::APPS, "Go to your applications")),
    )
}

/// Where a failure after stage one goes: the SP's ACS, with the request's ID.
struct Reply<'a> {
    sp: &'a ServiceProviderConfig,
    acs_url: String,
    in_response_to: Option<String>,
    relay_state: Option<String>,
}

impl Reply<'_> {
    async fn error(&self, portal: &Portal, status: Status) -> Response {
        let idp = &portal.idp;
        let keys = match idp.saml_keys().await {
            Ok(k) => k,
            Err(e) => return PortalError::from(e).into_response(),
        };
        let signer = match keys.signer() {
            Ok(s) => s,
            Err(e) => return PortalError::from(e).into_response(),
        };
        match response::failure(
            &idp.saml_entity_id(),
            &self.acs_url,
            self.in_response_to.as_deref(),
            &status,
            clock::now(),
            signer,
        ) {
            Ok(xml) => post_to_acs(&self.acs_url, &xml, self.relay_state.as_deref()),
            Err(e) => {
                tracing::error!(error = %e, "SAML error response could not be signed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The answer could not be signed.",
                )
            }
        }
    }
}

fn post_to_acs(acs: &str, xml: &str, relay_state: Option<&str>) -> Response {
    let value = binding::post_value(xml);
    let mut fields = vec![("SAMLResponse", value.as_str())];
    if let Some(r) = relay_state {
        fields.push(("RelayState", r));
    }
    binding::post_page(acs, &fields)
}

/// The parameters of a binding, each present at most once.
pub(crate) struct BindingParams {
    pub message: Option<String>,
    pub relay_state: Option<String>,
    /// The raw query of an HTTP-Redirect request, for its signature.
    pub redirect_query: Option<String>,
}

pub(crate) fn params(
    raw: &[u8],
    field: &str,
    redirect: bool,
) -> Result<BindingParams, &'static str> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if seen.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("A parameter is repeated.");
        }
    }
    let relay_state = seen.remove("RelayState");
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return Err("The RelayState is too long.");
    }
    Ok(BindingParams {
        message: seen.remove(field),
        relay_state,
        redirect_query: redirect.then(|| String::from_utf8_lossy(raw).into_owned()),
    })
}

pub async fn handle_get(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let raw = uri.query().unwrap_or("");
    if raw.len() > portal.idp.config.saml.max_message_bytes * 2 {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The sign-in request is too large.",
        );
    }
    match params(raw.as_bytes(), "SAMLRequest", true) {
        Ok(p) => receive(&portal, &headers, p, ip.as_deref()).await,
        Err(why) => error_page(StatusCode::BAD_REQUEST, why),
    }
}

pub async fn handle_post(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > portal.idp.config.saml.max_message_bytes * 2 {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The sign-in request is too large.",
        );
    }
    match params(&body, "SAMLRequest", false) {
        Ok(p) => receive(&portal, &headers, p, ip.as_deref()).await,
        Err(why) => error_page(StatusCode::BAD_REQUEST, why),
    }
}

pub(crate) fn decode_page(e: &DecodeError) -> Response {
    let status = match e {
        DecodeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    error_page(status, &format!("The SAML message could not be read: {e}."))
}

/// Decodes the message of either binding into XML.
pub(crate) fn decode_message(p: &BindingParams, max: usize) -> Result<String, DecodeError> {
    let value = p.message.as_deref().unwrap_or("");
    if p.redirect_query.is_some() {
        decode::redirect_message(value, max)
    } else {
        decode::post_message(value, max)
    }
}

/// Verifies the signature of either binding with the SP's certificate.
/// `Ok(false)`: not signed.
pub(crate) fn check_signature(
    p: &BindingParams,
    xml: &str,
    embedded: bool,
    field: &str,
    sp: &ServiceProviderConfig,
) -> Result<bool, signature::SignatureError> {
    let detached = p
        .redirect_query
        .as_deref()
        .is_some_and(signature::redirect_is_signed);
    if !detached && !embedded {
        return Ok(false);
    }
    let cert = sp
        .certificate
        .as_deref()
        .and_then(super::keys::parse_certificate)
        .ok_or(signature::SignatureError::Certificate)?;
    if detached {
        signature::verify_redirect(p.redirect_query.as_deref().unwrap_or(""), field, &cert)?;
    }
    if embedded {
        signature::verify_enveloped(xml, &cert)?;
    }
    Ok(true)
}

async fn audit_failure(portal: &Portal, ip: Option<&str>, subject: &str, detail: String) {
    portal
        .audit(
            Event::new("saml.sso", Outcome::Failure)
                .subject(subject)
                .ip(ip)
                .detail(detail),
        )
        .await;
}

async fn receive(
    portal: &Portal,
    headers: &HeaderMap,
    p: BindingParams,
    ip: Option<&str>,
) -> Response {
    let idp = &portal.idp;
    let cfg = &idp.config.saml;
    if p.message.is_none() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The request carries no SAMLRequest.",
        );
    }
    // Stage one: who asks and where to answer. Failures get a page.
    let xml = match decode_message(&p, cfg.max_message_bytes) {
        Ok(x) => x,
        Err(e) => return decode_page(&e),
    };
    let root = match decode::parse(&xml) {
        Ok(r) => r,
        Err(e) => return decode_page(&e),
    };
    let Some(issuer) = root
        .child(NS_ASSERTION, "Issuer")
        .map(|i| i.text.trim().to_string())
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The request does not name its service provider (Issuer).",
        );
    };
    let sp = match idp.saml_sp(&issuer).await {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            audit_failure(portal, ip, &issuer, "unknown service provider".into()).await;
            return error_page(
                StatusCode::BAD_REQUEST,
                "The service provider is not registered.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    };
    let acs = match (
        root.attr("AssertionConsumerServiceURL"),
        root.attr("AssertionConsumerServiceIndex"),
    ) {
        // Exact string comparison, like redirect URIs.
        (Some(url), _) => sp.acs.iter().find(|a| a.url == url),
        (None, Some(ix)) => ix
            .parse::<u32>()
            .ok()
            .and_then(|ix| sp.acs.iter().find(|a| a.index == Some(ix))),
        (None, None) => sp.default_acs(),
    };
    let Some(acs) = acs else {
        audit_failure(
            portal,
            ip,
            &sp.entity_id,
            "unregistered assertion consumer service".into(),
        )
        .await;
        return error_page(
            StatusCode::BAD_REQUEST,
            "The address the service provider wants the answer at is not registered.",
        );
    };
    // Stage two: every failure is a SAML error Response to the ACS.
    let reply = Reply {
        sp: &sp,
        acs_url: acs.url.clone(),
        in_response_to: root
            .attr("ID")
            .filter(|id| id.len() <= 256 && !id.chars().any(|c| c.is_control()))
            .map(str::to_string),
        relay_state: p.relay_state.clone(),
    };
    let req = match AuthnRequest::from_element(&root) {
        Ok(r) => r,
        Err(wire::MessageError::Version) => {
            return reply
                .error(
                    portal,
                    Status::error(
                        wire::STATUS_VERSION_MISMATCH,
                        None,
                        "only SAML 2.0 is supported",
                    ),
                )
                .await;
        }
        Err(e) => {
            audit_failure(portal, ip, &sp.entity_id, e.to_string()).await;
            return reply
                .error(
                    portal,
                    Status::error(wire::STATUS_REQUESTER, None, e.to_string()),
                )
                .await;
        }
    };
    match validate(portal, &p, &xml, &req, &sp).await {
        Ok(()) => {}
        Err(status) => {
            audit_failure(
                portal,
                ip,
                &sp.entity_id,
                status.message.clone().unwrap_or_default(),
            )
            .await;
            return reply.error(portal, status).await;
        }
    }
    let now = clock::now();
    let handle = crypto::random_token();
    let row = SamlRequestRow {
        sp_entity_id: sp.entity_id.clone(),
        request_id: req.id.clone(),
        acs_url: acs.url.clone(),
        relay_state: p.relay_state.clone(),
        force_authn: req.force_authn,
        is_passive: req.is_passive,
        wants_mfa: wants_mfa(&req, &cfg.authn_context_mfa),
        received_at: now,
        // The ID is remembered as long as a replay could pass the skew check.
        expires_at: now + (cfg.request_lifetime + cfg.clock_skew * 2).as_secs() as i64,
    };
    match idp
        .store
        .insert_saml_request(&row, &crypto::sha256_hex(handle.as_bytes()))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            audit_failure(portal, ip, &sp.entity_id, "replayed AuthnRequest ID".into()).await;
            return reply
                .error(
                    portal,
                    Status::error(
                        wire::STATUS_REQUESTER,
                        Some(wire::STATUS_REQUEST_DENIED),
                        "this request was received before",
                    ),
                )
                .await;
        }
        Err(e) => return PortalError::from(e).into_response(),
    }
    answer(portal, headers, &handle, ip).await
}

fn wants_mfa(req: &AuthnRequest, ours: &str) -> bool {
    req.authn_context.as_ref().is_some_and(|(cmp, refs)| {
        refs.iter()
            .any(|r| r == ours || MFA_CLASSES.contains(&r.as_str()))
            || (cmp == "better" && !refs.is_empty())
    })
}

/// The checks of an AuthnRequest from a known SP to a known ACS.
async fn validate(
    portal: &Portal,
    p: &BindingParams,
    xml: &str,
    req: &AuthnRequest,
    sp: &ServiceProviderConfig,
) -> Result<(), Status> {
    let idp = &portal.idp;
    let cfg = &idp.config.saml;
    let denied = |why: &str| {
        Status::error(
            wire::STATUS_REQUESTER,
            Some(wire::STATUS_REQUEST_DENIED),
            why.to_string(),
        )
    };
    match check_signature(p, xml, req.signed.is_some(), "SAMLRequest", sp) {
        Ok(true) => {}
        Ok(false) if sp.require_signed_requests => {
            return Err(denied("the request must be signed"));
        }
        Ok(false) => {}
        Err(e) => return Err(denied(&e.to_string())),
    }
    let now = clock::now();
    let skew = cfg.clock_skew.as_secs() as i64;
    if (req.issue_instant - now).abs() > skew {
        return Err(Status::error(
            wire::STATUS_REQUESTER,
            Some(wire::STATUS_REQUEST_DENIED),
            "IssueInstant is outside the accepted clock skew",
        ));
    }
    let ours = format!("{}{}", idp.issuer(), paths::SAML_SSO);
    if req.destination.as_ref().is_some_and(|d| *d != ours) {
        return Err(denied("Destination is not this IdP's SSO endpoint"));
    }
    if req
        .protocol_binding
        .as_deref()
        .is_some_and(|b| b != BINDING_POST)
    {
        return Err(Status::error(
            wire::STATUS_RESPONDER,
            Some("urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"),
            "responses are sent with the HTTP-POST binding only",
        ));
    }
    if let Some(f) = &req.name_id_format
        && f != NAMEID_UNSPECIFIED
        && f != sp.name_id_format_urn()
    {
        return Err(Status::error(
            wire::STATUS_REQUESTER,
            Some(wire::STATUS_INVALID_NAMEID_POLICY),
            format!(
                "this service provider gets NameIDs of format {}",
                sp.name_id_format_urn()
            ),
        ));
    }
    if let Some((cmp, refs)) = &req.authn_context {
        let known = |r: &String| {
            *r == cfg.authn_context_mfa
                || *r == cfg.authn_context_password
                || MFA_CLASSES.contains(&r.as_str())
                || PASSWORD_CLASSES.contains(&r.as_str())
        };
        if cmp == "exact" && !refs.is_empty() && !refs.iter().any(known) {
            return Err(Status::error(
                wire::STATUS_RESPONDER,
                Some(wire::STATUS_NO_AUTHN_CONTEXT),
                "none of the requested authentication contexts is offered",
            ));
        }
        if !matches!(cmp.as_str(), "exact" | "minimum" | "maximum" | "better") {
            return Err(Status::error(
                wire::STATUS_REQUESTER,
                None,
                "unknown RequestedAuthnContext Comparison",
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    r: Option<String>,
}

/// Continues an accepted request after sign-in or step-up.
pub async fn resume(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(q): Query<ResumeQuery>,
) -> Response {
    match q.r.filter(|r| r.len() <= 128) {
        Some(handle) => answer(&portal, &headers, &handle, ip.as_deref()).await,
        None => error_page(StatusCode::BAD_REQUEST, "The sign-in request is missing."),
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn to_login(cont: &str, force: bool) -> Response {
    redirect(&crate::web::login_url(cont, None, force))
}

fn to_step_up(cont: &str) -> Response {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", cont)
        .finish();
    redirect(&format!("{}?{q}", paths::LOGIN_STEP_UP))
}

/// What a sign-in needs before it may be answered.
enum Gate {
    Ready(Box<(User, SessionKey, Session)>),
    /// Send the browser here first.
    Interact(Response),
    /// Interaction is needed but the request is passive.
    Passive,
}

async fn gate(
    portal: &Portal,
    headers: &HeaderMap,
    sp: &ServiceProviderConfig,
    cont: &str,
    force_since: Option<i64>,
    is_passive: bool,
    request_wants_mfa: bool,
) -> crate::error::Result<Gate> {
    let now = clock::now();
    let Live { user, key, session } = match crate::web::auth::session_of(portal, headers).await? {
        Ok(live) => live,
        Err(_) if is_passive => return Ok(Gate::Passive),
        Err(Refusal::PasskeyReverify) => {
            return Ok(Gate::Interact(redirect(&crate::web::auth::reverify_url(
                Some(cont),
            ))));
        }
        Err(_) => return Ok(Gate::Interact(to_login(cont, false))),
    };
    if force_since.is_some_and(|t| session.auth_time < t) {
        return Ok(if is_passive {
            Gate::Passive
        } else {
            Gate::Interact(to_login(cont, true))
        });
    }
    let wants = sp.require_mfa || sp.mfa_max_age.is_some() || request_wants_mfa;
    let need = SecondFactor {
        max_age: sp.mfa_max_age,
        methods: Vec::new(),
    };
    if wants && !need.met_by(session.mfa_at, &session.amr, now) {
        return Ok(if is_passive {
            Gate::Passive
        } else {
            Gate::Interact(to_step_up(cont))
        });
    }
    Ok(Gate::Ready(Box::new((user, key, session))))
}

async fn assigned(
    portal: &Portal,
    user: &User,
    sp: &ServiceProviderConfig,
) -> crate::error::Result<bool> {
    Ok(portal
        .idp
        .may_open(&user.id, &sp.application)
        .await?
        .is_some())
}

async fn answer(portal: &Portal, headers: &HeaderMap, handle: &str, ip: Option<&str>) -> Response {
    let idp = &portal.idp;
    let now = clock::now();
    let hash = crypto::sha256_hex(handle.as_bytes());
    let req = match idp.store.pending_saml_request(&hash, now).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in request has expired or was already answered. Start again from the application.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    };
    let sp = match idp.saml_sp(&req.sp_entity_id).await {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The service provider is no longer registered.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    };
    let reply = Reply {
        sp: &sp,
        acs_url: req.acs_url.clone(),
        in_response_to: Some(req.request_id.clone()),
        relay_state: req.relay_state.clone(),
    };
    let cont = format!(
        "{}?{}",
        paths::SAML_CONTINUE,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("r", handle)
            .finish()
    );
    let gate = match gate(
        portal,
        headers,
        &sp,
        &cont,
        req.force_authn.then_some(req.received_at),
        req.is_passive,
        req.wants_mfa,
    )
    .await
    {
        Ok(g) => g,
        Err(e) => return PortalError::from(e).into_response(),
    };
    let (user, key, session) = match gate {
        Gate::Ready(b) => *b,
        Gate::Interact(res) => return res,
        Gate::Passive => {
            let _ = idp.store.answer_saml_request(&hash, now).await;
            return reply
                .error(
                    portal,
                    Status::error(
                        wire::STATUS_RESPONDER,
                        Some(wire::STATUS_NO_PASSIVE),
                        "the user must interact to sign in",
                    ),
                )
                .await;
        }
    };
    // One answer per request, decided by the database.
    match idp.store.answer_saml_request(&hash, now).await {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in request was already answered.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    }
    issue(portal, &reply, &user, &key, &session, ip).await
}

/// Checks the assignment and posts a signed assertion to the reply's ACS.
async fn issue(
    portal: &Portal,
    reply: &Reply<'_>,
    user: &User,
    key: &SessionKey,
    session: &Session,
    ip: Option<&str>,
) -> Response {
    let sp = reply.sp;
    match assigned(portal, user, sp).await {
        Ok(true) => {}
        Ok(false) => {
            portal
                .audit(
                    Event::new("saml.sso", Outcome::Failure)
                        .about(user)
                        .ip(ip)
                        .detail(format!("{}: not assigned to the application", sp.entity_id)),
                )
                .await;
            return reply
                .error(
                    portal,
                    Status::error(
                        wire::STATUS_RESPONDER,
                        Some(wire::STATUS_REQUEST_DENIED),
                        "the user is not assigned to this application",
                    ),
                )
                .await;
        }
        Err(e) => return PortalError::from(e).into_response(),
    }
    match build(portal, reply, user, key, session).await {
        Ok(xml) => {
            portal
                .audit(
                    Event::new("saml.sso", Outcome::Success)
                        .about(user)
                        .ip(ip)
                        .detail(sp.entity_id.clone()),
                )
                .await;
            post_to_acs(&reply.acs_url, &xml, reply.relay_state.as_deref())
        }
        Err(e) => PortalError::from(e).into_response(),
    }
}

/// A value of `source` for the user.
fn source_values(user: &User, groups: &[String], source: &str) -> Vec<String> {
    let one = |s: &str| {
        if s.is_empty() {
            Vec::new()
        } else {
            vec![s.to_string()]
        }
    };
    match source {
        "email" => one(&user.email),
        "first_name" => one(&user.first_name),
        "last_name" => one(&user.last_name),
        "display_name" => one(&user.display_name()),
        "username" => one(&user.username),
        "id" => one(&user.id),
        "groups" => groups.to_vec(),
        other => other
            .strip_prefix("profile.")
            .map(|f| one(user.profile.get(f)))
            .unwrap_or_default(),
    }
}

async fn build(
    portal: &Portal,
    reply: &Reply<'_>,
    user: &User,
    key: &SessionKey,
    session: &Session,
) -> crate::error::Result<String> {
    let idp = &portal.idp;
    let cfg = &idp.config.saml;
    let sp = reply.sp;
    let now = clock::now();
    let groups = idp.store.groups_of(&user.id).await?;
    let format = sp.name_id_format_urn();
    let name_id = match format {
        // A pairwise, stable identifier: the SP cannot correlate it with others.
        NAMEID_PERSISTENT => crypto::b64url(&idp.keys.mac(
            "saml-persistent",
            format!("{}\n{}", sp.entity_id, user.id).as_bytes(),
        )),
        NAMEID_TRANSIENT => wire::new_id(),
        _ => source_values(user, &groups, &sp.name_id_source)
            .into_iter()
            .next()
            .unwrap_or_else(|| user.id.clone()),
    };
    let attributes = sp
        .attributes
        .iter()
        .map(|(name, source)| (name.clone(), source_values(user, &groups, source)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let session_index = wire::new_id();
    let facts = AssertionFacts {
        issuer: idp.saml_entity_id(),
        audience: sp.entity_id.clone(),
        acs_url: reply.acs_url.clone(),
        in_response_to: reply.in_response_to.clone(),
        name_id: name_id.clone(),
        name_id_format: format.to_string(),
        session_index: session_index.clone(),
        authn_instant: session.auth_time,
        authn_context: if session.mfa_at.is_some() {
            cfg.authn_context_mfa.clone()
        } else {
            cfg.authn_context_password.clone()
        },
        attributes,
        now,
        lifetime: cfg.assertion_lifetime.as_secs() as i64,
        session_not_on_or_after: session.expires_at,
        sign: sp.sign,
    };
    let keys = idp.saml_keys().await?;
    let xml = response::success(&facts, keys.signer()?)
        .map_err(|e| crate::Error::Invalid(format!("SAML response: {e}")))?;
    idp.store
        .insert_saml_session(&SamlSessionRow {
            id: crypto::random_token(),
            session_hash: key.as_str().to_string(),
            user_id: user.id.clone(),
            sp_entity_id: sp.entity_id.clone(),
            name_id,
            name_id_format: format.to_string(),
            session_index,
            created_at: now,
            expires_at: session.expires_at,
        })
        .await?;
    Ok(xml)
}

#[derive(Deserialize)]
pub struct IdpInitQuery {
    sp: Option<String>,
}

/// IdP-initiated sign-in, from the portal tile: an unsolicited Response
/// (no InResponseTo) to the SP's default ACS with its configured RelayState.
pub async fn idp_initiated(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<IdpInitQuery>,
) -> Response {
    let idp = &portal.idp;
    let Some(entity_id) = q.sp.filter(|s| s.len() <= 1024) else {
        return error_page(StatusCode::BAD_REQUEST, "No service provider is named.");
    };
    let sp = match idp.saml_sp(&entity_id).await {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "The service provider is not registered.",
            );
        }
        Err(e) => return PortalError::from(e).into_response(),
    };
    let Some(acs) = sp.default_acs().map(|a| a.url.clone()) else {
        return error_page(StatusCode::BAD_REQUEST, "The service provider has no ACS.");
    };
    let cont = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| paths::SAML_IDP_INIT.into());
    let (user, key, session) = match gate(&portal, &headers, &sp, &cont, None, false, false).await {
        Ok(Gate::Ready(b)) => *b,
        Ok(Gate::Interact(res)) => return res,
        Ok(Gate::Passive) => return error_page(StatusCode::BAD_REQUEST, "Sign in first."),
        Err(e) => return PortalError::from(e).into_response(),
    };
    let reply = Reply {
        sp: &sp,
        acs_url: acs,
        in_response_to: None,
        relay_state: sp.relay_state.clone(),
    };
    match assigned(&portal, &user, &sp).await {
        // The tile is only shown to assigned users; anyone else gets a page,
        // not an error posted to an SP that never asked.
        Ok(false) => return PortalError::NotFound.into_response(),
        Err(e) => return PortalError::from(e).into_response(),
        Ok(true) => {}
    }
    issue(&portal, &reply, &user, &key, &session, ip.as_deref()).await
}
