//! OpenID Connect clients kept in the store (those of the configuration
//! file are read-only here).

use serde_json::json;

use super::{Actor, AdminError, Entity, Record, Result};
use crate::idp::Idp;
use crate::oidc::ClientConfig;

/// A client as an administrator registers it. Empty lists take the
/// defaults of a configured client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    /// A public client (native or single-page app): no secret, PKCE required.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    /// The portal application whose assignments decide who may sign in.
    pub application: Option<String>,
    /// RS256 or ES256.
    pub alg: String,
    pub require_mfa: bool,
    pub initiate_login_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

/// Registers the client. A confidential client's secret is generated here
/// and returned once; only its SHA-256 is stored.
pub async fn add(
    idp: &Idp,
    actor: &Actor,
    new: NewClient,
) -> Result<(ClientConfig, Option<String>)> {
    // Through serde, so the defaults are those of a configured client.
    let mut client: ClientConfig = serde_json::from_value(json!({
        "client_id": new.client_id,
        "redirect_uris": new.redirect_uris,
        "post_logout_redirect_uris": new.post_logout_redirect_uris,
        "application": new.application,
        "id_token_signed_response_alg": new.alg,
        "require_mfa": new.require_mfa,
        "initiate_login_uri": new.initiate_login_uri,
        "backchannel_logout_uri": new.backchannel_logout_uri,
        "backchannel_logout_session_required": new.backchannel_logout_session_required,
    }))
    .map_err(|e| AdminError::invalid("client", e.to_string()))?;
    if !new.grants.is_empty() {
        client.grant_types = new.grants;
    }
    if !new.scopes.is_empty() {
        client.scopes = new.scopes;
    }
    let secret = (!new.public).then(crate::crypto::random_token);
    client.client_secret_hash = secret
        .as_ref()
        .map(|s| format!("sha256:{}", crate::crypto::sha256_hex(s.as_bytes())));
    register(idp, actor, &client).await?;
    Ok((client, secret))
}

/// Stores a client after validating it like a configured one.
pub async fn register(idp: &Idp, actor: &Actor, client: &ClientConfig) -> Result<()> {
    client.validate("client")?;
    if idp.oidc_client(&client.client_id).await?.is_some() {
        return Err(AdminError::Conflict {
            entity: Entity::OidcClient,
            name: client.client_id.clone(),
        });
    }
    if let Some(app) = &client.application {
        super::apps::find(idp, app).await?;
    }
    let json = serde_json::to_string(client).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
    idp.store
        .add_oidc_client(&client.client_id, &json, crate::clock::now())
        .await
        .map_err(super::conflict_on(Entity::OidcClient, &client.client_id))?;
    Record::new("admin.oidc.client.add")
        .subject(&client.client_id)
        .detail(&client.client_id)
        .write(idp, actor)
        .await;
    Ok(())
}

/// Every client with where it comes from ("config" or "store").
pub async fn list(idp: &Idp) -> Result<Vec<(ClientConfig, &'static str)>> {
    Ok(idp.oidc_clients().await?)
}

/// Removes a stored client and revokes every token issued to it.
pub async fn remove(idp: &Idp, actor: &Actor, client_id: &str) -> Result<()> {
    if idp
        .config
        .oidc
        .clients
        .iter()
        .any(|c| c.client_id == client_id)
    {
        return Err(AdminError::DeclaredInConfig {
            entity: Entity::OidcClient,
            name: client_id.to_string(),
        });
    }
    if !idp
        .store
        .remove_oidc_client(client_id, crate::clock::now())
        .await?
    {
        return Err(AdminError::not_found(Entity::OidcClient, client_id));
    }
    Record::new("admin.oidc.client.remove")
        .subject(client_id)
        .detail(client_id)
        .write(idp, actor)
        .await;
    Ok(())
}

/// The client with this id and where it comes from, or [`AdminError::NotFound`].
pub async fn show(idp: &Idp, client_id: &str) -> Result<(ClientConfig, &'static str)> {
    list(idp)
        .await?
        .into_iter()
        .find(|(c, _)| c.client_id == client_id)
        .ok_or_else(|| AdminError::not_found(Entity::OidcClient, client_id))
}
