//! `/settings` and `/keys`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Json, Paging, Path, Problem, Query, json};
use crate::admin::keys::KeyView;
use crate::admin::{self, Page};
use crate::roles::Permission;
use crate::settings::{KEYS, Settings};
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(show))
        .routes(routes!(set))
        .routes(routes!(list_keys))
        .routes(routes!(rotate_oidc))
        .routes(routes!(rotate_saml))
}

/// One setting: its key, its value now, and what it means.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingView {
    pub key: String,
    pub value: String,
    pub description: String,
}

fn entries(s: &Settings) -> Vec<SettingView> {
    s.entries()
        .into_iter()
        .map(|(key, value)| SettingView {
            key: key.to_string(),
            value,
            description: KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, d)| *d)
                .to_string(),
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetValue {
    /// As the CLI takes it: `12`, `true`, `15m`, ...
    pub value: String,
}

/// Every setting with its value.
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, body = Vec<SettingView>), (status = 401, body = Problem)))]
pub async fn show(admin: Admin, State(p): State<Portal>) -> ApiResult {
    admin.require(Permission::Read)?;
    Ok(json(
        StatusCode::OK,
        &entries(&admin::settings::show(&p.idp).await?),
    ))
}

/// Change one setting; answers every setting now in force.
#[utoipa::path(put, path = "/settings/{key}", tag = "settings", request_body = SetValue,
    params(("key" = String, Path)),
    responses((status = 200, body = Vec<SettingView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set(
    admin: Admin,
    State(p): State<Portal>,
    Path(key): Path<String>,
    Json(b): Json<SetValue>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let now = admin::settings::set(&p.idp, admin.actor(), &key, &b.value).await?;
    Ok(json(StatusCode::OK, &entries(&now)))
}

/// OIDC signing keys, then SAML certificates, oldest first.
#[utoipa::path(get, path = "/keys", tag = "keys", params(Paging),
    responses((status = 200, body = Page<KeyView>), (status = 401, body = Problem)))]
pub async fn list_keys(
    admin: Admin,
    State(p): State<Portal>,
    Query(q): Query<Paging>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let all = admin::keys::list(&p.idp).await?;
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateOidc {
    /// RS256 or ES256; none: every algorithm.
    pub alg: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewKey {
    pub alg: String,
    pub kid: String,
}

/// A new OIDC signing key (per algorithm); the old ones stay published for
/// the configured retention.
#[utoipa::path(post, path = "/keys/oidc/rotate", tag = "keys", request_body = RotateOidc,
    responses((status = 200, body = Vec<NewKey>), (status = 422, body = Problem)))]
pub async fn rotate_oidc(
    admin: Admin,
    State(p): State<Portal>,
    Json(b): Json<RotateOidc>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let kids = admin::keys::rotate_oidc(&p.idp, admin.actor(), b.alg.as_deref()).await?;
    let out: Vec<NewKey> = kids
        .into_iter()
        .map(|(alg, kid)| NewKey {
            alg: alg.as_str().to_string(),
            kid,
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewCertificate {
    pub id: String,
    /// How long the previous certificate stays in the metadata, in seconds.
    pub overlap_seconds: u64,
}

/// A new SAML signing certificate.
#[utoipa::path(post, path = "/keys/saml/rotate", tag = "keys",
    responses((status = 200, body = NewCertificate), (status = 403, body = Problem)))]
pub async fn rotate_saml(admin: Admin, State(p): State<Portal>) -> ApiResult {
    admin.require(Permission::Configure)?;
    let (id, overlap) = admin::keys::rotate_saml(&p.idp, admin.actor()).await?;
    Ok(json(
        StatusCode::OK,
        &NewCertificate {
            id,
            overlap_seconds: overlap.as_secs(),
        },
    ))
}
