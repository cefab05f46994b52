//! The SAML IdP's HTTP face: the axum handlers that read a binding from a
//! query or a form, hand it to the engine ([`crate::saml`]) and render its
//! outcome: the auto-submitting form of the HTTP-POST binding, the link of
//! the HTTP-Redirect binding, redirects to sign in, and error pages. The
//! routes are merged into the portal router outside its CSRF layer: SPs
//! post to them from their own origin, and authenticate by signature
//! instead.

mod slo;
mod sso;

use crate::paths;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;

use super::render::{message, page};
use super::{Portal, PortalError};
use crate::saml::binding::Delivery;
use crate::saml::sso::{Problem, ProblemKind};

/// The IdP's routes, merged into the portal router outside its CSRF layer.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route(paths::SAML_METADATA, get(metadata))
        .route(paths::SAML_SSO, get(sso::handle_get).post(sso::handle_post))
        .route(paths::SAML_CONTINUE, get(sso::resume))
        .route(paths::SAML_IDP_INIT, get(sso::idp_initiated))
        .route(paths::SAML_SLO, get(slo::handle_get).post(slo::handle_post))
        .route(paths::SAML_SLO_NEXT, get(slo::next))
}

#[derive(serde::Deserialize)]
struct MetadataFor {
    sp: Option<String>,
}

async fn metadata(
    State(portal): State<Portal>,
    axum::extract::Query(q): axum::extract::Query<MetadataFor>,
) -> Response {
    match portal.idp.saml_metadata(q.sp.as_deref()).await {
        Ok(xml) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            xml,
        )
            .into_response(),
        Err(e) => PortalError::from(e).into_response(),
    }
}

/// A page for a request that cannot be answered at an SP's address.
fn error_page(status: StatusCode, why: &str) -> Response {
    message(
        status,
        "This sign-in request is not valid",
        why,
        Some((paths::APPS, "Go to your applications")),
    )
}

/// The engine's page for the user.
fn problem_page(p: &Problem) -> Response {
    let status = match p.kind {
        ProblemKind::Invalid => StatusCode::BAD_REQUEST,
        ProblemKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ProblemKind::UnknownSp => StatusCode::NOT_FOUND,
        ProblemKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_page(status, &p.message)
}

/// Sends a message to an SP through the browser. Both bindings get a page
/// (not a bare redirect) so that the portal's `form-action 'self'` never
/// applies to the hop to the service provider.
fn deliver(d: &Delivery) -> Response {
    match d {
        Delivery::Post { action, fields } => post_page(action, fields),
        Delivery::Redirect(url) => redirect_page(url),
    }
}

/// The auto-post page's policy: the portal's, without `form-action`.
/// Chromium applies form-action to every redirect that follows the
/// submission, so naming the ACS or SLO origin stops the user on this page
/// whenever the SP answers the POST with a redirect to another origin (an
/// ACS sending the browser on to the application's host, node-saml's
/// LogoutResponse). The form is ours and fixed; scripts stay `'self'`.
const POST_PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A page whose form posts `fields` to `action` as soon as it loads.
fn post_page(action: &str, fields: &[(String, String)]) -> Response {
    let mut res = page(
        StatusCode::OK,
        "saml_post.html",
        context! {
            title => "Continuing",
            method => "post",
            action => action,
            fields => fields,
        },
    );
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POST_PAGE_CSP),
    );
    res
}

/// A page that moves on to `url` at once (a link without JavaScript).
fn redirect_page(url: &str) -> Response {
    page(
        StatusCode::OK,
        "saml_post.html",
        context! {
            title => "Continuing",
            method => "get",
            action => url,
        },
    )
}
