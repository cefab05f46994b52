//! RP-initiated logout's HTTP side: parameters and the portal cookie go to
//! [`crate::oidc::logout::end_session`]; the outcome becomes a page, a
//! redirect, or the confirmation page whose CSRF-protected form goes to
//! [`crate::oidc::logout::confirm`]. The cookie is cleared when the session
//! was ended.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::oidc::logout::{self, EndSession, LogoutRefusal, Pending, end_session};
use crate::oidc::wire::Params;
use crate::paths;
use crate::web::cookies::Name;
use crate::web::render::{self, message};
use crate::web::{Portal, PortalError};

pub async fn handle_get(State(portal): State<Portal>, headers: HeaderMap, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or("");
    answer(&portal, &headers, &Params::parse(raw.as_bytes())).await
}

pub async fn handle_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&portal, &headers, &Params::parse(&body)).await
}

fn page(status: StatusCode, heading: &str, text: &str) -> Response {
    message(
        status,
        heading,
        text,
        Some((paths::APPS, "Go to your applications")),
    )
}

async fn answer(portal: &Portal, headers: &HeaderMap, params: &Params) -> Response {
    let token = portal.cookies.get(headers, Name::Session);
    match end_session(&portal.idp, params, token.as_deref(), clock::now()).await {
        Ok(EndSession::Confirm(pending)) => confirm_page(portal, headers, &pending),
        Ok(outcome) => finish(portal, outcome),
        Err(e) => PortalError::from(e).into_response(),
    }
}

/// The user confirmed (a form of [`confirm_page`], CSRF-checked here: the
/// OIDC routes are outside the portal's CSRF layer).
pub async fn confirm(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    if body.len() > 16 * 1024 || !crate::web::csrf::verify(&portal, &headers, &body) {
        return crate::web::csrf::refused();
    }
    let token = portal.cookies.get(&headers, Name::Session);
    let params = Params::parse(&body);
    match logout::confirm(&portal.idp, &params, token.as_deref(), clock::now()).await {
        Ok(outcome) => finish(&portal, outcome),
        Err(e) => PortalError::from(e).into_response(),
    }
}

/// Asks the user whether to sign out; the form posts to [`confirm`].
fn confirm_page(portal: &Portal, headers: &HeaderMap, pending: &Pending) -> Response {
    let (csrf, set_cookie) = crate::web::csrf::issue(portal, headers);
    let mut res = render::page(
        StatusCode::OK,
        "logout_confirm.html",
        minijinja::context! {
            title => "Sign out",
            csrf => csrf,
            action => paths::OIDC_END_SESSION_CONFIRM,
            client_id => pending.client_id,
            post_logout_redirect_uri => pending.post_logout_redirect_uri,
            state => pending.state,
            stay_href => paths::APPS,
        },
    );
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Browsers apply form-action to the redirect after the submission: the
    // registered return address's origin is allowed besides our own.
    let back = pending
        .post_logout_redirect_uri
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple)
        .map(|o| format!(" {}", o.ascii_serialization()))
        .unwrap_or_default();
    if let Ok(csp) = HeaderValue::from_str(&format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         form-action 'self'{back}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    if let Some(c) = set_cookie {
        h.append(header::SET_COOKIE, c);
    }
    res
}

/// A finished request: a redirect or a page, clearing the session cookie
/// when the session was ended.
fn finish(portal: &Portal, outcome: EndSession) -> Response {
    let (signed_out, redirect) = match outcome {
        EndSession::Refused { why, .. } => {
            return page(
                StatusCode::BAD_REQUEST,
                "Sign-out request not valid",
                why.text(),
            );
        }
        EndSession::Done {
            signed_out,
            redirect,
        } => (signed_out, redirect),
        // Not an outcome of a confirmation; asked for again, it is a refusal.
        EndSession::Confirm(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Sign-out request not valid",
                LogoutRefusal::Malformed.text(),
            );
        }
    };
    let mut res = match redirect {
        Some(url) => (StatusCode::FOUND, [(header::LOCATION, url.as_str())]).into_response(),
        None => page(
            StatusCode::OK,
            "You have signed out",
            "You have signed out of the portal and the applications you opened with it.",
        ),
    };
    if signed_out {
        res.headers_mut()
            .append(header::SET_COOKIE, portal.cookies.clear(Name::Session));
    }
    res
}
