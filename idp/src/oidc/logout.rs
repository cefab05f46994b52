//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid
//! `id_token_hint` (expired is fine) naming the signed-in user, the portal
//! session ends and with it the grants made through it; the browser then
//! goes to the registered `post_logout_redirect_uri` with `state`. Without
//! one, nothing is ended: a third-party page must not be able to sign the
//! user out silently.

use serde_json::Value;

use super::wire::Params;
use crate::audit::{self, Event, Outcome};
use crate::error::Result;
use crate::idp::Idp;
use crate::session::SessionKey;

/// Why a sign-out request is refused, as the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRefusal {
    /// A parameter is repeated or too long.
    Malformed,
    /// `id_token_hint` is not an ID token of ours.
    UnknownIdToken,
    /// `client_id` names another client than the ID token.
    ClientMismatch,
    /// `post_logout_redirect_uri` is not registered for the client.
    UnregisteredRedirect,
    /// The registered return address does not parse.
    InvalidRedirect,
}

impl LogoutRefusal {
    pub fn text(self) -> &'static str {
        match self {
            Self::Malformed => "A parameter is repeated or too long.",
            Self::UnknownIdToken => "The sign-out request carries an unknown ID token.",
            Self::ClientMismatch => "client_id does not match the ID token.",
            Self::UnregisteredRedirect => {
                "The address to return to after sign-out is not registered for this application."
            }
            Self::InvalidRedirect => "The return address is not valid.",
        }
    }
}

/// What an end-session request comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSession {
    /// Nothing to do for the request as sent; `signed_out` tells whether the
    /// portal session was ended before the refusal (its cookie is then left
    /// as it is: the session behind it is gone anyway).
    Refused {
        why: LogoutRefusal,
        signed_out: bool,
    },
    /// The request was good. `signed_out`: the portal session was ended
    /// (its cookie is to be cleared). `redirect`: where the browser goes
    /// next (the registered address with `state`), or None for a page.
    Done {
        signed_out: bool,
        redirect: Option<String>,
    },
}

/// RP-initiated logout for a browser presenting `session_token` (the
/// portal cookie's value, if any).
pub async fn end_session(
    idp: &Idp,
    params: &Params,
    session_token: Option<&str>,
    now: i64,
) -> Result<EndSession> {
    let refused = |why| EndSession::Refused {
        why,
        signed_out: false,
    };
    let (Ok(hint), Ok(post_logout), Ok(state), Ok(client_param)) = (
        params.get("id_token_hint"),
        params.get("post_logout_redirect_uri"),
        params.get("state"),
        params.get("client_id"),
    ) else {
        return Ok(refused(LogoutRefusal::Malformed));
    };
    let verified = match hint {
        Some(h) => idp.verify_jwt(h).await?,
        None => None,
    };
    // The hint must be an ID token we signed for this issuer; expiry does not matter.
    let hint_claims = verified
        .map(|(_, c)| c)
        .filter(|c| c.get("iss").and_then(Value::as_str) == Some(idp.issuer().as_str()));
    if hint.is_some() && hint_claims.is_none() {
        return Ok(refused(LogoutRefusal::UnknownIdToken));
    }
    let hint_client = hint_claims
        .as_ref()
        .and_then(|c| c.get("aud").and_then(Value::as_str).map(str::to_string));
    if let (Some(a), Some(b)) = (&hint_client, client_param)
        && a != b
    {
        return Ok(refused(LogoutRefusal::ClientMismatch));
    }
    let client_id = hint_client.or(client_param.map(str::to_string));
    let client = match &client_id {
        Some(id) => idp.oidc_client(id).await?,
        None => None,
    };
    // The target must be registered for the client, exactly.
    let target = match (post_logout, &client) {
        (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri),
        (Some(_), _) => return Ok(refused(LogoutRefusal::UnregisteredRedirect)),
        (None, _) => None,
    };

    let mut signed_out = false;
    if let Some(claims) = &hint_claims
        && let Some(token) = session_token
        // Not the session check: a session due to re-verify still signs out.
        && let Ok(Ok((_, session))) = idp.sessions.resume(token, now).await
        && claims.get("sub").and_then(Value::as_str) == Some(session.user_id.as_str())
    {
        idp.end_session(&SessionKey::of_token(token)).await?;
        audit::record(
            &idp.store,
            now,
            Event::new("signout", Outcome::Success)
                .user(&session.user_id)
                .detail(format!(
                    "RP-initiated by {}",
                    client_id.as_deref().unwrap_or("?")
                )),
        )
        .await;
        signed_out = true;
    }
    let redirect = match target {
        Some(uri) => {
            let Ok(mut url) = url::Url::parse(uri) else {
                return Ok(EndSession::Refused {
                    why: LogoutRefusal::InvalidRedirect,
                    signed_out,
                });
            };
            if let Some(s) = state {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
        None => None,
    };
    Ok(EndSession::Done {
        signed_out,
        redirect,
    })
}
