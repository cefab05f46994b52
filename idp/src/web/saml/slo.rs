//! Single logout over HTTP: an SP's LogoutRequest or LogoutResponse over
//! either binding, and the next hop of a portal logout's chain. The engine
//! ([`crate::saml::slo`]) decides; this clears the session cookies it ended
//! and renders the message it wrote.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{deliver, error_page, problem_page, redirect_page};
use crate::clock;
use crate::saml::binding;
use crate::saml::slo::Slo;
use crate::web::cookies::Name;
use crate::web::{Portal, PortalError};

/// Where a finished logout ends.
const SIGNED_OUT: &str = "/login?signed_out=1";

pub async fn handle_get(State(portal): State<Portal>, headers: HeaderMap, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or("");
    receive(&portal, &headers, raw.as_bytes(), true).await
}

pub async fn handle_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&portal, &headers, &body, false).await
}

async fn receive(portal: &Portal, headers: &HeaderMap, raw: &[u8], redirect: bool) -> Response {
    if raw.len() > portal.idp.config.saml.max_message_bytes * 2 {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The logout message is too large.",
        );
    }
    let is_response = url::form_urlencoded::parse(raw).any(|(k, _)| k == "SAMLResponse");
    let field = if is_response {
        "SAMLResponse"
    } else {
        "SAMLRequest"
    };
    let p = match binding::params(raw, field, redirect) {
        Ok(p) if p.message.is_some() => p,
        Ok(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The request carries no SAML message.",
            );
        }
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let idp = &portal.idp;
    if is_response {
        return render(idp.saml_slo_response(&p, clock::now()).await);
    }
    let token = portal.cookies.get(headers, Name::Session);
    let answer = match idp
        .saml_slo_request(&p, token.as_deref(), clock::now())
        .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(problem)) => return problem_page(&problem),
        Err(e) => return PortalError::from(e).into_response(),
    };
    let mut res = render(idp.saml_slo_respond(&answer, clock::now()).await);
    if answer.session_ended {
        for n in [Name::Session, Name::Mfa] {
            res.headers_mut()
                .append(header::SET_COOKIE, portal.cookies.clear(n));
        }
    }
    res
}

#[derive(Deserialize)]
pub struct NextQuery {
    chain: Option<String>,
}

/// The next SP of a portal logout's chain.
pub async fn next(State(portal): State<Portal>, Query(q): Query<NextQuery>) -> Response {
    render(
        portal
            .idp
            .saml_slo_next(q.chain.as_deref(), clock::now())
            .await,
    )
}

fn render(slo: crate::error::Result<Slo>) -> Response {
    match slo {
        Ok(Slo::Respond { delivery, .. } | Slo::Next { delivery, .. }) => deliver(&delivery),
        Ok(Slo::Done) => redirect_page(SIGNED_OUT),
        Ok(Slo::SignedOut) => (StatusCode::FOUND, [(header::LOCATION, SIGNED_OUT)]).into_response(),
        Ok(Slo::Page(problem)) => problem_page(&problem),
        Err(e) => PortalError::from(e).into_response(),
    }
}
