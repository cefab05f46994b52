//! Token revocation (RFC 7009). Revoking a refresh token ends its whole
//! family (and the access tokens that name it); an access token is
//! remembered as revoked until it would have expired. The answer is 200
//! whether or not the token was known, so it tells nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::token::check_access_token;
use super::wire::OAuthError;
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::idp::Idp;
use crate::web::Portal;

pub async fn handle(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke(&portal.idp, &headers, &body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke(idp: &Idp, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = super::token::client_params(headers, body)?;
    let client = idp.authenticate_client(headers, &params).await?;
    let token = params.require("token")?;
    let now = clock::now();
    let mut revoked = false;
    if let Some(gid) = idp
        .store
        .refresh_token_grant(&crypto::sha256_hex(token.as_bytes()), now)
        .await?
        && let Some(g) = idp.store.grant(&gid).await?
        && g.client_id == client.client_id
    {
        revoked = idp.store.revoke_grant(&gid, now).await?;
    } else if let Some(c) = check_access_token(idp, token).await?
        && c.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str())
        && let (Some(jti), Some(exp)) = (
            c.get("jti").and_then(Value::as_str),
            c.get("exp").and_then(Value::as_i64),
        )
    {
        idp.store.revoke_jti(jti, exp).await?;
        revoked = true;
    }
    if revoked {
        audit::record(
            &idp.store,
            now,
            Event::new("oidc.revoke", Outcome::Success).subject(&client.client_id),
        )
        .await;
    }
    Ok(())
}
