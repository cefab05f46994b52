//! Token introspection (RFC 7662). Clients authenticate, and learn only about
//! tokens issued to themselves: for anyone else's token the answer is
//! `{"active": false}`, as for an unknown one.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::token::check_access_token;
use super::wire::OAuthError;
use crate::clock;
use crate::crypto;
use crate::idp::Idp;
use crate::web::Portal;

pub async fn handle(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    match introspect(&portal.idp, &headers, &body).await {
        Ok(v) => {
            let mut res = axum::Json(v).into_response();
            res.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            res
        }
        Err(e) => e.into_response(),
    }
}

async fn introspect(idp: &Idp, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = super::token::client_params(headers, body)?;
    let client = idp.authenticate_client(headers, &params).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client());
    }
    let token = params.require("token")?;
    let inactive = json!({ "active": false });
    if let Some(c) = check_access_token(idp, token).await? {
        if c.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
            return Ok(inactive);
        }
        let mut out = json!({ "active": true, "token_type": "Bearer" });
        for k in [
            "scope",
            "client_id",
            "sub",
            "exp",
            "iat",
            "iss",
            "aud",
            "jti",
            "auth_time",
            "acr",
        ] {
            if let Some(v) = c.get(k) {
                out[k] = v.clone();
            }
        }
        return Ok(out);
    }
    let now = clock::now();
    if let Some(gid) = idp
        .store
        .refresh_token_grant(&crypto::sha256_hex(token.as_bytes()), now)
        .await?
        && let Some(g) = idp.store.grant(&gid).await?
        && g.revoked_at.is_none()
        && g.client_id == client.client_id
    {
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": g.scope,
            "client_id": g.client_id,
            "sub": g.user_id,
            "iss": idp.issuer(),
            "exp": g.expires_at,
            "iat": g.created_at,
        }));
    }
    Ok(inactive)
}
