//! UserInfo (OIDC Core 5.3): GET or POST with a bearer access token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::token::{check_access_token, user_claims};
use super::wire::{ErrorCode, OAuthError, Params};
use crate::web::Portal;

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
        (None, None) => Err(OAuthError::new(ErrorCode::InvalidToken, "no access token")),
    }
}

async fn answer(portal: &Portal, token: Result<String, OAuthError>) -> Response {
    let result = async {
        let token = token?;
        let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
        let claims = check_access_token(&portal.idp, &token)
            .await?
            .ok_or_else(invalid)?;
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        if !scope.split(' ').any(|s| s == "openid") {
            return Err(invalid());
        }
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
        let user = portal
            .idp
            .store
            .user_by_id(sub)
            .await?
            .filter(|u| u.locked.is_none())
            .ok_or_else(invalid)?;
        Ok(user_claims(&portal.idp, &user, scope).await?)
    }
    .await;
    match result {
        Ok(v) => {
            let mut res = axum::Json(v).into_response();
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            res
        }
        Err(e) => e.into_response(),
    }
}

pub async fn handle_get(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    answer(&portal, bearer(&headers, None)).await
}

pub async fn handle_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = if body.is_empty() {
        None
    } else {
        match super::token::client_params(&headers, &body) {
            Ok(p) => Some(p),
            Err(e) => return e.into_response(),
        }
    };
    answer(&portal, bearer(&headers, form.as_ref())).await
}
