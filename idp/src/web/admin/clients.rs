//! OpenID Connect clients: the list (configured and stored) and
//! registering one, whose secret is shown once on the answer page.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Admin, Configure, Need, Read, failed, render};
use crate::admin::{self, AdminError};
use crate::roles::Permission;
use crate::web::{Form, Portal, PortalResult};

#[derive(Serialize)]
struct Row {
    client_id: String,
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
}

async fn list_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    form: Typed,
    error: Option<AdminError>,
    created: Option<(String, Option<String>)>,
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
        },
    )
    .await
}

pub async fn list(State(portal): State<Portal>, me: Admin<Read>) -> PortalResult {
    list_page(&portal, &me, StatusCode::OK, Typed::default(), None, None).await
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
            )
            .await
        }
    }
}
