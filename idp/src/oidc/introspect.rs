//! Token introspection (RFC 7662). Clients authenticate, and learn only about
//! tokens issued to themselves: for anyone else's token the answer is
//! `{"active": false}`, as for an unknown one.

use serde_json::{Value, json};

use super::clients::ClientAuth;
use super::token::check_access_token;
use super::wire::{OAuthError, Params};
use crate::crypto;
use crate::idp::Idp;

/// The RFC 7662 answer about `token` for an authenticated confidential client.
pub async fn introspect(
    idp: &Idp,
    auth: &ClientAuth,
    params: &Params,
    now: i64,
) -> Result<Value, OAuthError> {
    let client = idp.authenticate_client(auth, params).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client());
    }
    let token = params.require("token")?;
    let inactive = json!({ "active": false });
    if let Some(c) = check_access_token(idp, token, now).await? {
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
