//! UserInfo (OIDC Core 5.3): the claims of a bearer access token's user.
//! The web layer finds the token (header or form, RFC 6750 2.1 and 2.2).

use serde_json::Value;

use super::claims::Target;
use super::token::{check_access_token, released_claims};
use super::wire::{ErrorCode, OAuthError};
use crate::idp::Idp;

/// The claims released to the holder of `access_token`: a live token with
/// the `openid` scope whose user may still sign in; anything else is
/// `invalid_token`.
pub async fn userinfo(idp: &Idp, access_token: &str, now: i64) -> Result<Value, OAuthError> {
    let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
    let claims = check_access_token(idp, access_token, now)
        .await?
        .ok_or_else(invalid)?;
    let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(invalid());
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let user = idp
        .store
        .user_by_id(sub)
        .await?
        .filter(|u| u.locked.is_none())
        .ok_or_else(invalid)?;
    let client_id = claims
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let client = idp.oidc_client(client_id).await?.ok_or_else(invalid)?;
    let gid = claims.get("gid").and_then(Value::as_str);
    Ok(released_claims(idp, &client, &user, gid, scope, Target::Userinfo).await?)
}
