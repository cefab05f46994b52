//! `/applications`, `/oidc/clients`: what users sign in to (SAML service
//! providers are in `saml.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Changed, Json, Paging, Path, Problem, Query, json};
use crate::admin::{self, Page};
use crate::directory::Application;
use crate::oidc::ClientConfig;
use crate::roles::Permission;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app))
        .routes(routes!(assign_app))
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, delete_client))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub name: String,
    /// An absolute http(s) URL.
    pub launch_url: String,
    #[serde(default)]
    pub description: String,
    pub detail_url: Option<String>,
    /// An absolute http(s) URL or a `data:image/...` URL.
    pub logo_url: Option<String>,
    /// Groups whose members see it.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Every application (portal tile), by name.
#[utoipa::path(get, path = "/applications", tag = "applications", params(Paging),
    responses((status = 200, body = Page<Application>), (status = 401, body = Problem)))]
pub async fn list_apps(
    admin: Admin,
    State(p): State<Portal>,
    Query(q): Query<Paging>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let all = admin::apps::list(&p.idp).await?;
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

/// Create an application (a bookmark tile).
#[utoipa::path(post, path = "/applications", tag = "applications", request_body = CreateApp,
    responses((status = 201, body = Application), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_app(
    admin: Admin,
    State(p): State<Portal>,
    Json(b): Json<CreateApp>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let app = admin::apps::add(
        &p.idp,
        admin.actor(),
        admin::apps::NewApp {
            name: b.name,
            launch_url: b.launch_url,
            description: b.description,
            detail_url: b.detail_url,
            logo_url: b.logo_url,
            groups: b.groups,
        },
    )
    .await?;
    Ok(json(StatusCode::CREATED, &app))
}

#[utoipa::path(get, path = "/applications/{name}", tag = "applications", params(("name" = String, Path)),
    responses((status = 200, body = Application), (status = 404, body = Problem)))]
pub async fn get_app(admin: Admin, State(p): State<Portal>, Path(name): Path<String>) -> ApiResult {
    admin.require(Permission::Read)?;
    Ok(json(
        StatusCode::OK,
        &admin::apps::find(&p.idp, &name).await?,
    ))
}

/// Show the application to a group's members.
#[utoipa::path(put, path = "/applications/{name}/groups/{group}", tag = "applications",
    params(("name" = String, Path), ("group" = String, Path)),
    responses((status = 200, body = Changed), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn assign_app(
    admin: Admin,
    State(p): State<Portal>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let changed = admin::apps::assign(&p.idp, admin.actor(), &name, &group).await?;
    Ok(json(StatusCode::OK, &Changed { changed }))
}

/// An OpenID Connect client as the API shows it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
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
    pub backchannel_logout_uri: Option<String>,
    /// `config` (read-only here) or `store`.
    pub source: String,
}

impl ClientView {
    fn of(c: ClientConfig, source: &str) -> Self {
        Self {
            public: c.is_public(),
            client_id: c.client_id,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            scopes: c.scopes,
            application: c.application,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            require_mfa: c.require_mfa,
            backchannel_logout_uri: c.backchannel_logout_uri,
            source: source.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    pub client_id: String,
    /// A public client (native or single-page app): no secret, PKCE required.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: authorization_code and refresh_token.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Default: every user scope. `portcullis:admin`, `portcullis:helpdesk`
    /// or `portcullis:audit` make a client_credentials client an API caller.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub application: Option<String>,
    /// RS256 (default) or ES256.
    pub alg: Option<String>,
    #[serde(default)]
    pub require_mfa: bool,
    pub initiate_login_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

/// A client just registered, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    pub client: ClientView,
    /// Absent for a public client. Only its hash is kept.
    pub client_secret: Option<String>,
}

/// Every OIDC client (from the configuration file and the store).
#[utoipa::path(get, path = "/oidc/clients", tag = "oidc", params(Paging),
    responses((status = 200, body = Page<ClientView>), (status = 401, body = Problem)))]
pub async fn list_clients(
    admin: Admin,
    State(p): State<Portal>,
    Query(q): Query<Paging>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let all: Vec<ClientView> = admin::oidc::list(&p.idp)
        .await?
        .into_iter()
        .map(|(c, s)| ClientView::of(c, s))
        .collect();
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

/// Register a client; a confidential client's secret is in the answer, once.
#[utoipa::path(post, path = "/oidc/clients", tag = "oidc", request_body = CreateClient,
    responses((status = 201, body = CreatedClient), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_client(
    admin: Admin,
    State(p): State<Portal>,
    Json(b): Json<CreateClient>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let (client, secret) = admin::oidc::add(
        &p.idp,
        admin.actor(),
        admin::oidc::NewClient {
            client_id: b.client_id,
            public: b.public,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            grants: b.grant_types,
            scopes: b.scopes,
            application: b.application,
            alg: b.alg.unwrap_or_else(|| "RS256".into()),
            require_mfa: b.require_mfa,
            initiate_login_uri: b.initiate_login_uri,
            backchannel_logout_uri: b.backchannel_logout_uri,
            backchannel_logout_session_required: b.backchannel_logout_session_required,
        },
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &CreatedClient {
            client: ClientView::of(client, "store"),
            client_secret: secret,
        },
    ))
}

#[utoipa::path(get, path = "/oidc/clients/{client_id}", tag = "oidc", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = Problem)))]
pub async fn get_client(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let (client, source) = admin::oidc::show(&p.idp, &id).await?;
    Ok(json(StatusCode::OK, &ClientView::of(client, source)))
}

/// Remove a stored client and revoke its tokens.
#[utoipa::path(delete, path = "/oidc/clients/{client_id}", tag = "oidc", params(("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_client(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    admin::oidc::remove(&p.idp, admin.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
