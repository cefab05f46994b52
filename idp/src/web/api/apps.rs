//! `/applications`, `/saml/service-providers`: what users sign in to (the
//! OIDC clients are in `clients.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Changed, Json, Paging, Path, Problem, Query, json};
use crate::admin::{self, AdminError, Page};
use crate::directory::Application;
use crate::roles::Permission;
use crate::saml::ServiceProviderConfig;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app, delete_app))
        .routes(routes!(assign_app))
        .routes(routes!(list_sps, create_sp))
        .routes(routes!(get_sp, delete_sp))
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

/// A SAML service provider as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpView {
    pub entity_id: String,
    pub acs_urls: Vec<String>,
    pub application: String,
    pub slo_url: Option<String>,
    pub name_id_format: String,
    pub require_signed_requests: bool,
    pub has_certificate: bool,
    pub require_mfa: bool,
    /// `config` (read-only here) or `store`.
    pub source: String,
}

impl SpView {
    fn of(s: ServiceProviderConfig, source: &str) -> Self {
        Self {
            acs_urls: s.acs.iter().map(|a| a.url.clone()).collect(),
            entity_id: s.entity_id,
            application: s.application,
            slo_url: s.slo_url,
            name_id_format: s.name_id_format,
            require_signed_requests: s.require_signed_requests,
            has_certificate: s.certificate.is_some(),
            require_mfa: s.require_mfa,
            source: source.to_string(),
        }
    }
}

/// A new SP: from its metadata XML (`metadata`), or described by hand
/// (`entity_id` and `acs`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSp {
    /// The SP's metadata document; when given, `entity_id`, `acs`, `slo_url`,
    /// `certificate` and `name_id_format` come from it.
    pub metadata: Option<String>,
    pub entity_id: Option<String>,
    #[serde(default)]
    pub acs: Vec<String>,
    /// The portal application whose assignments decide who may sign in.
    pub application: String,
    pub slo_url: Option<String>,
    /// HTTP-Redirect (default) or HTTP-POST.
    pub slo_binding: Option<String>,
    /// PEM.
    pub certificate: Option<String>,
    #[serde(default)]
    pub require_signed_requests: bool,
    /// emailAddress (default), persistent, transient or unspecified.
    pub name_id_format: Option<String>,
    /// response, assertion or both (default).
    pub sign: Option<String>,
    #[serde(default)]
    pub require_mfa: bool,
    pub relay_state: Option<String>,
}

/// Every SAML SP (from the configuration file and the store).
#[utoipa::path(get, path = "/saml/service-providers", tag = "saml", params(Paging),
    responses((status = 200, body = Page<SpView>), (status = 401, body = Problem)))]
pub async fn list_sps(admin: Admin, State(p): State<Portal>, Query(q): Query<Paging>) -> ApiResult {
    admin.require(Permission::Read)?;
    let all: Vec<SpView> = admin::saml::list(&p.idp)
        .await?
        .into_iter()
        .map(|(s, src)| SpView::of(s, src))
        .collect();
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

/// Register an SP.
#[utoipa::path(post, path = "/saml/service-providers", tag = "saml", request_body = CreateSp,
    responses((status = 201, body = SpView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_sp(
    admin: Admin,
    State(p): State<Portal>,
    Json(b): Json<CreateSp>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let sign = b.sign.unwrap_or_else(|| "both".into());
    let sp = match b.metadata {
        Some(xml) => {
            admin::saml::import_metadata(
                &p.idp,
                admin.actor(),
                &xml,
                admin::saml::MetadataOptions {
                    application: b.application,
                    sign,
                    require_mfa: b.require_mfa,
                    relay_state: b.relay_state,
                    release: Default::default(),
                },
            )
            .await?
        }
        None => {
            let entity_id = b.entity_id.ok_or_else(|| {
                AdminError::invalid("entity_id", "entity_id is needed without metadata")
            })?;
            admin::saml::add(
                &p.idp,
                admin.actor(),
                admin::saml::NewSp {
                    entity_id,
                    acs: b.acs,
                    application: b.application,
                    slo_url: b.slo_url,
                    slo_binding: b.slo_binding.unwrap_or_else(|| "HTTP-Redirect".into()),
                    certificate: b.certificate,
                    require_signed_requests: b.require_signed_requests,
                    name_id_format: b.name_id_format.unwrap_or_else(|| "emailAddress".into()),
                    sign,
                    require_mfa: b.require_mfa,
                    relay_state: b.relay_state,
                    release: Default::default(),
                },
            )
            .await?
        }
    };
    Ok(json(StatusCode::CREATED, &SpView::of(sp, "store")))
}

#[utoipa::path(get, path = "/saml/service-providers/{entity_id}", tag = "saml",
    params(("entity_id" = String, Path, description = "percent-encoded")),
    responses((status = 200, body = SpView), (status = 404, body = Problem)))]
pub async fn get_sp(admin: Admin, State(p): State<Portal>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::Read)?;
    let (sp, source) = admin::saml::show(&p.idp, &id).await?;
    Ok(json(StatusCode::OK, &SpView::of(sp, source)))
}

/// Remove a stored SP and end the SAML sessions made with it.
#[utoipa::path(delete, path = "/saml/service-providers/{entity_id}", tag = "saml",
    params(("entity_id" = String, Path, description = "percent-encoded")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_sp(admin: Admin, State(p): State<Portal>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::Configure)?;
    admin::saml::remove(&p.idp, admin.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
