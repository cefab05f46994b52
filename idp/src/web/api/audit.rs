//! `/audit` and `/me`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Problem, Query, json};
use crate::admin::audit::AuditQuery;
use crate::admin::{self, Page};
use crate::roles::{Permission, Role};
use crate::store::AuditRow;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(query))
        .routes(routes!(me))
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditRow>), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn query(
    admin: Admin,
    State(p): State<Portal>,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let page = admin::audit::query(&p.idp, &q).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Who the caller is to the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// As the audit log names it: `client:<id>` or `user:<id>`.
    pub actor: String,
    /// None: the credential is valid but holds no admin role (every other
    /// call answers 403).
    pub role: Option<Role>,
}

/// The caller and its role; answers for any valid credential.
#[utoipa::path(get, path = "/me", tag = "audit",
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(admin: Admin) -> ApiResult {
    Ok(json(
        StatusCode::OK,
        &Me {
            actor: admin.actor().to_string(),
            role: admin.0.role,
        },
    ))
}
