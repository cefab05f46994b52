//! `/users`: search, read, create, edit, delete, lock, unlock, reset MFA,
//! set a password, set the role.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Changed, Json, Path, Problem, Query, if_match, json, json_tagged};
use crate::admin::users::{self, UserEdit, UserQuery, UserView};
use crate::admin::{Page, roles};
use crate::directory::{NAME_FIELDS, PROFILE_FIELDS};
use crate::roles::{Permission, Role};
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, put, delete))
        .routes(routes!(lock))
        .routes(routes!(unlock))
        .routes(routes!(reset_mfa))
        .routes(routes!(reset_link))
        .routes(routes!(set_password))
        .routes(routes!(set_role))
}

/// Filters of the user list; all that are given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Found, without regard to case, in the email, the full name or the username.
    pub text: Option<String>,
    /// Members of this group.
    pub group: Option<String>,
    pub locked: Option<bool>,
    /// Holders of exactly this role (the strongest they hold).
    pub role: Option<Role>,
    #[serde(default)]
    pub offset: u64,
    /// 1 to 200; 0 or none: 50.
    #[serde(default)]
    pub limit: u64,
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// Defaults to the part of the email before the @.
    pub username: Option<String>,
    /// Must meet the password policy; without one the user signs in by a
    /// reset link or federation.
    pub password: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub role: Option<Role>,
}

/// The whole editable record: fields left out of `profile` are cleared.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceUser {
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    /// The company email; unchanged when left out.
    pub email: Option<String>,
    #[serde(default)]
    pub profile: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// null takes the role attribute away (a role from a group stays).
    pub role: Option<Role>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Removed {
    /// How many second-factor records were removed.
    pub removed: u64,
}

fn location(email: &str) -> String {
    format!(
        "{}/users/{}",
        crate::paths::API_ADMIN_V1,
        url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()
    )
}

fn tagged(status: StatusCode, view: &UserView) -> Response {
    json_tagged(status, view, &users::etag(view))
}

/// Search users, by email.
#[utoipa::path(get, path = "/users", tag = "users", params(UsersQuery),
    responses((status = 200, body = Page<UserView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(admin: Admin, State(p): State<Portal>, Query(q): Query<UsersQuery>) -> ApiResult {
    admin.require(Permission::Read)?;
    let page = users::search(
        &p.idp,
        &UserQuery {
            text: q.text,
            group: q.group,
            locked: q.locked,
            role: q.role,
            offset: q.offset,
            limit: q.limit,
        },
    )
    .await?;
    Ok(json(StatusCode::OK, &page))
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
pub async fn create(
    admin: Admin,
    State(p): State<Portal>,
    Json(body): Json<CreateUser>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    let view = users::add(
        &p.idp,
        admin.actor(),
        users::NewUser {
            email: body.email,
            first_name: body.first_name,
            last_name: body.last_name,
            username: body.username,
            password: body.password,
            groups: body.groups,
            role: body.role,
            ..Default::default()
        },
    )
    .await?;
    let mut res = tagged(StatusCode::CREATED, &view);
    if let Ok(v) = HeaderValue::from_str(&location(&view.user.email)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Read a user; the `ETag` is its version for `If-Match`.
#[utoipa::path(get, path = "/users/{email}", tag = "users",
    params(("email" = String, Path, description = "the user's company email")),
    responses((status = 200, body = UserView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_one(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    Ok(tagged(StatusCode::OK, &users::show(&p.idp, &email).await?))
}

/// Change some fields (names, username, company email, profile fields).
#[utoipa::path(patch, path = "/users/{email}", tag = "users", request_body = UserEdit,
    params(("email" = String, Path), ("If-Match" = Option<String>, Header, description = "the ETag read")),
    responses((status = 200, body = UserView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
    headers: HeaderMap,
    Json(edit): Json<UserEdit>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    let view = users::update(
        &p.idp,
        admin.actor(),
        &email,
        edit,
        if_match(&headers).as_deref(),
    )
    .await?;
    Ok(tagged(StatusCode::OK, &view))
}

/// Replace the editable record; profile fields left out are cleared.
#[utoipa::path(put, path = "/users/{email}", tag = "users", request_body = ReplaceUser,
    params(("email" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = UserView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
    headers: HeaderMap,
    Json(body): Json<ReplaceUser>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    // Every profile field is named, so the result does not depend on what
    // was there before: the same PUT twice leaves the same record.
    let mut profile: BTreeMap<String, String> = PROFILE_FIELDS
        .iter()
        .map(|(n, _, _)| n.to_string())
        .filter(|n| !NAME_FIELDS.contains(&n.as_str()))
        .map(|n| (n, String::new()))
        .collect();
    profile.extend(body.profile);
    let edit = UserEdit {
        first_name: Some(body.first_name),
        last_name: Some(body.last_name),
        username: Some(body.username),
        email: body.email,
        profile,
    };
    let view = users::update(
        &p.idp,
        admin.actor(),
        &email,
        edit,
        if_match(&headers).as_deref(),
    )
    .await?;
    Ok(tagged(StatusCode::OK, &view))
}

/// Delete a user (their sessions end first).
#[utoipa::path(delete, path = "/users/{email}", tag = "users",
    params(("email" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn delete(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    users::require_version(&p.idp, &email, if_match(&headers).as_deref()).await?;
    users::delete(&p.idp, admin.actor(), &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Suspend the account and end its sessions.
#[utoipa::path(post, path = "/users/{email}/lock", tag = "users", params(("email" = String, Path)),
    responses((status = 200, body = Changed), (status = 404, body = Problem)))]
pub async fn lock(admin: Admin, State(p): State<Portal>, Path(email): Path<String>) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    let changed = users::lock(&p.idp, admin.actor(), &email).await?;
    Ok(json(StatusCode::OK, &Changed { changed }))
}

/// Lift any lock.
#[utoipa::path(post, path = "/users/{email}/unlock", tag = "users", params(("email" = String, Path)),
    responses((status = 200, body = Changed), (status = 404, body = Problem)))]
pub async fn unlock(admin: Admin, State(p): State<Portal>, Path(email): Path<String>) -> ApiResult {
    admin.require(Permission::SupportUsers)?;
    let changed = users::unlock(&p.idp, admin.actor(), &email).await?;
    Ok(json(StatusCode::OK, &Changed { changed }))
}

/// Remove every second factor; the user enrols again.
#[utoipa::path(post, path = "/users/{email}/reset-mfa", tag = "users", params(("email" = String, Path)),
    responses((status = 200, body = Removed), (status = 404, body = Problem)))]
pub async fn reset_mfa(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
) -> ApiResult {
    admin.require(Permission::SupportUsers)?;
    let removed = users::reset_mfa(&p.idp, admin.actor(), &email).await?;
    Ok(json(StatusCode::OK, &Removed { removed }))
}

/// Mail the user a password reset link.
#[utoipa::path(post, path = "/users/{email}/reset-link", tag = "users", params(("email" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reset_link(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
) -> ApiResult {
    admin.require(Permission::SupportUsers)?;
    users::send_reset_link(&p.idp, admin.actor(), &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Set a password (the policy and history apply); ends the user's sessions.
#[utoipa::path(put, path = "/users/{email}/password", tag = "users", request_body = SetPassword,
    params(("email" = String, Path)),
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn set_password(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
    Json(body): Json<SetPassword>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    users::set_password(&p.idp, admin.actor(), &email, &body.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Set or clear the role attribute.
#[utoipa::path(put, path = "/users/{email}/role", tag = "users", request_body = SetRole,
    params(("email" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = UserView), (status = 404, body = Problem)))]
pub async fn set_role(
    admin: Admin,
    State(p): State<Portal>,
    Path(email): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SetRole>,
) -> ApiResult {
    admin.require(Permission::WriteDirectory)?;
    users::require_version(&p.idp, &email, if_match(&headers).as_deref()).await?;
    let user = roles::set(&p.idp, admin.actor(), &email, body.role).await?;
    let view = users::show(&p.idp, &user.email).await?;
    Ok(tagged(StatusCode::OK, &view))
}
