//! `/audit` and `/me`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
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

/// Filters of the audit log; all that are given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The user it is about: an email or a user id.
    pub user: Option<String>,
    /// Who did it: `cli:<os user>`, `user:<id>`, `client:<id>`.
    pub actor: Option<String>,
    /// An event name or its start (`admin.user.`).
    pub event: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    #[serde(default)]
    pub offset: u64,
    /// 1 to 200; 0 or none: 50.
    #[serde(default)]
    pub limit: u64,
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Page<AuditRow>), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn query(
    admin: Admin,
    State(p): State<Portal>,
    Query(q): Query<AuditParams>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let page = admin::audit::query(
        &p.idp,
        &AuditQuery {
            user: q.user,
            actor: q.actor,
            event: q.event,
            outcome: q.outcome,
            since: q.since,
            until: q.until,
            offset: q.offset,
            limit: q.limit,
        },
    )
    .await?;
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
