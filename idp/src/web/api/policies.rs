//! `/policies`: the gateway's policy files, their validation status, and
//! reloading them.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Problem, json};
use crate::admin;
use crate::policy_hook::PolicyStatus;
use crate::roles::Permission;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(reload))
}

/// The policy files and how their last check went; 404 in a process that
/// serves no gateway.
#[utoipa::path(get, path = "/policies", tag = "policies",
    responses((status = 200, body = PolicyStatus), (status = 404, body = Problem)))]
pub async fn status(admin: Admin, State(p): State<Portal>) -> ApiResult {
    admin.require(Permission::Read)?;
    let s = admin::policies::status(&p.idp).await.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "this process serves no gateway policies",
        )
    })?;
    Ok(json(StatusCode::OK, &s))
}

/// Read and check every policy file again; when all are valid the gateway
/// serves them and their applications are bound in the directory. A
/// refused reload (some file invalid) keeps the running policies and
/// answers 200 with `applied: false` and each file's error: the request
/// itself was carried out.
#[utoipa::path(post, path = "/policies/reload", tag = "policies",
    responses((status = 200, body = PolicyStatus), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn reload(admin: Admin, State(p): State<Portal>) -> ApiResult {
    admin.require(Permission::Configure)?;
    let s = admin::policies::reload(&p.idp, admin.actor()).await?;
    Ok(json(StatusCode::OK, &s))
}
