//! Single sign-on, as decisions over typed inputs. An AuthnRequest
//! (HTTP-Redirect with a detached signature, or HTTP-POST with an enveloped
//! one) is checked in two stages: until the issuer is a registered SP and the
//! ACS one of its registered endpoints, failures get a page (the IdP must
//! never post to an address it does not know); after that every failure is a
//! SAML error Response to that ACS.
//!
//! A sign-in is answered in two steps, so that the session is looked at only
//! once there is something to answer: [`Idp::saml_sso_receive`] (a new
//! AuthnRequest, recorded so that its ID answers InResponseTo and cannot be
//! replayed), [`Idp::saml_sso_continue`] (the same request after sign-in or
//! step-up: the portal sign-in and the step-up page come back with
//! `return_to`) and [`Idp::saml_idp_initiated`] (the portal tile) each give a
//! [`Pending`] sign-in; [`Idp::saml_sso_answer`] then answers it for the
//! browser's session. Every outcome is an [`Sso`]; the web layer renders it.

use crate::paths;

use super::binding::{BindingParams, Delivery};
use super::config::{
    BINDING_POST, NAMEID_PERSISTENT, NAMEID_TRANSIENT, NAMEID_UNSPECIFIED, ServiceProviderConfig,
};
use super::decode::{DecodeError, Element};
use super::response::{self, AssertionFacts, Status};
use super::wire::{self, AuthnRequest, NS_ASSERTION};
use crate::access::SecondFactor;
use crate::audit::{Event, Outcome};
use crate::crypto;
use crate::error::Result;
use crate::idp::Idp;
use crate::session::{Live, Refusal};
use crate::store::{SamlRequestRow, SamlSessionRow};

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
/// Longest continuation handle and IdP-initiated entity ID accepted.
const MAX_HANDLE: usize = 128;
const MAX_ENTITY_ID: usize = 1024;

/// A page for the person at the browser: the message cannot be answered at
/// an address of the SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// For people, shown on the page.
    pub message: String,
}

/// What went wrong, as far as the page's status goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The message is not valid, or names an SP or address not registered.
    Invalid,
    /// The message is larger than accepted.
    TooLarge,
    /// IdP-initiated: the service provider named is not registered.
    UnknownSp,
    /// The answer could not be made (signing failed).
    Failed,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Invalid, message)
    }

    /// A message that could not be decoded.
    pub fn decode(e: &DecodeError) -> Self {
        let kind = match e {
            DecodeError::TooLarge(_) => ProblemKind::TooLarge,
            _ => ProblemKind::Invalid,
        };
        Self::new(kind, format!("The SAML message could not be read: {e}."))
    }
}

/// The outcome of a sign-in step, for the browser.
#[derive(Debug)]
pub enum Sso {
    /// A signed Response to post to the SP's ACS: an assertion or a status.
    Post(AcsPost),
    /// No usable session: to the sign-in page, then back to `cont`. `again`:
    /// the password again though signed in (ForceAuthn).
    SignIn { cont: String, again: bool },
    /// A second factor first (the step-up page), then back to `cont`.
    StepUp { cont: String },
    /// A passkey-only session due to verify again, then back to `cont`.
    Reverify { cont: String },
    /// A page: there is no SP address to answer at.
    Page(Problem),
    /// IdP-initiated for an application the user may not open: nothing here.
    NotFound,
}

/// A signed `<samlp:Response>` on its way to an ACS.
#[derive(Debug)]
pub struct AcsPost {
    pub acs_url: String,
    pub relay_state: Option<String>,
    /// What the Response says.
    pub answer: Answer,
    /// The Response (the SAMLResponse parameter, before base64).
    pub xml: String,
}

impl AcsPost {
    /// The HTTP-POST binding's form.
    pub fn delivery(&self) -> Delivery {
        Delivery::post(
            &self.acs_url,
            "SAMLResponse",
            &self.xml,
            self.relay_state.as_deref(),
        )
    }
}

/// What a Response to an ACS says.
#[derive(Debug)]
pub enum Answer {
    /// Success, with an assertion stating these facts.
    Assertion(Box<AssertionFacts>),
    /// An error status, no assertion.
    Status(Status),
}

/// The first step of a sign-in: one to answer for the session, or an outcome.
#[derive(Debug)]
pub enum Step {
    Answer(Box<Pending>),
    Done(Sso),
}

/// Where a Response goes: the SP's ACS, with the request's ID.
#[derive(Debug, Clone)]
struct Reply {
    acs_url: String,
    in_response_to: Option<String>,
    relay_state: Option<String>,
}

/// A sign-in to answer once the session is known: an accepted AuthnRequest
/// or an IdP-initiated sign-in.
#[derive(Debug, Clone)]
pub struct Pending {
    sp: ServiceProviderConfig,
    reply: Reply,
    /// Where the browser comes back to after signing in or stepping up.
    cont: String,
    /// SP-initiated: the stored request (the hash of its handle).
    request: Option<String>,
    /// ForceAuthn: a sign-in before this instant does not count.
    force_since: Option<i64>,
    is_passive: bool,
    wants_mfa: bool,
}

impl Pending {
    pub fn sp(&self) -> &ServiceProviderConfig {
        &self.sp
    }
    pub fn acs_url(&self) -> &str {
        &self.reply.acs_url
    }
    pub fn in_response_to(&self) -> Option<&str> {
        self.reply.in_response_to.as_deref()
    }
    /// Where the browser comes back to after an interaction.
    pub fn cont(&self) -> &str {
        &self.cont
    }
}

/// The continuation URL of a stored request.
fn continue_url(handle: &str) -> String {
    format!(
        "{}?{}",
        paths::SAML_CONTINUE,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("r", handle)
            .finish()
    )
}

fn wants_mfa(req: &AuthnRequest, ours: &str) -> bool {
    req.authn_context.as_ref().is_some_and(|(cmp, refs)| {
        refs.iter()
            .any(|r| r == ours || MFA_CLASSES.contains(&r.as_str()))
            || (cmp == "better" && !refs.is_empty())
    })
}

/// The message's ID, when it is fit to be echoed as InResponseTo.
pub(crate) fn echoable_id(root: &Element) -> Option<String> {
    root.attr("ID")
        .filter(|id| id.len() <= 256 && !id.chars().any(|c| c.is_control()))
        .map(str::to_string)
}

/// What a sign-in needs before it may be answered.
#[derive(Debug)]
enum Gate {
    Ready(Box<Live>),
    /// Send the browser elsewhere first.
    Interact(Sso),
    /// Interaction is needed but the request is passive.
    Passive,
}

/// The session's fitness for `pending` at `now`.
fn gate(pending: &Pending, session: std::result::Result<Live, Refusal>, now: i64) -> Gate {
    let cont = || pending.cont.clone();
    let live = match session {
        Ok(live) => live,
        Err(_) if pending.is_passive => return Gate::Passive,
        Err(Refusal::PasskeyReverify) => return Gate::Interact(Sso::Reverify { cont: cont() }),
        Err(_) => {
            return Gate::Interact(Sso::SignIn {
                cont: cont(),
                again: false,
            });
        }
    };
    let interact = |sso: Sso| {
        if pending.is_passive {
            Gate::Passive
        } else {
            Gate::Interact(sso)
        }
    };
    if pending
        .force_since
        .is_some_and(|t| live.session.auth_time < t)
    {
        return interact(Sso::SignIn {
            cont: cont(),
            again: true,
        });
    }
    let sp = &pending.sp;
    let wants = sp.require_mfa || sp.mfa_max_age.is_some() || pending.wants_mfa;
    let need = SecondFactor {
        max_age: sp.mfa_max_age,
        methods: Vec::new(),
    };
    if wants && !need.met_by(live.session.mfa_at, &live.session.amr, now) {
        return interact(Sso::StepUp { cont: cont() });
    }
    Gate::Ready(Box::new(live))
}

/// A value of `source` for the user.
fn denied(why: impl Into<String>) -> Status {
    Status::error(
        wire::STATUS_REQUESTER,
        Some(wire::STATUS_REQUEST_DENIED),
        why,
    )
}

impl Idp {
    async fn saml_audit(&self, now: i64, event: Event<'_>) {
        crate::audit::record(&self.store, now, event).await;
    }

    async fn saml_sso_failure(&self, now: i64, ip: Option<&str>, subject: &str, detail: String) {
        self.saml_audit(
            now,
            Event::new("saml.sso", Outcome::Failure)
                .subject(subject)
                .ip(ip)
                .detail(detail),
        )
        .await;
    }

    /// A signed error Response with `status` to the reply's ACS.
    async fn saml_sso_error(&self, reply: &Reply, status: Status, now: i64) -> Result<Sso> {
        let keys = self.saml_keys().await?;
        let signer = keys.signer()?;
        match response::failure(
            &self.saml_entity_id(),
            &reply.acs_url,
            reply.in_response_to.as_deref(),
            &status,
            now,
            signer,
        ) {
            Ok(xml) => Ok(Sso::Post(AcsPost {
                acs_url: reply.acs_url.clone(),
                relay_state: reply.relay_state.clone(),
                answer: Answer::Status(status),
                xml,
            })),
            Err(e) => {
                tracing::error!(error = %e, "SAML error response could not be signed");
                Ok(Sso::Page(Problem::new(
                    ProblemKind::Failed,
                    "The answer could not be signed.",
                )))
            }
        }
    }

    /// Stage one: the registered SP that asks and its registered ACS the
    /// request names. `Err`: the page (no address to answer at).
    async fn saml_addressee(
        &self,
        root: &Element,
        ip: Option<&str>,
        now: i64,
    ) -> Result<std::result::Result<(ServiceProviderConfig, String), Problem>> {
        let Some(issuer) = root
            .child(NS_ASSERTION, "Issuer")
            .map(|i| i.text.trim().to_string())
        else {
            return Ok(Err(Problem::invalid(
                "The request does not name its service provider (Issuer).",
            )));
        };
        let Some(sp) = self.saml_sp(&issuer).await? else {
            self.saml_sso_failure(now, ip, &issuer, "unknown service provider".into())
                .await;
            return Ok(Err(Problem::invalid(
                "The service provider is not registered.",
            )));
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
        let Some(acs) = acs.map(|a| a.url.clone()) else {
            self.saml_sso_failure(
                now,
                ip,
                &sp.entity_id,
                "unregistered assertion consumer service".into(),
            )
            .await;
            return Ok(Err(Problem::invalid(
                "The address the service provider wants the answer at is not registered.",
            )));
        };
        Ok(Ok((sp, acs)))
    }

    /// Receives an AuthnRequest over either binding: checked, then recorded
    /// for its answer (or refused with a page or a SAML error status).
    pub async fn saml_sso_receive(
        &self,
        p: &BindingParams,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Step> {
        let cfg = &self.config.saml;
        if p.message.is_none() {
            return Ok(Step::Done(Sso::Page(Problem::invalid(
                "The request carries no SAMLRequest.",
            ))));
        }
        let (xml, root) = match p.read(cfg.max_message_bytes) {
            Ok(x) => x,
            Err(e) => return Ok(Step::Done(Sso::Page(Problem::decode(&e)))),
        };
        // Stage one: who asks and where to answer. Failures get a page.
        let (sp, acs_url) = match self.saml_addressee(&root, ip, now).await? {
            Ok(x) => x,
            Err(problem) => return Ok(Step::Done(Sso::Page(problem))),
        };
        // Stage two: every failure is a SAML error Response to the ACS.
        let reply = Reply {
            acs_url,
            in_response_to: echoable_id(&root),
            relay_state: p.relay_state.clone(),
        };
        let req = match AuthnRequest::from_element(&root) {
            Ok(r) => r,
            Err(wire::MessageError::Version) => {
                let status = Status::error(
                    wire::STATUS_VERSION_MISMATCH,
                    None,
                    "only SAML 2.0 is supported",
                );
                return Ok(Step::Done(self.saml_sso_error(&reply, status, now).await?));
            }
            Err(e) => {
                self.saml_sso_failure(now, ip, &sp.entity_id, e.to_string())
                    .await;
                let status = Status::error(wire::STATUS_REQUESTER, None, e.to_string());
                return Ok(Step::Done(self.saml_sso_error(&reply, status, now).await?));
            }
        };
        if let Err(status) = self.saml_check_authn_request(p, &xml, &req, &sp, now).await {
            self.saml_sso_failure(
                now,
                ip,
                &sp.entity_id,
                status.message.clone().unwrap_or_default(),
            )
            .await;
            return Ok(Step::Done(self.saml_sso_error(&reply, status, now).await?));
        }
        let entity_id = sp.entity_id.clone();
        match self.saml_record_request(sp, &reply, &req, now).await? {
            Some(pending) => Ok(Step::Answer(Box::new(pending))),
            None => {
                self.saml_sso_failure(now, ip, &entity_id, "replayed AuthnRequest ID".into())
                    .await;
                let status = denied("this request was received before");
                Ok(Step::Done(self.saml_sso_error(&reply, status, now).await?))
            }
        }
    }

    /// Records an accepted request for its answer: its ID cannot be used
    /// again. None: it was received before (a replay).
    async fn saml_record_request(
        &self,
        sp: ServiceProviderConfig,
        reply: &Reply,
        req: &AuthnRequest,
        now: i64,
    ) -> Result<Option<Pending>> {
        let cfg = &self.config.saml;
        let handle = crypto::random_token();
        let hash = crypto::sha256_hex(handle.as_bytes());
        let row = SamlRequestRow {
            sp_entity_id: sp.entity_id.clone(),
            request_id: req.id.clone(),
            acs_url: reply.acs_url.clone(),
            relay_state: reply.relay_state.clone(),
            force_authn: req.force_authn,
            is_passive: req.is_passive,
            wants_mfa: wants_mfa(req, &cfg.authn_context_mfa),
            received_at: now,
            // The ID is remembered as long as a replay could pass the skew check.
            expires_at: now + (cfg.request_lifetime + cfg.clock_skew * 2).as_secs() as i64,
        };
        if !self.store.insert_saml_request(&row, &hash).await? {
            return Ok(None);
        }
        Ok(Some(Pending::stored(sp, row, &handle, hash)))
    }

    /// The checks of an AuthnRequest from a known SP to a known ACS; `Err`:
    /// the status to answer with.
    async fn saml_check_authn_request(
        &self,
        p: &BindingParams,
        xml: &str,
        req: &AuthnRequest,
        sp: &ServiceProviderConfig,
        now: i64,
    ) -> std::result::Result<(), Status> {
        let cfg = &self.config.saml;
        match p
            .check_signature(xml, req.signed.is_some(), "SAMLRequest", sp)
            .await
        {
            Ok(true) => {}
            Ok(false) if sp.require_signed_requests => {
                return Err(denied("the request must be signed"));
            }
            Ok(false) => {}
            Err(e) => return Err(denied(e.to_string())),
        }
        let skew = cfg.clock_skew.as_secs() as i64;
        if (req.issue_instant - now).abs() > skew {
            return Err(denied("IssueInstant is outside the accepted clock skew"));
        }
        let ours = format!("{}{}", self.issuer(), paths::SAML_SSO);
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

    /// An accepted request again, by the handle of its continuation URL.
    pub async fn saml_sso_continue(&self, handle: Option<&str>, now: i64) -> Result<Step> {
        let Some(handle) = handle.filter(|r| r.len() <= MAX_HANDLE) else {
            return Ok(Step::Done(Sso::Page(Problem::invalid(
                "The sign-in request is missing.",
            ))));
        };
        let hash = crypto::sha256_hex(handle.as_bytes());
        let Some(row) = self.store.pending_saml_request(&hash, now).await? else {
            return Ok(Step::Done(Sso::Page(Problem::invalid(
                "This sign-in request has expired or was already answered. Start again from the application.",
            ))));
        };
        let Some(sp) = self.saml_sp(&row.sp_entity_id).await? else {
            return Ok(Step::Done(Sso::Page(Problem::invalid(
                "The service provider is no longer registered.",
            ))));
        };
        Ok(Step::Answer(Box::new(Pending::stored(
            sp, row, handle, hash,
        ))))
    }

    /// IdP-initiated sign-in, from the portal tile: an unsolicited Response
    /// (no InResponseTo) to the SP's default ACS with its configured
    /// RelayState. `cont`: this request's own URL, to come back to.
    pub async fn saml_idp_initiated(&self, entity_id: Option<&str>, cont: &str) -> Result<Step> {
        let Some(entity_id) = entity_id.filter(|s| s.len() <= MAX_ENTITY_ID) else {
            return Ok(Step::Done(Sso::Page(Problem::invalid(
                "No service provider is named.",
            ))));
        };
        let Some(sp) = self.saml_sp(entity_id).await? else {
            return Ok(Step::Done(Sso::Page(Problem::new(
                ProblemKind::UnknownSp,
                "The service provider is not registered.",
            ))));
        };
        let Some(acs_url) = sp.default_acs().map(|a| a.url.clone()) else {
            return Ok(Step::Done(Sso::Page(Problem::invalid(
                "The service provider has no ACS.",
            ))));
        };
        let reply = Reply {
            acs_url,
            in_response_to: None,
            relay_state: sp.relay_state.clone(),
        };
        Ok(Step::Answer(Box::new(Pending {
            sp,
            reply,
            cont: cont.to_string(),
            request: None,
            force_since: None,
            is_passive: false,
            wants_mfa: false,
        })))
    }

    /// Answers a pending sign-in for the browser's session (`session`: the
    /// portal session's check, [`Idp::resume`]): an assertion, a SAML error
    /// status, or where the browser must go first.
    pub async fn saml_sso_answer(
        &self,
        pending: &Pending,
        session: std::result::Result<Live, Refusal>,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Sso> {
        let live = match gate(pending, session, now) {
            Gate::Ready(live) => *live,
            Gate::Interact(sso) => return Ok(sso),
            Gate::Passive => {
                let Some(hash) = &pending.request else {
                    return Ok(Sso::Page(Problem::invalid("Sign in first.")));
                };
                let _ = self.store.answer_saml_request(hash, now).await;
                let status = Status::error(
                    wire::STATUS_RESPONDER,
                    Some(wire::STATUS_NO_PASSIVE),
                    "the user must interact to sign in",
                );
                return self.saml_sso_error(&pending.reply, status, now).await;
            }
        };
        // One answer per request, decided by the database.
        if let Some(hash) = &pending.request
            && !self.store.answer_saml_request(hash, now).await?
        {
            return Ok(Sso::Page(Problem::invalid(
                "This sign-in request was already answered.",
            )));
        }
        let sp = &pending.sp;
        if self
            .may_open(&live.user.id, &sp.application)
            .await?
            .is_none()
        {
            if pending.request.is_none() {
                // The tile is only shown to assigned users; anyone else gets
                // a page, not an error posted to an SP that never asked.
                return Ok(Sso::NotFound);
            }
            self.saml_audit(
                now,
                Event::new("saml.sso", Outcome::Failure)
                    .about(&live.user)
                    .ip(ip)
                    .detail(format!("{}: not assigned to the application", sp.entity_id)),
            )
            .await;
            let status = Status::error(
                wire::STATUS_RESPONDER,
                Some(wire::STATUS_REQUEST_DENIED),
                "the user is not assigned to this application",
            );
            return self.saml_sso_error(&pending.reply, status, now).await;
        }
        let (facts, xml) = self.saml_assertion(pending, &live, now).await?;
        self.saml_audit(
            now,
            Event::new("saml.sso", Outcome::Success)
                .about(&live.user)
                .ip(ip)
                .detail(sp.entity_id.clone()),
        )
        .await;
        Ok(Sso::Post(AcsPost {
            acs_url: pending.reply.acs_url.clone(),
            relay_state: pending.reply.relay_state.clone(),
            answer: Answer::Assertion(Box::new(facts)),
            xml,
        }))
    }

    /// The facts of the assertion for `live`'s user, the signed Response
    /// stating them, and the SAML session recorded for a later logout.
    async fn saml_assertion(
        &self,
        pending: &Pending,
        live: &Live,
        now: i64,
    ) -> Result<(AssertionFacts, String)> {
        let cfg = &self.config.saml;
        let (sp, user, session) = (&pending.sp, &live.user, &live.session);
        let groups = self.store.groups_of(&user.id).await?;
        let format = sp.name_id_format_urn();
        let name_id = match format {
            // A pairwise, stable identifier: the SP cannot correlate it with others.
            NAMEID_PERSISTENT => crypto::b64url(&self.keys.mac(
                "saml-persistent",
                format!("{}\n{}", sp.entity_id, user.id).as_bytes(),
            )),
            NAMEID_TRANSIENT => wire::new_id(),
            _ => super::attributes::source_values(user, &groups, &sp.name_id_source)
                .into_iter()
                .next()
                .unwrap_or_else(|| user.id.clone()),
        };
        let attributes = super::attributes::release(sp, user, &groups);
        let facts = AssertionFacts {
            issuer: self.saml_entity_id(),
            audience: sp.entity_id.clone(),
            acs_url: pending.reply.acs_url.clone(),
            in_response_to: pending.reply.in_response_to.clone(),
            name_id,
            name_id_format: format.to_string(),
            session_index: wire::new_id(),
            authn_instant: session.auth_time,
            authn_context: if session.mfa_at.is_some() {
                cfg.authn_context_mfa.clone()
            } else {
                cfg.authn_context_password.clone()
            },
            attributes,
            now,
            lifetime: cfg.assertion_lifetime.as_secs() as i64,
            not_before_allowance: cfg.clock_skew.as_secs() as i64,
            session_not_on_or_after: session.expires_at,
            sign: sp.sign,
        };
        let keys = self.saml_keys().await?;
        let xml = response::success(&facts, keys.signer()?)
            .map_err(|e| crate::Error::Invalid(format!("SAML response: {e}")))?;
        self.store
            .insert_saml_session(&SamlSessionRow {
                id: crypto::random_token(),
                session_hash: live.key.as_str().to_string(),
                user_id: user.id.clone(),
                sp_entity_id: sp.entity_id.clone(),
                name_id: facts.name_id.clone(),
                name_id_format: facts.name_id_format.clone(),
                session_index: facts.session_index.clone(),
                created_at: now,
                expires_at: session.expires_at,
            })
            .await?;
        Ok((facts, xml))
    }
}

impl Pending {
    /// A stored request, continued at the URL of `handle`.
    fn stored(sp: ServiceProviderConfig, row: SamlRequestRow, handle: &str, hash: String) -> Self {
        Self {
            sp,
            reply: Reply {
                acs_url: row.acs_url,
                in_response_to: Some(row.request_id),
                relay_state: row.relay_state,
            },
            cont: continue_url(handle),
            request: Some(hash),
            force_since: row.force_authn.then_some(row.received_at),
            is_passive: row.is_passive,
            wants_mfa: row.wants_mfa,
        }
    }
}
