//! Token revocation (RFC 7009). Revoking a refresh token ends its whole
//! family (and the access tokens that name it); an access token is
//! remembered as revoked until it would have expired. The answer is 200
//! whether or not the token was known, so it tells nothing.

use serde_json::Value;

use super::clients::ClientAuth;
use super::token::check_access_token;
use super::wire::{OAuthError, Params};
use crate::audit::{self, Event, Outcome};
use crate::crypto;
use crate::idp::Idp;

/// Revokes `token` if it is the authenticated client's; an unknown token
/// or another client's is not an error (RFC 7009 section 2.2).
pub async fn revoke(
    idp: &Idp,
    auth: &ClientAuth,
    params: &Params,
    now: i64,
) -> Result<(), OAuthError> {
    let client = idp.authenticate_client(auth, params).await?;
    let token = params.require("token")?;
    let mut revoked = false;
    if let Some(gid) = idp
        .store
        .refresh_token_grant(&crypto::sha256_hex(token.as_bytes()), now)
        .await?
        && let Some(g) = idp.store.grant(&gid).await?
        && g.client_id == client.client_id
    {
        revoked = idp.store.revoke_grant(&gid, now).await?;
    } else if let Some(c) = check_access_token(idp, token, now).await?
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
