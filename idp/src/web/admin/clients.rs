//! OpenID Connect clients: the list (configured and stored), registering
//! one, a client's page (every field, edited as one form), rotating its
//! secret and deleting it. A new secret is shown once, on the answer page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::users::{Confirm, Empty};
use super::{Admin, Configure, ConfigureFresh, Need, Read, confirm_page, failed, render, segment};
use crate::admin::{self, AdminError};
use crate::roles::Permission;
use crate::web::{Form, Portal, PortalResult, see_other};

fn client_path(id: &str) -> String {
    format!("/admin/clients/{}", segment(id))
}

#[derive(Serialize)]
struct Row {
    client_id: String,
    path: String,
    source: &'static str,
    confidential: bool,
    redirect_uris: String,
    grants: String,
    require_mfa: bool,
    backchannel: String,
    application: String,
}

#[derive(Serialize, Default)]
struct Typed {
    client_id: String,
    redirect_uris: String,
    backchannel_logout_uri: String,
    application: String,
    public: bool,
    require_mfa: bool,
    refresh: bool,
}

#[derive(Serialize)]
struct ListPage {
    clients: Vec<Row>,
    apps: Vec<String>,
    can_configure: bool,
    form: Typed,
    error: Option<String>,
    /// The client just registered and its secret, shown this once.
    created: Option<String>,
    secret: Option<String>,
    flash: Option<&'static str>,
}

async fn list_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    form: Typed,
    error: Option<AdminError>,
    created: Option<(String, Option<String>)>,
    flash: Option<&'static str>,
) -> PortalResult {
    let idp = &portal.idp;
    let clients = match admin::oidc::list(idp).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(e)),
    };
    let apps = match admin::apps::list(idp).await {
        Ok(a) => a.into_iter().map(|a| a.name).collect(),
        Err(e) => return Ok(failed(e)),
    };
    let (created, secret) = match created {
        Some((id, secret)) => (Some(id), secret),
        None => (None, None),
    };
    render(
        portal,
        me,
        status,
        "admin_clients.html",
        "clients",
        "OpenID Connect clients",
        ListPage {
            clients: clients
                .into_iter()
                .map(|(c, source)| Row {
                    confidential: c.client_secret_hash.is_some(),
                    redirect_uris: c.redirect_uris.join(" "),
                    grants: c.grant_types.join(", "),
                    require_mfa: c.require_mfa,
                    backchannel: c.backchannel_logout_uri.unwrap_or_default(),
                    application: c.application.unwrap_or_default(),
                    path: client_path(&c.client_id),
                    client_id: c.client_id,
                    source,
                })
                .collect(),
            apps,
            can_configure: me.role.allows(Permission::Configure),
            form,
            error: error.map(|e| e.to_string()),
            created,
            secret,
            flash,
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("deleted") => Some("Client deleted; its tokens are revoked."),
        _ => None,
    };
    list_page(
        &portal,
        &me,
        StatusCode::OK,
        Typed::default(),
        None,
        None,
        flash,
    )
    .await
}

#[derive(Deserialize)]
pub struct NewClientForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    application: String,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    require_mfa: Option<String>,
    #[serde(default)]
    refresh: Option<String>,
}

/// POST /admin/clients: registers the client and answers with the page
/// itself (not a redirect), so the secret is never in a URL or a history
/// entry; the page is `no-store` like every portal page.
pub async fn create(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Form(f): Form<NewClientForm>,
) -> PortalResult {
    let typed = Typed {
        client_id: f.client_id.clone(),
        redirect_uris: f.redirect_uris.clone(),
        backchannel_logout_uri: f.backchannel_logout_uri.clone(),
        application: f.application.clone(),
        public: f.public.is_some(),
        require_mfa: f.require_mfa.is_some(),
        refresh: f.refresh.is_some(),
    };
    let mut grants = vec!["authorization_code".to_string()];
    if typed.refresh {
        grants.push("refresh_token".into());
    }
    let new = admin::oidc::NewClient {
        client_id: f.client_id.trim().to_string(),
        public: typed.public,
        redirect_uris: f
            .redirect_uris
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        grants,
        application: Some(f.application.trim().to_string()).filter(|a| !a.is_empty()),
        alg: "RS256".into(),
        require_mfa: typed.require_mfa,
        backchannel_logout_uri: Some(f.backchannel_logout_uri.trim().to_string())
            .filter(|u| !u.is_empty()),
        ..Default::default()
    };
    match admin::oidc::add(&portal.idp, &me.actor, new).await {
        Ok((client, secret)) => {
            list_page(
                &portal,
                &me,
                StatusCode::OK,
                Typed::default(),
                None,
                Some((client.client_id, secret)),
                None,
            )
            .await
        }
        Err(e @ AdminError::Internal(_)) => Ok(failed(e)),
        Err(e) => {
            list_page(
                &portal,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                Some(e),
                None,
                None,
            )
            .await
        }
    }
}

// ---- one client ---------------------------------------------------------

/// The edit form as typed, so a refused edit shows what was sent.
#[derive(Serialize, Deserialize, Default)]
pub struct EditForm {
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    grant_authorization_code: Option<String>,
    #[serde(default)]
    grant_refresh_token: Option<String>,
    #[serde(default)]
    grant_client_credentials: Option<String>,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    application: String,
    #[serde(default)]
    alg: String,
    #[serde(default)]
    require_mfa: Option<String>,
    #[serde(default)]
    mfa_max_age: String,
    #[serde(default)]
    initiate_login_uri: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    backchannel_logout_session_required: Option<String>,
    /// The version the form was made from: an edit of a client someone
    /// changed since is refused rather than undoing their change.
    #[serde(default)]
    version: String,
}

impl EditForm {
    fn of(v: &admin::oidc::ClientView) -> Self {
        let has = |g: &str| {
            v.grant_types
                .iter()
                .any(|x| x == g)
                .then(|| "1".to_string())
        };
        Self {
            redirect_uris: v.redirect_uris.join("\n"),
            post_logout_redirect_uris: v.post_logout_redirect_uris.join("\n"),
            grant_authorization_code: has("authorization_code"),
            grant_refresh_token: has("refresh_token"),
            grant_client_credentials: has("client_credentials"),
            scopes: v.scopes.join(" "),
            application: v.application.clone().unwrap_or_default(),
            alg: v.id_token_signed_response_alg.clone(),
            require_mfa: v.require_mfa.then(|| "1".into()),
            mfa_max_age: v.mfa_max_age.clone().unwrap_or_default(),
            initiate_login_uri: v.initiate_login_uri.clone().unwrap_or_default(),
            backchannel_logout_uri: v.backchannel_logout_uri.clone().unwrap_or_default(),
            backchannel_logout_session_required: v
                .backchannel_logout_session_required
                .then(|| "1".into()),
            version: admin::etag(v),
        }
    }

    fn edit(&self) -> admin::oidc::ClientEdit {
        let lines = |t: &str| t.split_whitespace().map(str::to_string).collect();
        let mut grants = Vec::new();
        for (on, g) in [
            (&self.grant_authorization_code, "authorization_code"),
            (&self.grant_refresh_token, "refresh_token"),
            (&self.grant_client_credentials, "client_credentials"),
        ] {
            if on.is_some() {
                grants.push(g.to_string());
            }
        }
        let opt = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
        admin::oidc::ClientEdit {
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            grants,
            scopes: lines(&self.scopes),
            application: opt(&self.application),
            alg: self.alg.trim().to_string(),
            require_mfa: self.require_mfa.is_some(),
            mfa_max_age: opt(&self.mfa_max_age),
            initiate_login_uri: opt(&self.initiate_login_uri),
            backchannel_logout_uri: opt(&self.backchannel_logout_uri),
            backchannel_logout_session_required: self.backchannel_logout_session_required.is_some(),
        }
    }
}

#[derive(Serialize)]
struct ClientPage<'a> {
    client: admin::oidc::ClientView,
    path: String,
    form: &'a EditForm,
    apps: Vec<String>,
    /// A stored client and a role that may change it.
    editable: bool,
    can_configure: bool,
    flash: Option<&'static str>,
    error: Option<String>,
    error_field: Option<String>,
    /// The new secret of a rotation, shown this once.
    secret: Option<String>,
}

/// The client's page; also the answer to a rotation, with the new secret.
#[allow(clippy::too_many_arguments)]
async fn client_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    id: &str,
    status: StatusCode,
    form: Option<&EditForm>,
    flash: Option<&'static str>,
    error: Option<AdminError>,
    secret: Option<String>,
) -> PortalResult {
    let idp = &portal.idp;
    let client = match admin::oidc::view(idp, id).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(e)),
    };
    let apps = match admin::apps::list(idp).await {
        Ok(a) => a.into_iter().map(|a| a.name).collect(),
        Err(e) => return Ok(failed(e)),
    };
    let fresh;
    let form = match form {
        Some(f) => f,
        None => {
            fresh = EditForm::of(&client);
            &fresh
        }
    };
    let (error_field, error) = match error {
        Some(AdminError::Invalid { field, message }) => (field, Some(message)),
        Some(e @ AdminError::Stale { .. }) => (Some("version".into()), Some(e.to_string())),
        Some(e) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let can_configure = me.role.allows(Permission::Configure);
    render(
        portal,
        me,
        status,
        "admin_client.html",
        "clients",
        format!("Client {}", client.client_id),
        ClientPage {
            path: client_path(&client.client_id),
            editable: can_configure && client.source == "store",
            can_configure,
            client,
            form,
            apps,
            flash,
            error,
            error_field,
            secret,
        },
    )
    .await
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("saved") => Some("Client saved."),
        _ => None,
    };
    client_page(&portal, &me, &id, StatusCode::OK, None, flash, None, None).await
}

/// POST /admin/clients/{id}: the whole form at once, validated by the core
/// as a configured client is; a refusal shows the form as sent, with the
/// field at fault marked, and changes nothing.
pub async fn update(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> PortalResult {
    let version = Some(f.version.as_str()).filter(|v| !v.is_empty());
    match admin::oidc::update(&portal.idp, &me.actor, &id, f.edit(), version).await {
        Ok(_) => Ok(see_other(&format!("{}?done=saved", client_path(&id)))),
        Err(
            e @ (AdminError::Invalid { .. }
            | AdminError::Stale { .. }
            | AdminError::DeclaredInConfig { .. }),
        ) => {
            let form = match e {
                // The form is of an old version: show the current one.
                AdminError::Stale { .. } => None,
                _ => Some(&f),
            };
            client_page(
                &portal,
                &me,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                None,
                Some(e),
                None,
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

/// A stored client, for the confirmation pages: one from the configuration
/// file is refused before anything is asked.
async fn stored_view(portal: &Portal, id: &str) -> Result<admin::oidc::ClientView, AdminError> {
    let client = admin::oidc::view(&portal.idp, id).await?;
    if client.source == "config" {
        return Err(AdminError::DeclaredInConfig {
            entity: admin::Entity::OidcClient,
            name: client.client_id,
        });
    }
    Ok(client)
}

pub async fn rotate_confirm(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(id): Path<String>,
) -> PortalResult {
    let client = match stored_view(&portal, &id).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(e)),
    };
    let path = client_path(&client.client_id);
    confirm_page(
        &portal,
        &me,
        "clients",
        "Rotate client secret",
        Confirm {
            heading: format!("Rotate the secret of {}?", client.client_id),
            message: "A new secret is made and shown once. The current secret stops working at once: the client cannot get or refresh tokens until it is given the new one. Tokens it already holds stay valid until they expire.".into(),
            action: format!("{path}/secret"),
            button: "Rotate secret",
            cancel: path,
            fields: vec![],
        },
    )
    .await
}

/// POST /admin/clients/{id}/secret: answers with the client's page itself
/// (not a redirect), so the secret is never in a URL or a history entry.
pub async fn rotate(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    match admin::oidc::rotate_secret(&portal.idp, &me.actor, &id).await {
        Ok(secret) => {
            client_page(
                &portal,
                &me,
                &id,
                StatusCode::OK,
                None,
                None,
                None,
                Some(secret),
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

pub async fn delete_confirm(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(id): Path<String>,
) -> PortalResult {
    let client = match stored_view(&portal, &id).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(e)),
    };
    let path = client_path(&client.client_id);
    confirm_page(
        &portal,
        &me,
        "clients",
        "Delete client",
        Confirm {
            heading: format!("Delete {}?", client.client_id),
            message: "The client is removed and every grant, access token and refresh token issued to it is revoked: people signed in to it through Portcullis must sign in again once it is registered anew. This cannot be undone.".into(),
            action: format!("{path}/delete"),
            button: "Delete client",
            cancel: path,
            fields: vec![],
        },
    )
    .await
}

pub async fn delete(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    match admin::oidc::remove(&portal.idp, &me.actor, &id).await {
        Ok(()) => Ok(see_other("/admin/clients?done=deleted")),
        Err(e) => Ok(failed(e)),
    }
}
