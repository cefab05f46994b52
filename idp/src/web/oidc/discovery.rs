//! Discovery (OpenID Connect Discovery 1.0) and the JWKS, cacheable and
//! readable from any origin.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::oidc::discovery::metadata;
use crate::oidc::wire::OAuthError;
use crate::web::Portal;

fn cacheable(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

pub async fn configuration(State(portal): State<Portal>) -> Response {
    cacheable(Json(metadata(&portal.idp.issuer())).into_response())
}

pub async fn jwks(State(portal): State<Portal>) -> Response {
    match portal.idp.oidc_keys().await {
        Ok(keys) => cacheable(Json(keys.jwks()).into_response()),
        Err(e) => OAuthError::from(e).into_response(),
    }
}
