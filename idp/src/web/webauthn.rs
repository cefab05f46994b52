//! WebAuthn endpoints for `/static/webauthn.js`: each ceremony is a start
//! request answering the browser's options as JSON, and a finish request
//! carrying the authenticator's answer. Both are form posts, so the CSRF
//! layer checks them like any form; answers are JSON with a `redirect` or
//! an `error` for the script to show.

use crate::paths;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::cookies::Name;
use super::mfa::Enroller;
use super::{ClientIp, CsrfToken, Form, Portal, PortalError, PortalResult, SignedIn, see_other};
use crate::mfa::Check;
use crate::mfa::webauthn::{Removal, WebauthnError};

fn error_json(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn refused(e: WebauthnError) -> PortalResult {
    match e {
        WebauthnError::Internal(e) => Err(e.into()),
        other => Ok(error_json(StatusCode::BAD_REQUEST, &other.to_string())),
    }
}

/// Turns a 303 into the JSON the script follows, keeping its cookies.
fn as_json_redirect(res: Response) -> Response {
    let to = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(paths::APPS)
        .to_string();
    let mut out = Json(json!({ "redirect": to })).into_response();
    for c in res.headers().get_all(header::SET_COOKIE) {
        out.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    out
}

#[derive(Deserialize)]
pub struct FinishForm {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    return_to: String,
}

// ---- registration (Security page) --------------------------------------

/// Registration is open to a signed-in user, and to a sign-in held back for
/// forced enrolment (a key instead of an authenticator app).
pub async fn register_start(State(portal): State<Portal>, who: Enroller) -> PortalResult {
    if portal.idp.mfa_policy().await?.0 == crate::config::MfaPolicy::Off {
        return Ok(error_json(
            StatusCode::FORBIDDEN,
            "Multi-factor authentication is turned off by your administrator.",
        ));
    }
    let c = portal.idp.webauthn_register_start(&who.user).await?;
    Ok(Json(c).into_response())
}

pub async fn register_finish(
    State(portal): State<Portal>,
    who: Enroller,
    ip: ClientIp,
    headers: HeaderMap,
    Form(form): Form<FinishForm>,
) -> PortalResult {
    match portal
        .idp
        .webauthn_register_finish(
            &who.user,
            &form.ceremony,
            &form.name,
            &form.credential,
            ip.as_deref(),
        )
        .await
    {
        Ok(()) => match &who.pending {
            // Forced enrolment: the new key was just proved with user
            // verification, which completes the sign-in.
            Some(p) => {
                let amr = vec!["pwd".into(), "hwk".into(), "user".into(), "mfa".into()];
                Ok(as_json_redirect(
                    super::mfa::finish(&portal, &headers, &who.user, p, amr, ip.as_deref()).await?,
                ))
            }
            None => Ok(Json(json!({ "redirect": "/security?done=key-added#mfa" })).into_response()),
        },
        Err(e) => refused(e),
    }
}

/// Removing a security key or passkey: a confirmation page first, then a
/// fresh proof (password or a current code), like the authenticator app.
pub async fn remove(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(form): Form<super::security::ConfirmForm>,
) -> PortalResult {
    let keys = portal.idp.webauthn_keys(&me.user.id).await?;
    let Some(key) = keys.iter().find(|k| k.id == id) else {
        return Err(PortalError::NotFound);
    };
    let ask = |error: Option<&'static str>| super::security::Confirm {
        heading: "Remove this security key?".into(),
        text: format!(
            "\"{}\" will no longer sign you in or confirm it is you.",
            key.name
        ),
        button: "Remove security key",
        action: format!("/security/webauthn/{id}/delete"),
        back: "/security#mfa",
        proof: true,
        error,
    };
    if !form.confirmed() {
        return super::security::confirm_page(&portal, &me.user, &csrf, ask(None)).await;
    }
    match portal
        .idp
        .webauthn_remove(&me.user, &id, &form.password, &form.code, ip.as_deref())
        .await?
    {
        Removal::Removed => Ok(see_other("/security?done=key-removed#mfa")),
        Removal::NotFound => Err(PortalError::NotFound),
        Removal::NotProved => {
            super::security::confirm_page(
                &portal,
                &me.user,
                &csrf,
                ask(Some(
                    "The key was not removed: enter your current password or a current code from your authenticator app.",
                )),
            )
            .await
        }
    }
}

// ---- second factor ------------------------------------------------------

pub async fn verify_start(State(portal): State<Portal>, headers: HeaderMap) -> PortalResult {
    let Some((p, user)) = super::mfa::pending(&portal, &headers).await? else {
        return Ok(error_json(
            StatusCode::UNAUTHORIZED,
            "Your sign-in has expired. Start again.",
        ));
    };
    if p.enrol {
        return Ok(error_json(
            StatusCode::BAD_REQUEST,
            "Finish the setup first.",
        ));
    }
    let c = portal.idp.webauthn_verify_start(&user).await?;
    Ok(Json(c).into_response())
}

pub async fn verify_finish(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    Form(form): Form<FinishForm>,
) -> PortalResult {
    let Some((p, user)) = super::mfa::pending(&portal, &headers).await? else {
        return Ok(error_json(
            StatusCode::UNAUTHORIZED,
            "Your sign-in has expired. Start again.",
        ));
    };
    match portal
        .idp
        .webauthn_verify_finish(&user, &form.ceremony, &form.credential, ip.as_deref())
        .await
    {
        Ok(Check::Ok(amr)) => Ok(as_json_redirect(
            super::mfa::finish(&portal, &headers, &user, &p, amr, ip.as_deref()).await?,
        )),
        Ok(Check::Locked) => {
            let mut res = error_json(
                StatusCode::FORBIDDEN,
                crate::directory::LockReason::FailedAttempts.advice(portal.idp.reset_unlocks()),
            );
            res.headers_mut()
                .append(header::SET_COOKIE, portal.cookies.clear(Name::Mfa));
            Ok(res)
        }
        Ok(_) => Ok(error_json(
            StatusCode::UNAUTHORIZED,
            "The security key's answer did not verify.",
        )),
        Err(e) => refused(e),
    }
}

// ---- passwordless -------------------------------------------------------

pub async fn passkey_start(State(portal): State<Portal>) -> PortalResult {
    if portal.idp.mfa_policy().await?.0 == crate::config::MfaPolicy::Off {
        return Ok(error_json(
            StatusCode::FORBIDDEN,
            "Passkeys are turned off by your administrator.",
        ));
    }
    let c = portal.idp.passkey_start().await?;
    Ok(Json(c).into_response())
}

pub async fn passkey_finish(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    Form(form): Form<FinishForm>,
) -> PortalResult {
    let (user, amr) = match portal
        .idp
        .passkey_finish(&form.ceremony, &form.credential, ip.as_deref())
        .await
    {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    let return_to = super::flow::checked_return_to(&portal, Some(&form.return_to)).await?;
    super::complete::end_previous_session(&portal, &headers).await?;
    let now = crate::clock::now();
    let token = portal
        .idp
        .complete_sign_in(&user, amr, now, ip.as_deref())
        .await?;
    let notice = portal.idp.expiry_notice(&user).await?.is_some();
    let mut res =
        super::complete::signed_in_response(&portal, &headers, &token, return_to, notice).await;
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Mfa));
    Ok(as_json_redirect(res))
}
