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
    client.validate("client").map_err(field_of)?;
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

/// A client as an administrator sees it: every field but the secret's hash
/// (whether there is one is `public`). Its [`super::etag`] is the version an
/// edit names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    /// No secret: PKCE is required.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub application: Option<String>,
    pub id_token_signed_response_alg: String,
    pub require_mfa: bool,
    /// How old the second factor may be, as `15m` or `1h 30m`; none: any age.
    pub mfa_max_age: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// `config` (read-only here) or `store`.
    pub source: String,
}

impl ClientView {
    pub fn of(c: &ClientConfig, source: &str) -> Self {
        Self {
            client_id: c.client_id.clone(),
            public: c.is_public(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            application: c.application.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
            require_mfa: c.require_mfa,
            mfa_max_age: c
                .mfa_max_age
                .map(|d| humantime_serde::re::humantime::format_duration(d).to_string()),
            initiate_login_uri: c.initiate_login_uri.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            source: source.to_string(),
        }
    }
}

/// The client with this id as an administrator sees it.
pub async fn view(idp: &Idp, client_id: &str) -> Result<ClientView> {
    let (c, source) = show(idp, client_id).await?;
    Ok(ClientView::of(&c, source))
}

/// Every field an administrator may change on a stored client: all but its
/// id and its secret (see [`rotate_secret`]). `grants` are taken as given
/// (none is refused); empty `scopes` mean every user scope, the default of
/// a configured client.
#[derive(Debug, Clone, Default)]
pub struct ClientEdit {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    pub application: Option<String>,
    /// RS256 or ES256.
    pub alg: String,
    pub require_mfa: bool,
    /// A duration such as `15m`; empty or absent: any age.
    pub mfa_max_age: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

/// A stored client's own record, or why an administrator may not change it.
async fn stored(idp: &Idp, client_id: &str) -> Result<ClientConfig> {
    let (client, source) = show(idp, client_id).await?;
    if source == "config" {
        return Err(AdminError::DeclaredInConfig {
            entity: Entity::OidcClient,
            name: client_id.to_string(),
        });
    }
    Ok(client)
}

async fn save(idp: &Idp, client: &ClientConfig) -> Result<()> {
    let json = serde_json::to_string(client).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
    if !idp
        .store
        .update_oidc_client(&client.client_id, &json)
        .await?
    {
        return Err(AdminError::not_found(Entity::OidcClient, &client.client_id));
    }
    Ok(())
}

/// Changes a stored client's fields, validated exactly as a configured
/// client is ([`ClientConfig::validate`]: the one redirect URI rule), so a
/// refused edit changes nothing. `if_match`, when given, must be the
/// current [`super::etag`] of its [`ClientView`].
pub async fn update(
    idp: &Idp,
    actor: &Actor,
    client_id: &str,
    edit: ClientEdit,
    if_match: Option<&str>,
) -> Result<ClientView> {
    let current = stored(idp, client_id).await?;
    super::check_version(
        &ClientView::of(&current, "store"),
        if_match,
        Entity::OidcClient,
        client_id,
    )?;
    let mfa_max_age = match edit.mfa_max_age.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            humantime_serde::re::humantime::parse_duration(s)
                .map_err(|_| AdminError::invalid("mfa_max_age", "a duration such as 15m or 1h"))?,
        ),
    };
    let blank = |o: Option<String>| o.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut client = current.clone();
    client.redirect_uris = edit.redirect_uris;
    client.post_logout_redirect_uris = edit.post_logout_redirect_uris;
    client.grant_types = edit.grants;
    client.scopes = if edit.scopes.is_empty() {
        crate::oidc::config::SCOPES.map(str::to_string).to_vec()
    } else {
        edit.scopes
    };
    client.application = blank(edit.application);
    client.id_token_signed_response_alg = edit.alg;
    client.require_mfa = edit.require_mfa;
    client.mfa_max_age = mfa_max_age;
    client.initiate_login_uri = blank(edit.initiate_login_uri);
    client.backchannel_logout_uri = blank(edit.backchannel_logout_uri);
    client.backchannel_logout_session_required = edit.backchannel_logout_session_required;
    client.validate("client").map_err(field_of)?;
    if let Some(app) = &client.application {
        super::apps::find(idp, app).await.map_err(|_| {
            AdminError::invalid("application", format!("no application named {app:?}"))
        })?;
    }
    save(idp, &client).await?;
    let before = ClientView::of(&current, "store");
    let after = ClientView::of(&client, "store");
    Record::new("admin.oidc.client.update")
        .subject(client_id)
        .detail(changed_fields(&before, &after))
        .write(idp, actor)
        .await;
    Ok(after)
}

/// A validation failure of the record named by its field alone
/// (`redirect_uris`, not `client.redirect_uris`), as the forms name them.
fn field_of(e: crate::config::ConfigError) -> AdminError {
    let field = e.key.strip_prefix("client.").unwrap_or(&e.key).to_string();
    AdminError::Invalid {
        message: format!("{field}: {}", e.reason),
        field: Some(field),
    }
}

/// The names of the fields an edit changed, for its audit row.
fn changed_fields(before: &ClientView, after: &ClientView) -> String {
    let (Ok(serde_json::Value::Object(b)), Ok(serde_json::Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return String::new();
    };
    let changed: Vec<&str> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.as_str())
        .collect();
    if changed.is_empty() {
        "nothing changed".into()
    } else {
        format!("changed {}", changed.join(", "))
    }
}

/// Gives a confidential stored client a new secret, returned once (only its
/// SHA-256 is kept). The old secret stops working at once; tokens already
/// issued stay valid until they expire, and refreshing them needs the new
/// secret.
pub async fn rotate_secret(idp: &Idp, actor: &Actor, client_id: &str) -> Result<String> {
    let mut client = stored(idp, client_id).await?;
    if client.is_public() {
        return Err(AdminError::invalid(
            "client_id",
            format!("{client_id} is a public client: it has no secret to rotate"),
        ));
    }
    let secret = crate::crypto::random_token();
    client.client_secret_hash = Some(format!(
        "sha256:{}",
        crate::crypto::sha256_hex(secret.as_bytes())
    ));
    save(idp, &client).await?;
    Record::new("admin.oidc.client.rotate_secret")
        .subject(client_id)
        .detail(client_id)
        .write(idp, actor)
        .await;
    Ok(secret)
}
