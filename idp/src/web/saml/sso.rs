//! Single sign-on over HTTP: the AuthnRequest of either binding, its
//! continuation after sign-in, and the portal tile's IdP-initiated sign-in.
//! Each handler reads its request, asks the engine ([`crate::saml::sso`])
//! for a pending sign-in, resolves the browser's session only then, and
//! renders the answer.

use crate::paths;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{deliver, error_page, problem_page};
use crate::clock;
use crate::saml::binding;
use crate::saml::sso::{Sso, Step};
use crate::web::{ClientIp, Portal, PortalError, auth};

pub async fn handle_get(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    receive(
        &portal,
        &headers,
        uri.query().unwrap_or("").as_bytes(),
        true,
        ip,
    )
    .await
}

pub async fn handle_post(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&portal, &headers, &body, false, ip).await
}

async fn receive(
    portal: &Portal,
    headers: &HeaderMap,
    raw: &[u8],
    redirect: bool,
    ip: ClientIp,
) -> Response {
    if raw.len() > portal.idp.config.saml.max_message_bytes * 2 {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The sign-in request is too large.",
        );
    }
    let p = match binding::params(raw, "SAMLRequest", redirect) {
        Ok(p) => p,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let step = portal
        .idp
        .saml_sso_receive(&p, ip.as_deref(), clock::now())
        .await;
    answer(portal, headers, step, ip).await
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    r: Option<String>,
}

/// Continues an accepted request after sign-in or step-up.
pub async fn resume(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(q): Query<ResumeQuery>,
) -> Response {
    let step = portal
        .idp
        .saml_sso_continue(q.r.as_deref(), clock::now())
        .await;
    answer(&portal, &headers, step, ip).await
}

#[derive(Deserialize)]
pub struct IdpInitQuery {
    sp: Option<String>,
}

/// IdP-initiated sign-in, from the portal tile.
pub async fn idp_initiated(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<IdpInitQuery>,
) -> Response {
    let cont = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| paths::SAML_IDP_INIT.into());
    let step = portal.idp.saml_idp_initiated(q.sp.as_deref(), &cont).await;
    answer(&portal, &headers, step, ip).await
}

/// Answers a pending sign-in for the browser's session, then renders.
async fn answer(
    portal: &Portal,
    headers: &HeaderMap,
    step: crate::error::Result<Step>,
    ip: ClientIp,
) -> Response {
    let pending = match step {
        Ok(Step::Answer(pending)) => pending,
        Ok(Step::Done(sso)) => return render(sso),
        Err(e) => return PortalError::from(e).into_response(),
    };
    let session = match auth::session_of(portal, headers).await {
        Ok(s) => s,
        Err(e) => return PortalError::from(e).into_response(),
    };
    match portal
        .idp
        .saml_sso_answer(&pending, session, ip.as_deref(), clock::now())
        .await
    {
        Ok(sso) => render(sso),
        Err(e) => PortalError::from(e).into_response(),
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn render(sso: Sso) -> Response {
    match sso {
        Sso::Post(post) => deliver(&post.delivery()),
        Sso::SignIn { cont, again } => redirect(&crate::web::login_url(&cont, None, again)),
        Sso::StepUp { cont } => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &cont)
                .finish();
            redirect(&format!("{}?{q}", paths::LOGIN_STEP_UP))
        }
        Sso::Reverify { cont } => redirect(&auth::reverify_url(Some(&cont))),
        Sso::Page(problem) => problem_page(&problem),
        Sso::NotFound => PortalError::NotFound.into_response(),
    }
}
