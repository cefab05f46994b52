//! A sign-in in progress, carried between its pages in signed cookies: the
//! email step's flow, and the second factor still owed after a password.
//! Both are signed so they cannot be edited, and expire.

use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use super::cookies::Name;
use super::{Portal, PortalResult, return_to};
use crate::clock;
use crate::crypto;
use crate::paths;
use crate::session::SessionKey;

/// How long the email step is remembered while the password is typed.
pub(super) const FLOW_SECS: i64 = 15 * 60;

/// The state carried from step 1 to step 2, signed so it cannot be edited.
#[derive(Serialize, Deserialize)]
pub(super) struct Flow {
    pub(super) email: String,
    pub(super) return_to: Option<String>,
    pub(super) exp: i64,
}

pub(super) fn seal_flow(portal: &Portal, flow: &Flow) -> String {
    let body = crypto::b64url(&serde_json::to_vec(flow).unwrap_or_default());
    let tag = crypto::b64url(&portal.idp.keys.mac("login-flow", body.as_bytes()));
    format!("{body}.{tag}")
}

pub(super) fn open_flow(portal: &Portal, headers: &HeaderMap) -> Option<Flow> {
    let raw = portal.cookies.get(headers, Name::Login)?;
    let (body, tag) = raw.split_once('.')?;
    let tag = crypto::b64url_decode(tag)?;
    if !portal
        .idp
        .keys
        .verify_mac("login-flow", body.as_bytes(), &tag)
    {
        return None;
    }
    let flow: Flow = serde_json::from_slice(&crypto::b64url_decode(body)?).ok()?;
    (flow.exp > clock::now()).then_some(flow)
}

/// The email typed at the first step, while its flow is live.
pub(super) fn email(portal: &Portal, headers: &HeaderMap) -> Option<String> {
    open_flow(portal, headers).map(|f| f.email)
}

/// The email and `return_to` of the first step, while its flow is live.
pub(super) fn parts(portal: &Portal, headers: &HeaderMap) -> (Option<String>, Option<String>) {
    match open_flow(portal, headers) {
        Some(f) => (Some(f.email), f.return_to),
        None => (None, None),
    }
}

/// A `return_to` the sign-in may go on to: a portal path or a known
/// application origin (see [`return_to::safe`]).
pub(super) async fn checked_return_to(
    portal: &Portal,
    raw: Option<&str>,
) -> PortalResult<Option<String>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let origins = portal.idp.store.application_origins().await?;
    let ours = portal.idp.config.public_url.origin().ascii_serialization();
    Ok(return_to::safe(raw, &ours, &origins))
}

/// How long the second step may take after the password.
const PENDING_SECS: i64 = 10 * 60;
const PURPOSE: &str = "mfa-pending";

/// A sign-in between the password and the second factor, signed so it
/// cannot be edited.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub(super) uid: String,
    /// True when the policy requires a factor and none is enrolled yet.
    pub(super) enrol: bool,
    /// When the password was checked.
    pub(super) auth_time: i64,
    pub(super) return_to: Option<String>,
    pub(super) exp: i64,
    /// A step-up of a signed-in browser: the key (hash) of the session being
    /// raised. That session must still be live to finish, and is ended then.
    #[serde(default)]
    pub(super) step_up: Option<String>,
    /// The first factor was an upstream identity provider: the session's
    /// `amr` keeps saying so.
    #[serde(default)]
    pub(super) federated: bool,
    /// For a step-up: the application that asked, by its tile's name (only
    /// ever a known application's, never text from the link).
    #[serde(default)]
    pub(super) app: Option<String>,
}

impl Pending {
    pub fn new(uid: &str, enrol: bool, auth_time: i64, return_to: Option<String>) -> Self {
        Self {
            uid: uid.to_string(),
            enrol,
            auth_time,
            return_to,
            exp: auth_time + PENDING_SECS,
            step_up: None,
            federated: false,
            app: None,
        }
    }

    /// This sign-in's first factor was an upstream identity provider.
    pub fn federated(mut self) -> Self {
        self.federated = true;
        self
    }

    /// A step-up for the signed-in session `session`: the second factor is
    /// verified again; the password time stays the session's.
    pub fn step_up(
        uid: &str,
        auth_time: i64,
        session: &SessionKey,
        return_to: Option<String>,
    ) -> Self {
        Self {
            uid: uid.to_string(),
            enrol: false,
            auth_time,
            return_to,
            exp: clock::now() + PENDING_SECS,
            step_up: Some(session.as_str().to_string()),
            federated: false,
            app: None,
        }
    }

    /// What the second-factor pages say about a step-up: that one is
    /// under way, and for which application.
    pub(super) fn step_up_view(&self) -> minijinja::Value {
        minijinja::context! {
            step_up => self.step_up.is_some(),
            step_up_app => self.app,
        }
    }

    /// Where this sign-in continues.
    pub fn next(&self) -> &'static str {
        if self.enrol {
            paths::MFA_TOTP_SETUP
        } else {
            paths::LOGIN_MFA
        }
    }
}

pub fn seal(portal: &Portal, p: &Pending) -> String {
    let body = crypto::b64url(&serde_json::to_vec(p).unwrap_or_default());
    let tag = crypto::b64url(&portal.idp.keys.mac(PURPOSE, body.as_bytes()));
    format!("{body}.{tag}")
}

pub fn pending_cookie(portal: &Portal, p: &Pending) -> header::HeaderValue {
    portal
        .cookies
        .set(Name::Mfa, &seal(portal, p), Some(PENDING_SECS))
}

pub(super) fn open_pending(portal: &Portal, headers: &HeaderMap) -> Option<Pending> {
    let raw = portal.cookies.get(headers, Name::Mfa)?;
    let (body, tag) = raw.split_once('.')?;
    let tag = crypto::b64url_decode(tag)?;
    if !portal.idp.keys.verify_mac(PURPOSE, body.as_bytes(), &tag) {
        return None;
    }
    let p: Pending = serde_json::from_slice(&crypto::b64url_decode(body)?).ok()?;
    (p.exp > clock::now()).then_some(p)
}

/// Where a browser half-way through sign-in belongs, for the extractor's
/// redirect: the chooser or the forced enrolment instead of the login page.
pub fn pending_redirect(portal: &Portal, headers: &HeaderMap) -> Option<&'static str> {
    open_pending(portal, headers).map(|p| p.next())
}
