//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid
//! `id_token_hint` (one of our ID tokens, expired is fine, never an access
//! token) of the signed-in user and session, the portal session ends and
//! with it the grants made through it; the browser then goes to the
//! registered `post_logout_redirect_uri` with `state`. Without one (none,
//! only `state` or `client_id`, another user's or session's token) the
//! user is asked to confirm ([`EndSession::Confirm`], then [`confirm`]): a
//! third-party page can neither sign the user out silently nor have the
//! browser sent back as if signed out while the session lives.

use serde_json::Value;

use super::token::sid_of;
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
    /// A session lives and nothing proves the request comes from one of
    /// its relying parties (no `id_token_hint` of this session's user and
    /// session): the user is asked, and a confirmation goes to [`confirm`]
    /// with these values (checked: the client exists, the address is
    /// registered for it).
    Confirm(Pending),
}

/// A sign-out waiting for the user's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pending {
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// The `typ` of our ID tokens (access tokens are `at+jwt`, logout tokens
/// `logout+jwt`: neither is a hint).
const ID_TOKEN_TYP: &str = "JWT";

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
    // The hint must be an ID token we signed for this issuer (not an access
    // or logout token); expiry does not matter.
    let hint_claims = verified
        .filter(|(typ, _)| typ == ID_TOKEN_TYP)
        .map(|(_, c)| c)
        .filter(|c| {
            c.get("iss").and_then(Value::as_str) == Some(idp.issuer().as_str())
                && c.get("aud").and_then(Value::as_str).is_some()
        });
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
    let mut client_id = hint_client.or(client_param.map(str::to_string));
    // The confirmation page names the client: only a registered one.
    if let Some(id) = &client_id
        && idp.oidc_client(id).await?.is_none()
    {
        client_id = None;
    }
    let pending = Pending {
        client_id,
        post_logout_redirect_uri: post_logout.map(str::to_string),
        state: state.map(str::to_string),
    };
    let redirect = match return_address(idp, &pending).await? {
        Ok(r) => r,
        Err(why) => return Ok(refused(why)),
    };

    // Not the session check: a session due to re-verify still signs out.
    let Some((token, user_id)) = live_session(idp, session_token, now).await? else {
        // Nobody is signed in here: the user is signed out, truly.
        return Ok(EndSession::Done {
            signed_out: false,
            redirect,
        });
    };
    let key = SessionKey::of_token(token);
    let ours = hint_claims.as_ref().is_some_and(|c| {
        c.get("sub").and_then(Value::as_str) == Some(user_id.as_str())
            && c.get("sid")
                .and_then(Value::as_str)
                .is_none_or(|sid| sid == sid_of(idp, key.as_str()))
    });
    if !ours {
        return Ok(EndSession::Confirm(pending));
    }
    sign_out(idp, &key, &user_id, pending.client_id.as_deref(), "", now).await?;
    Ok(EndSession::Done {
        signed_out: true,
        redirect,
    })
}

/// The user confirmed a [`Pending`] sign-out (its values as the
/// confirmation form sent them back, checked again): the session ends,
/// and the browser goes to the registered address or a page.
pub async fn confirm(
    idp: &Idp,
    params: &Params,
    session_token: Option<&str>,
    now: i64,
) -> Result<EndSession> {
    let (Ok(post_logout), Ok(state), Ok(client_id)) = (
        params.get("post_logout_redirect_uri"),
        params.get("state"),
        params.get("client_id"),
    ) else {
        return Ok(EndSession::Refused {
            why: LogoutRefusal::Malformed,
            signed_out: false,
        });
    };
    let pending = Pending {
        client_id: client_id.map(str::to_string),
        post_logout_redirect_uri: post_logout.map(str::to_string),
        state: state.map(str::to_string),
    };
    let redirect = match return_address(idp, &pending).await? {
        Ok(r) => r,
        Err(why) => {
            return Ok(EndSession::Refused {
                why,
                signed_out: false,
            });
        }
    };
    let mut signed_out = false;
    if let Some((token, user_id)) = live_session(idp, session_token, now).await? {
        let key = SessionKey::of_token(token);
        sign_out(idp, &key, &user_id, client_id, ", confirmed", now).await?;
        signed_out = true;
    }
    Ok(EndSession::Done {
        signed_out,
        redirect,
    })
}

/// The token and user of the portal session behind `session_token`, if it
/// lives.
async fn live_session<'t>(
    idp: &Idp,
    session_token: Option<&'t str>,
    now: i64,
) -> Result<Option<(&'t str, String)>> {
    let Some(token) = session_token else {
        return Ok(None);
    };
    Ok(match idp.sessions.resume(token, now).await? {
        Ok((_, session)) => Some((token, session.user_id)),
        Err(_) => None,
    })
}

/// Ends the portal session (and with it the grants made through it, with
/// back-channel logout) and records it.
async fn sign_out(
    idp: &Idp,
    key: &SessionKey,
    user_id: &str,
    client_id: Option<&str>,
    how: &str,
    now: i64,
) -> Result<()> {
    idp.end_session(key).await?;
    audit::record(
        &idp.store,
        now,
        Event::new("signout", Outcome::Success)
            .user(user_id)
            .detail(format!("RP-initiated by {}{how}", client_id.unwrap_or("?"))),
    )
    .await;
    Ok(())
}

/// Where the browser goes after the sign-out: the `post_logout_redirect_uri`
/// registered, exactly, for the client, with `state`; None without one.
/// An address without a known client is refused.
async fn return_address(
    idp: &Idp,
    pending: &Pending,
) -> Result<std::result::Result<Option<String>, LogoutRefusal>> {
    let Some(uri) = pending.post_logout_redirect_uri.as_deref() else {
        return Ok(Ok(None));
    };
    let client = match &pending.client_id {
        Some(id) => idp.oidc_client(id).await?,
        None => None,
    };
    if !client.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)) {
        return Ok(Err(LogoutRefusal::UnregisteredRedirect));
    }
    let Ok(mut url) = url::Url::parse(uri) else {
        return Ok(Err(LogoutRefusal::InvalidRedirect));
    };
    if let Some(s) = &pending.state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(Ok(Some(url.to_string())))
}
