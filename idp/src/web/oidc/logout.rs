//! RP-initiated logout's HTTP side: parameters and the portal cookie go to
//! [`crate::oidc::logout::end_session`]; the outcome becomes a page or a
//! redirect, clearing the cookie when the session was ended.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::oidc::logout::{EndSession, end_session};
use crate::oidc::wire::Params;
use crate::paths;
use crate::web::cookies::Name;
use crate::web::render::message;
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
    let outcome = match end_session(&portal.idp, params, token.as_deref(), clock::now()).await {
        Ok(o) => o,
        Err(e) => return PortalError::from(e).into_response(),
    };
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
    };
    let mut res = match redirect {
        Some(url) => (StatusCode::FOUND, [(header::LOCATION, url.as_str())]).into_response(),
        None if signed_out => page(
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
    if signed_out {
        res.headers_mut()
            .append(header::SET_COOKIE, portal.cookies.clear(Name::Session));
    }
    res
}
