//! The authorization endpoint's HTTP side: the parameters from the query
//! (GET) or the form (POST, OIDC Core 3.1.2.1) and the portal cookie go to
//! [`crate::oidc::authorize::authorize`]; its outcome becomes a page or a
//! redirect.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::oidc::authorize::{Authorization, authorize};
use crate::oidc::wire::Params;
use crate::paths;
use crate::web::cookies::Name;
use crate::web::render::message;
use crate::web::{ClientIp, Portal, PortalError};

pub async fn handle_get(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let raw = uri.query().unwrap_or("");
    if raw.len() > 8 * 1024 {
        return error_page("The sign-in request is too large.");
    }
    answer(
        &portal,
        &headers,
        &Params::parse(raw.as_bytes()),
        ip.as_deref(),
    )
    .await
}

/// OIDC Core 3.1.2.1: the endpoint must accept POST as well.
pub async fn handle_post(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > 8 * 1024 {
        return error_page("The sign-in request is too large.");
    }
    answer(&portal, &headers, &Params::parse(&body), ip.as_deref()).await
}

async fn answer(
    portal: &Portal,
    headers: &HeaderMap,
    params: &Params,
    ip: Option<&str>,
) -> Response {
    let token = portal.cookies.get(headers, Name::Session);
    let outcome = match authorize(&portal.idp, params, token.as_deref(), ip, clock::now()).await {
        Ok(o) => o,
        Err(e) => return PortalError::from(e).into_response(),
    };
    match outcome {
        Authorization::Invalid(why) => error_page(why),
        Authorization::Code { to, code } => {
            to_client(&to.redirect_uri, &to.params(&[("code", &code)]))
        }
        Authorization::Error { to, error } => to_client(
            &to.redirect_uri,
            &to.params(&[
                ("error", error.code.as_str()),
                ("error_description", &error.description),
            ]),
        ),
        Authorization::Login {
            resume,
            login_hint,
            force,
        } => redirect(&crate::web::login_url(
            &resume,
            login_hint.as_deref(),
            force,
        )),
        Authorization::Reverify { resume } => {
            redirect(&crate::web::auth::reverify_url(Some(&resume)))
        }
        Authorization::StepUp { resume } => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &resume)
                .finish();
            redirect(&format!("{}?{q}", paths::LOGIN_STEP_UP))
        }
    }
}

fn error_page(why: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "This sign-in request is not valid",
        why,
        Some((paths::APPS, "Go to your applications")),
    )
}

/// A redirect to the client with `params` added to its redirect URI.
fn to_client(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return error_page("The application's address is not valid."),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    redirect(url.as_str())
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}
