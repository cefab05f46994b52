//! Completing a sign-in that got past its first factor (a password, a
//! passkey, an upstream provider): the previous session ends, then either
//! the new session's cookies or the second-factor step.

use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::cookies::Name;
use super::flow::{Pending, pending_cookie};
use super::{Portal, PortalResult, see_other};
use crate::crypto;
use crate::sign_in::SignIn;

/// The answer to a sign-in that got past its first factor (a password, or
/// an upstream provider): the session, or the second-factor step. Any
/// other outcome is handed back for the caller's own page.
pub(super) async fn session_response(
    portal: &Portal,
    headers: &HeaderMap,
    outcome: SignIn,
    return_to: Option<String>,
    federated: bool,
) -> PortalResult<Result<Response, SignIn>> {
    match outcome {
        SignIn::Success {
            token,
            expires_in_days,
            ..
        } => {
            end_previous_session(portal, headers).await?;
            Ok(Ok(signed_in_response(
                portal,
                headers,
                &token,
                return_to,
                expires_in_days.is_some(),
            )
            .await))
        }
        SignIn::SecondFactor {
            user,
            enrol,
            auth_time,
        } => {
            // The browser's previous session ends now, not after the second
            // factor: until then this browser is signed in as nobody.
            end_previous_session(portal, headers).await?;
            let pending = Pending::new(&user.id, enrol, auth_time, return_to);
            let pending = if federated {
                pending.federated()
            } else {
                pending
            };
            let mut res = see_other(pending.next());
            let h = res.headers_mut();
            h.append(header::SET_COOKIE, portal.cookies.clear(Name::Session));
            h.append(header::SET_COOKIE, pending_cookie(portal, &pending));
            Ok(Ok(res))
        }
        other => Ok(Err(other)),
    }
}

/// Signing in again replaces the browser's previous session.
pub(super) async fn end_previous_session(portal: &Portal, headers: &HeaderMap) -> PortalResult<()> {
    if let Some(old) = portal.cookies.get(headers, Name::Session) {
        portal
            .idp
            .sessions
            .end(&crate::session::SessionKey::of_token(&old))
            .await?;
    }
    Ok(())
}

/// The answer that completes a sign-in: the session cookie, a new CSRF
/// secret, and the way on (through the expiry notice when it is due).
/// Every way of signing in ends here, so this is where the new session
/// learns which browser it is in, for the user's list of sessions.
pub(super) async fn signed_in_response(
    portal: &Portal,
    headers: &HeaderMap,
    token: &str,
    return_to: Option<String>,
    notice: bool,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let key = crate::session::SessionKey::of_token(token);
    if let Err(e) = portal.idp.sessions.describe(&key, user_agent).await {
        // Only the list of sessions misses it; the sign-in stands.
        tracing::warn!(error = %e, "could not record the new session's browser");
    }
    let target = return_to.unwrap_or_else(|| "/apps".to_string());
    let to = if notice {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("continue", &target)
            .finish();
        format!("/login/notice?{q}")
    } else {
        target
    };
    let mut res = see_other(&to);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        portal.cookies.set(Name::Session, token, None),
    );
    // A new CSRF secret with the new privilege level.
    h.append(
        header::SET_COOKIE,
        portal
            .cookies
            .set(Name::Csrf, &crypto::random_token(), None),
    );
    res
}
