//! `/groups`: list, create, read, delete, and members.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Json, Paging, Path, Problem, Query, if_match, json, json_tagged};
use crate::admin::Page;
use crate::admin::groups::{self, GroupView};
use crate::admin::users::UserView;
use crate::roles::Permission;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, delete))
        .routes(routes!(members))
        .routes(routes!(add_member, remove_member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
}

/// A group in a listing.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct GroupSummary {
    pub id: String,
    pub name: String,
    pub members: i64,
}

/// Every group, by name.
#[utoipa::path(get, path = "/groups", tag = "groups", params(Paging),
    responses((status = 200, body = Page<GroupSummary>), (status = 401, body = Problem)))]
pub async fn list(admin: Admin, State(p): State<Portal>, Query(q): Query<Paging>) -> ApiResult {
    admin.require(Permission::Read)?;
    let all: Vec<GroupSummary> = groups::list(&p.idp)
        .await?
        .into_iter()
        .map(|(g, members)| GroupSummary {
            id: g.id,
            name: g.name,
            members,
        })
        .collect();
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

/// Create a group.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = GroupView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    admin: Admin,
    State(p): State<Portal>,
    Json(body): Json<CreateGroup>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    let g = groups::add(&p.idp, admin.actor(), &body.name).await?;
    let view = groups::show(&p.idp, &g.name).await?;
    Ok(json_tagged(
        StatusCode::CREATED,
        &view,
        &groups::etag(&view),
    ))
}

/// Read a group; the `ETag` is its version for `If-Match`.
#[utoipa::path(get, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    responses((status = 200, body = GroupView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_one(admin: Admin, State(p): State<Portal>, Path(name): Path<String>) -> ApiResult {
    admin.require(Permission::Read)?;
    let view = groups::show(&p.idp, &name).await?;
    Ok(json_tagged(StatusCode::OK, &view, &groups::etag(&view)))
}

/// Delete a group; its members lose what it granted.
#[utoipa::path(delete, path = "/groups/{name}", tag = "groups",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn delete(
    admin: Admin,
    State(p): State<Portal>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    groups::delete(&p.idp, admin.actor(), &name, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The group's members, by email.
#[utoipa::path(get, path = "/groups/{name}/members", tag = "groups",
    params(("name" = String, Path), Paging),
    responses((status = 200, body = Page<UserView>), (status = 404, body = Problem)))]
pub async fn members(
    admin: Admin,
    State(p): State<Portal>,
    Path(name): Path<String>,
    Query(q): Query<Paging>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let page = groups::members(&p.idp, &name, q.offset, q.limit).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Add a member (nothing changes when they are one already).
#[utoipa::path(put, path = "/groups/{name}/members/{email}", tag = "groups",
    params(("name" = String, Path), ("email" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn add_member(
    admin: Admin,
    State(p): State<Portal>,
    Path((name, email)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    groups::add_member(&p.idp, admin.actor(), &name, &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Remove a member (nothing changes when they are not one).
#[utoipa::path(delete, path = "/groups/{name}/members/{email}", tag = "groups",
    params(("name" = String, Path), ("email" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove_member(
    admin: Admin,
    State(p): State<Portal>,
    Path((name, email)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    groups::remove_member(&p.idp, admin.actor(), &name, &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
