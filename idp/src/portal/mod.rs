//! The portal: server-rendered pages for signing in and running one's own
//! account. Handlers are thin; the decisions live in [`crate::accounts`].

mod apps;
pub(crate) mod auth;
pub mod cookies;
mod csrf;
mod error;
mod federation;
pub mod gateway;
mod headers;
mod login;
pub use login::login_url;
mod mfa;
mod profile;
pub mod render;
mod reset;
pub mod return_to;
mod security;
mod webauthn;

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::accounts::Idp;
use crate::directory::User;
pub use auth::{ClientIp, SignedIn};
pub use csrf::CsrfToken;
pub use error::{PortalError, PortalResult};

/// Shared state of every portal handler.
#[derive(Clone, Debug)]
pub struct Portal {
    pub idp: Arc<Idp>,
    pub cookies: cookies::Cookies,
    /// The protected applications and handshake codes, shared with the gateway.
    pub gateway: Arc<crate::handoff::Handoffs>,
}

/// The portal's routes with their layers, without protected applications.
pub fn router(idp: Arc<Idp>) -> Router {
    let handoffs = crate::handoff::Handoffs::new(idp.store.clone());
    router_with_gateway(idp, Arc::new(handoffs))
}

/// The portal's routes, sharing the handshake state with the gateway in
/// the same process.
pub fn router_with_gateway(idp: Arc<Idp>, gateway: Arc<crate::handoff::Handoffs>) -> Router {
    let portal = Portal {
        cookies: cookies::Cookies::new(idp.config.secure_cookies),
        idp,
        gateway,
    };
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::email_page).post(login::email_submit))
        .route(
            "/login/password",
            get(login::password_page_get).post(login::password_submit),
        )
        .route("/login/notice", get(login::notice))
        .route("/login/federation/{id}", get(federation::note))
        .route("/login/federation/{id}/start", get(federation::start))
        .route("/login/federation/{id}/callback", get(federation::callback))
        .route(
            "/login/federation/{id}/return",
            get(federation::saml_return),
        )
        .route("/login/federation/{id}/metadata", get(federation::metadata))
        .route("/login/federation/{id}/slo", get(federation::slo_return))
        .route("/login/mfa", get(mfa::chooser))
        .route("/login/step-up", get(mfa::step_up))
        .route(
            "/login/mfa/{method}",
            get(mfa::code_form).post(mfa::code_submit),
        )
        .route(
            "/mfa/totp/setup",
            get(mfa::setup_intro).post(mfa::setup_start),
        )
        .route("/mfa/totp/setup/scan", get(mfa::setup_scan))
        .route(
            "/mfa/totp/setup/confirm",
            get(mfa::setup_confirm_form).post(mfa::setup_confirm),
        )
        .route("/security/totp/remove", post(security::remove_totp))
        .route("/security/recovery-codes", post(security::recovery_codes))
        .route(
            "/security/webauthn/register/start",
            post(webauthn::register_start),
        )
        .route(
            "/security/webauthn/register/finish",
            post(webauthn::register_finish),
        )
        .route("/security/webauthn/{id}/delete", post(webauthn::remove))
        .route("/login/mfa/webauthn/start", post(webauthn::verify_start))
        .route("/login/mfa/webauthn/finish", post(webauthn::verify_finish))
        .route("/login/passkey/start", post(webauthn::passkey_start))
        .route("/login/passkey/finish", post(webauthn::passkey_finish))
        .route("/logout", post(login::logout))
        .route(
            "/password/reset",
            get(reset::request_form).post(reset::request_submit),
        )
        .route(
            "/password/reset/new",
            get(reset::link).post(reset::password_submit),
        )
        .route("/password/reset/mfa", post(reset::mfa_submit))
        .route("/apps", get(apps::list))
        .route("/apps/{id}/favorite", post(apps::toggle_favorite))
        .route("/apps/{id}/launch", get(apps::launch))
        .route("/gateway/authorize", get(gateway::authorize))
        .route("/profile", get(profile::show).post(profile::save))
        .route("/security", get(security::show))
        .route("/security/password", post(security::change_password))
        .route("/security/ssh-keys", post(security::add_ssh_key))
        .route(
            "/security/ssh-keys/{id}/delete",
            post(security::delete_ssh_key),
        )
        .route("/security/api-keys", post(security::create_api_key))
        .route(
            "/security/api-keys/{id}/revoke",
            post(security::revoke_api_key),
        )
        .route(
            "/static/portal.css",
            get(|| asset("text/css; charset=utf-8", render::CSS)),
        )
        .route(
            "/static/portal.js",
            get(|| asset("text/javascript; charset=utf-8", render::JS)),
        )
        .route(
            "/static/webauthn.js",
            get(|| asset("text/javascript; charset=utf-8", render::WEBAUTHN_JS)),
        )
        .route(
            "/static/saml.js",
            get(|| asset("text/javascript; charset=utf-8", render::SAML_JS)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { PortalError::NotFound })
        .layer(middleware::from_fn_with_state(portal.clone(), csrf::layer))
        // OAuth endpoints are called by clients, not portal forms: outside CSRF.
        .merge(crate::oidc::routes(portal.clone()))
        // SPs post SAML messages from their own origin: outside CSRF too.
        .merge(crate::saml::routes())
        // The SAML IdP posts from its own origin; the response's signature
        // and single-use InResponseTo stand in for the CSRF token.
        .route("/login/federation/{id}/acs", post(federation::acs))
        .layer(middleware::from_fn_with_state(
            portal.clone(),
            headers::layer,
        ))
        .with_state(portal)
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A form body; a malformed one gets a page, not a bare 422.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Self(v)),
            Err(_) => Err(PortalError::BadRequest(
                "The form could not be read. Reload the page and try again.".into(),
            )
            .into_response()),
        }
    }
}

/// What every signed-in page's layout needs.
#[derive(Serialize)]
pub struct Chrome {
    pub csrf: String,
    pub active: &'static str,
    pub user: UserChrome,
    pub expiry_days_left: Option<i64>,
}

#[derive(Serialize)]
pub struct UserChrome {
    pub initials: String,
    pub display_name: String,
    pub email: String,
}

impl Portal {
    pub async fn audit(&self, event: crate::audit::Event<'_>) {
        crate::audit::record(&self.idp.store, crate::clock::now(), event).await;
    }

    pub async fn chrome(
        &self,
        user: &User,
        csrf: &CsrfToken,
        active: &'static str,
    ) -> PortalResult<Chrome> {
        Ok(Chrome {
            csrf: csrf.0.clone(),
            active,
            user: UserChrome {
                initials: user.initials(),
                display_name: user.display_name(),
                email: user.email.clone(),
            },
            expiry_days_left: self.idp.expiry_notice(user).await?,
        })
    }
}

/// A 303 to `to`, the answer to every successful form post.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}
