//! The portal: server-rendered pages for signing in and running one's own
//! account. Handlers are thin; the decisions live in [`crate::accounts`].

pub mod admin;
pub mod api;
mod apps;
pub(crate) mod auth;
mod complete;
pub mod cookies;
mod csrf;
mod error;
mod federation;
mod flow;
pub mod gateway;
mod headers;
mod login;
pub use login::login_url;
mod mfa;
pub mod oidc;
mod profile;
pub mod render;
mod reset;
pub mod return_to;
mod saml;
mod scim;
mod security;
mod webauthn;

use crate::paths;
use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::directory::User;
use crate::idp::Idp;
pub use auth::{ClientIp, SignedIn};
pub use csrf::CsrfToken;
pub use error::{PortalError, PortalResult};

/// Shared state of every portal handler.
#[derive(Clone, Debug)]
pub struct Portal {
    pub idp: Arc<Idp>,
    pub cookies: cookies::Cookies,
}

/// The portal's routes with their layers. The gateway's protected
/// applications, when there are any, are in [`Idp::handoffs`].
pub fn router(idp: Arc<Idp>) -> Router {
    let portal = Portal {
        cookies: cookies::Cookies::new(idp.config.secure_cookies),
        idp,
    };
    Router::new()
        .route(paths::HOME, get(login::home))
        .route(
            paths::LOGIN,
            get(login::email_page).post(login::email_submit),
        )
        .route(
            paths::LOGIN_PASSWORD,
            get(login::password_page_get).post(login::password_submit),
        )
        .route(paths::LOGIN_NOTICE, get(login::notice))
        .route(paths::LOGIN_FEDERATION_ID, get(federation::note))
        .route(paths::LOGIN_FEDERATION_ID_START, get(federation::start))
        .route(
            paths::LOGIN_FEDERATION_ID_CALLBACK,
            get(federation::callback),
        )
        .route(
            paths::LOGIN_FEDERATION_ID_RETURN,
            get(federation::saml_return),
        )
        .route(
            paths::LOGIN_FEDERATION_ID_METADATA,
            get(federation::metadata),
        )
        .route(paths::LOGIN_FEDERATION_ID_SLO, get(federation::slo_return))
        .route(paths::LOGIN_FEDERATION_ID_LEAVE, get(federation::leave))
        .route(paths::LOGIN_MFA, get(mfa::chooser))
        .route(paths::LOGIN_STEP_UP, get(mfa::step_up))
        .route(
            paths::LOGIN_MFA_METHOD,
            get(mfa::code_form).post(mfa::code_submit),
        )
        .route(
            paths::MFA_TOTP_SETUP,
            get(mfa::setup_intro).post(mfa::setup_start),
        )
        .route(paths::MFA_TOTP_SETUP_SCAN, get(mfa::setup_scan))
        .route(
            paths::MFA_TOTP_SETUP_CONFIRM,
            get(mfa::setup_confirm_form).post(mfa::setup_confirm),
        )
        .route(paths::SECURITY_TOTP_REMOVE, post(security::remove_totp))
        .route(
            paths::SECURITY_RECOVERY_CODES,
            post(security::recovery_codes),
        )
        .route(
            paths::SECURITY_WEBAUTHN_REGISTER_START,
            post(webauthn::register_start),
        )
        .route(
            paths::SECURITY_WEBAUTHN_REGISTER_FINISH,
            post(webauthn::register_finish),
        )
        .route(paths::SECURITY_WEBAUTHN_ID_DELETE, post(webauthn::remove))
        .route(
            paths::LOGIN_MFA_WEBAUTHN_START,
            post(webauthn::verify_start),
        )
        .route(
            paths::LOGIN_MFA_WEBAUTHN_FINISH,
            post(webauthn::verify_finish),
        )
        .route(paths::LOGIN_PASSKEY_START, post(webauthn::passkey_start))
        .route(paths::LOGIN_PASSKEY_FINISH, post(webauthn::passkey_finish))
        .route(paths::LOGOUT, post(login::logout))
        .route(
            paths::PASSWORD_RESET,
            get(reset::request_form).post(reset::request_submit),
        )
        .route(
            paths::PASSWORD_RESET_NEW,
            get(reset::link).post(reset::password_submit),
        )
        .route(paths::PASSWORD_RESET_MFA, post(reset::mfa_submit))
        .route(paths::APPS, get(apps::list))
        .route(paths::APPS_ID_FAVORITE, post(apps::toggle_favorite))
        .route(paths::APPS_ID_LAUNCH, get(apps::launch))
        .route(paths::APPS_ID_LOGO, get(apps::logo))
        .route(paths::GATEWAY_AUTHORIZE, get(gateway::authorize))
        .route(paths::PROFILE, get(profile::show).post(profile::save))
        .route(paths::SECURITY, get(security::show))
        .route(paths::SECURITY_PASSWORD, post(security::change_password))
        .route(paths::SECURITY_SSH_KEYS, post(security::add_ssh_key))
        .route(
            paths::SECURITY_SSH_KEYS_ID_DELETE,
            post(security::delete_ssh_key),
        )
        .route(paths::SECURITY_API_KEYS, post(security::create_api_key))
        .route(
            paths::SECURITY_API_KEYS_ID_REVOKE,
            post(security::revoke_api_key),
        )
        .route(paths::SECURITY_SESSIONS_ID_END, post(security::end_session))
        .route(
            paths::SECURITY_SESSIONS_END_OTHERS,
            post(security::end_other_sessions),
        )
        .route(
            paths::STATIC_PORTAL_CSS,
            get(|| asset("text/css; charset=utf-8", render::CSS)),
        )
        .route(
            paths::STATIC_PORTAL_JS,
            get(|| asset("text/javascript; charset=utf-8", render::JS)),
        )
        .route(
            paths::STATIC_WEBAUTHN_JS,
            get(|| asset("text/javascript; charset=utf-8", render::WEBAUTHN_JS)),
        )
        .route(
            paths::STATIC_SAML_JS,
            get(|| asset("text/javascript; charset=utf-8", render::SAML_JS)),
        )
        .route(paths::HEALTHZ, get(|| async { "ok" }))
        .merge(admin::routes())
        .fallback(|| async { PortalError::NotFound })
        .layer(middleware::from_fn_with_state(portal.clone(), csrf::layer))
        // OAuth endpoints are called by clients, not portal forms: outside CSRF.
        .merge(oidc::routes(portal.clone()))
        // SPs post SAML messages from their own origin: outside CSRF too.
        .merge(saml::routes())
        // Provisioning clients authenticate with a bearer token, never a
        // cookie: outside CSRF.
        .merge(scim::routes(portal.clone()))
        // The admin API authenticates every call with a bearer credential,
        // never a cookie: outside CSRF.
        .merge(api::routes())
        // The SAML IdP posts from its own origin; the response's signature
        // and single-use InResponseTo stand in for the CSRF token.
        .route(paths::LOGIN_FEDERATION_ID_ACS, post(federation::acs))
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
    /// The account menu links to the admin console.
    pub is_admin: bool,
}

#[derive(Serialize)]
pub struct UserChrome {
    pub initials: String,
    pub display_name: String,
    pub email: String,
}

impl Portal {
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
            is_admin: match crate::admin::roles::of(&self.idp, user).await {
                Ok(role) => role.is_some(),
                Err(crate::admin::AdminError::Internal(e)) => return Err(e.into()),
                Err(_) => false,
            },
        })
    }
}

/// A 303 to `to`, the answer to every successful form post.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}
