//! Who calls an admin API, from the bearer credential it presents: an
//! access token our token endpoint issued to a client by the
//! `client_credentials` grant with a role scope, or an administrator's
//! personal API key. The role found here goes through
//! [`super::roles::require`] like the console's.

use serde_json::Value;

use super::{Actor, Result, roles};
use crate::idp::Idp;
use crate::roles::Role;

/// An authenticated caller and the role it holds (None: no admin role).
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub role: Option<Role>,
}

/// The caller behind `bearer`, or None when it is no live credential.
pub async fn authenticate(idp: &Idp, bearer: &str, ip: Option<String>) -> Result<Option<Caller>> {
    let now = crate::clock::now();
    if bearer.starts_with(crate::account::api_keys::PREFIX) {
        let Some(user) = idp.api_key_owner(bearer, now).await? else {
            return Ok(None);
        };
        let role = roles::of(idp, &user).await?;
        return Ok(Some(Caller {
            actor: Actor::User {
                user_id: user.id,
                ip,
            },
            role,
        }));
    }
    // The one verifier of our access tokens (signature, issuer, expiry,
    // a removed client, a revoked token).
    let Some(claims) = crate::oidc::token::check_access_token(idp, bearer, now).await? else {
        return Ok(None);
    };
    let client_id = claims.get("client_id").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    // A user's token (it names a grant) acts for the user at a client, not
    // for an administrator: only a client's own token is a caller here.
    let (Some(client_id), true) = (client_id, claims.get("gid").is_none() && sub == client_id)
    else {
        return Ok(None);
    };
    let role = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(' ')
        .filter_map(Role::from_scope)
        .max();
    Ok(Some(Caller {
        actor: Actor::Client {
            client_id: client_id.to_string(),
            ip,
        },
        role,
    }))
}
