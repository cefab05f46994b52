//! The OpenID Connect provider's HTTP side: the axum handlers that read a
//! request into the engines' typed inputs ([`crate::oidc`]) and turn their
//! outcomes into responses, the CORS layer, and the routes. The routes are
//! merged into the portal router *outside* its CSRF layer: clients call the
//! token, introspection and revocation endpoints without a browser form
//! token, and authenticate themselves instead.

mod authorize;
mod cors;
mod discovery;
mod logout;
mod token;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::oidc::clients::ClientAuth;
use crate::oidc::wire::{ErrorCode, OAuthError, Params, TokenResponse};
use crate::paths;
use crate::web::Portal;

/// The provider's routes, merged into the portal router outside its CSRF layer.
pub fn routes(portal: Portal) -> Router<Portal> {
    // What browser-based clients call with fetch gets CORS for their origins.
    let api = Router::new()
        .route(paths::OIDC_TOKEN, post(token::token))
        .route(
            paths::OIDC_USERINFO,
            get(token::userinfo_get).post(token::userinfo_post),
        )
        .route(paths::OIDC_INTROSPECT, post(token::introspect))
        .route(paths::OIDC_REVOKE, post(token::revoke))
        .layer(axum::middleware::from_fn_with_state(portal, cors::layer));
    Router::new()
        .route(paths::OIDC_DISCOVERY, get(discovery::configuration))
        .route(paths::OIDC_JWKS, get(discovery::jwks))
        .route(
            paths::OIDC_AUTHORIZE,
            get(authorize::handle_get).post(authorize::handle_post),
        )
        .route(
            paths::OIDC_END_SESSION,
            get(logout::handle_get).post(logout::handle_post),
        )
        .route(paths::OIDC_END_SESSION_CONFIRM, post(logout::confirm))
        .merge(api)
}

/// The client's `Authorization` headers, for client authentication.
fn client_auth(headers: &HeaderMap) -> ClientAuth {
    ClientAuth {
        authorization: headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_string())
            .collect(),
    }
}

/// A client's form body (`application/x-www-form-urlencoded`, bounded).
fn client_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Ok(Params::from_form(ct, body)?)
}

/// JSON that must not be cached (tokens, claims, introspection).
fn no_store_json<T: serde::Serialize>(v: T) -> Response {
    no_store(Json(v).into_response())
}

/// `Cache-Control: no-store` and, for HTTP/1.0 caches, `Pragma: no-cache`
/// (RFC 6749 section 5.1).
fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The token-endpoint style answer: JSON with RFC 6749 section 5.2 status codes.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let res = if self.code == ErrorCode::MissingToken {
            // RFC 6750 3.1: a request without any token hears no error code.
            status.into_response()
        } else {
            (status, Json(self.body())).into_response()
        };
        let mut res = no_store(res);
        let h = res.headers_mut();
        if let Some(challenge) = self.www_authenticate() {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        res
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        no_store_json(self)
    }
}
