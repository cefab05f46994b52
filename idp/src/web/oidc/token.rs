//! The endpoints clients call with their own credentials or a bearer token:
//! token, userinfo, introspection and revocation.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{client_auth, client_form, no_store_json};
use crate::clock;
use crate::oidc::wire::{ErrorCode, OAuthError, Params};
use crate::oidc::{introspect as introspection, revoke as revocation, token as tokens, userinfo};
use crate::web::{ClientIp, Portal};

pub async fn token(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match client_form(&headers, &body) {
        Ok(params) => {
            tokens::exchange(
                &portal.idp,
                &client_auth(&headers),
                &params,
                ip.as_deref(),
                clock::now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(t) => t.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The bearer token from the header (RFC 6750 2.1) or, for POST, the form body (2.2); not both.
fn bearer(headers: &HeaderMap, form: Option<&Params>) -> Result<String, OAuthError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let body = match form {
        Some(p) => p.get("access_token")?.map(str::to_string),
        None => None,
    };
    match (header, body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the token once")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(OAuthError::new(
            ErrorCode::MissingToken,
            "no access token was sent",
        )),
    }
}

async fn answer_userinfo(portal: &Portal, token: Result<String, OAuthError>) -> Response {
    let result = match token {
        Ok(t) => userinfo::userinfo(&portal.idp, &t, clock::now()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => no_store_json(v),
        Err(e) => e.into_response(),
    }
}

pub async fn userinfo_get(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    answer_userinfo(&portal, bearer(&headers, None)).await
}

pub async fn userinfo_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = if body.is_empty() {
        None
    } else {
        match client_form(&headers, &body) {
            Ok(p) => Some(p),
            Err(e) => return e.into_response(),
        }
    };
    answer_userinfo(&portal, bearer(&headers, form.as_ref())).await
}

pub async fn introspect(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    let result = match client_form(&headers, &body) {
        Ok(params) => {
            introspection::introspect(&portal.idp, &client_auth(&headers), &params, clock::now())
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => no_store_json(v),
        Err(e) => e.into_response(),
    }
}

pub async fn revoke(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    let result = match client_form(&headers, &body) {
        Ok(params) => {
            revocation::revoke(&portal.idp, &client_auth(&headers), &params, clock::now()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}
