//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid
//! `id_token_hint` (expired is fine) naming the signed-in user, the portal
//! session ends and with it the grants made through it; the browser then
//! goes to the registered `post_logout_redirect_uri` with `state`. Without
//! one, nothing is ended: a third-party page must not be able to sign the
//! user out silently.

use crate::paths;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::wire::Params;
use crate::audit::{Event, Outcome};
use crate::clock;
use crate::session::SessionKey;
use crate::web::Portal;
use crate::web::cookies::Name;
use crate::web::render::message;

pub async fn handle_get(State(portal): State<Portal>, headers: HeaderMap, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or("");
    end_session(&portal, &headers, &Params::parse(raw.as_bytes())).await
}

pub async fn handle_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    end_session(&portal, &headers, &Params::parse(&body)).await
}

fn page(status: StatusCode, heading: &str, text: &str) -> Response {
    message(
        status,
        heading,
        text,
        Some((paths::APPS, "Go to your applications")),
    )
}

async fn end_session(portal: &Portal, headers: &HeaderMap, params: &Params) -> Response {
    let idp = &portal.idp;
    let (Ok(hint), Ok(post_logout), Ok(state), Ok(client_param)) = (
        params.get("id_token_hint"),
        params.get("post_logout_redirect_uri"),
        params.get("state"),
        params.get("client_id"),
    ) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-out request not valid",
            "A parameter is repeated or too long.",
        );
    };
    let verified = match hint {
        Some(h) => match idp.verify_jwt(h).await {
            Ok(v) => v,
            Err(e) => return crate::web::PortalError::from(e).into_response(),
        },
        None => None,
    };
    // The hint must be an ID token we signed for this issuer; expiry does not matter.
    let hint_claims = verified
        .map(|(_, c)| c)
        .filter(|c| c.get("iss").and_then(Value::as_str) == Some(idp.issuer().as_str()));
    if hint.is_some() && hint_claims.is_none() {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-out request not valid",
            "The sign-out request carries an unknown ID token.",
        );
    }
    let hint_client = hint_claims
        .as_ref()
        .and_then(|c| c.get("aud").and_then(Value::as_str).map(str::to_string));
    if let (Some(a), Some(b)) = (&hint_client, client_param)
        && a != b
    {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-out request not valid",
            "client_id does not match the ID token.",
        );
    }
    let client_id = hint_client.or(client_param.map(str::to_string));
    let client = match &client_id {
        Some(id) => match idp.oidc_client(id).await {
            Ok(c) => c,
            Err(e) => return crate::web::PortalError::from(e).into_response(),
        },
        None => None,
    };
    // The target must be registered for the client, exactly.
    let target = match (post_logout, &client) {
        (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri),
        (Some(_), _) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Sign-out request not valid",
                "The address to return to after sign-out is not registered for this application.",
            );
        }
        (None, _) => None,
    };

    let mut cleared = None;
    if let Some(claims) = &hint_claims
        && let Some(token) = portal.cookies.get(headers, Name::Session)
        // Not the session check: a session due to re-verify still signs out.
        && let Ok(Ok((_, session))) = idp.sessions.resume(&token, clock::now()).await
        && claims.get("sub").and_then(Value::as_str) == Some(session.user_id.as_str())
    {
        if let Err(e) = idp.end_session(&SessionKey::of_token(&token)).await {
            return crate::web::PortalError::from(e).into_response();
        }
        portal
            .audit(
                Event::new("signout", Outcome::Success)
                    .user(&session.user_id)
                    .detail(format!(
                        "RP-initiated by {}",
                        client_id.as_deref().unwrap_or("?")
                    )),
            )
            .await;
        cleared = Some(portal.cookies.clear(Name::Session));
    }
    let mut res = match target {
        Some(uri) => {
            let Ok(mut url) = url::Url::parse(uri) else {
                return page(
                    StatusCode::BAD_REQUEST,
                    "Sign-out request not valid",
                    "The return address is not valid.",
                );
            };
            if let Some(s) = state {
                url.query_pairs_mut().append_pair("state", s);
            }
            (StatusCode::FOUND, [(header::LOCATION, url.as_str())]).into_response()
        }
        None if cleared.is_some() => page(
            StatusCode::OK,
            "You have signed out",
            "You have signed out of the portal and the application.",
        ),
        None => page(
            StatusCode::OK,
            "Sign out",
            "To sign out of the portal, use Log out in the account menu.",
        ),
    };
    if let Some(c) = cleared {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
