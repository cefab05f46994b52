//! SCIM provisioning clients: each has one bearer token, shown once when the
//! client is added and kept only as a SHA-256. Revoking a client refuses its
//! token at once.

use super::{Actor, AdminError, Entity, Record, Result, conflict_on};
use crate::crypto;
use crate::idp::Idp;
use crate::store::ScimClientRow;

/// What every SCIM token starts with, so a leaked one is recognisable (and
/// never confused with a personal API key, `pcl_`).
pub const PREFIX: &str = "pcs_";

/// The longest client name, in characters.
pub const MAX_NAME: usize = 64;

/// The SHA-256 a token is stored and looked up by.
pub fn hash(token: &str) -> String {
    crypto::sha256_hex(token.as_bytes())
}

/// A client just added, with its token (shown this once).
#[derive(Debug)]
pub struct NewClient {
    pub client: ScimClientRow,
    pub token: String,
}

pub async fn add(idp: &Idp, actor: &Actor, name: &str) -> Result<NewClient> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(AdminError::invalid(
            "name",
            format!(
                "a SCIM client name has 1 to {MAX_NAME} letters, digits, dots, dashes or underscores"
            ),
        ));
    }
    let token = format!("{PREFIX}{}", crypto::random_token());
    let prefix = token[..PREFIX.len() + 6].to_string();
    let client = idp
        .store
        .add_scim_client(name, &prefix, &hash(&token), crate::clock::now())
        .await
        .map_err(conflict_on(Entity::ScimClient, name))?;
    Record::new("admin.scim_client.add")
        .subject(name)
        .detail(format!("{name} ({prefix}…)"))
        .write(idp, actor)
        .await;
    Ok(NewClient { client, token })
}

/// Every client, revoked ones too.
pub async fn list(idp: &Idp) -> Result<Vec<ScimClientRow>> {
    Ok(idp.store.scim_clients().await?)
}

pub async fn revoke(idp: &Idp, actor: &Actor, name: &str) -> Result<ScimClientRow> {
    let client = idp
        .store
        .revoke_scim_client(name, crate::clock::now())
        .await?
        .ok_or_else(|| AdminError::not_found(Entity::ScimClient, name))?;
    Record::new("admin.scim_client.revoke")
        .subject(name)
        .detail(format!("{name} ({}…)", client.prefix))
        .write(idp, actor)
        .await;
    Ok(client)
}
