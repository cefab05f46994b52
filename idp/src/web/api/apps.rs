//! `/applications`: what users sign in to (OIDC clients are in
//! `clients.rs`, SAML service providers in `saml.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Changed, Json, Paging, Path, Problem, Query, json};
use crate::admin::{self, Page};
use crate::directory::Application;
use crate::roles::Permission;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app, delete_app))
        .routes(routes!(assign_app))
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

/// Delete an application: its tile, bindings, favourites and logo. Refused
/// (422) for a gateway policy's application and for one an OIDC client or
/// SAML SP signs people in to.
#[utoipa::path(delete, path = "/applications/{name}", tag = "applications", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn delete_app(
    admin: Admin,
    State(p): State<Portal>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    admin::apps::delete(&p.idp, admin.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
