//! `/oidc/clients`: OpenID Connect clients. List, read (with its version
//! in `ETag`), register (the secret in the answer, once), edit (`PUT` the
//! whole record or `PATCH` some fields, each with `If-Match`), rotate the
//! secret, delete. Clients of the configuration file are read-only.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiResult, Json, Paging, Path, Problem, Query, if_match, json, json_tagged};
use crate::admin::oidc::{ClientEdit, ClientView};
use crate::admin::{self, Page};
use crate::roles::Permission;
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, put_client, patch_client, delete_client))
        .routes(routes!(rotate_secret))
}

fn location(id: &str) -> String {
    format!(
        "{}/oidc/clients/{}",
        crate::paths::API_ADMIN_V1,
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    )
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

/// A client just registered, or given a new secret: the secret is shown
/// this once (only its hash is kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    pub client: ClientView,
    /// Absent for a public client.
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
        .map(|(c, s)| ClientView::of(&c, s))
        .collect();
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

/// Register a client; a confidential client's secret is in the answer, once.
#[utoipa::path(post, path = "/oidc/clients", tag = "oidc", request_body = CreateClient,
    responses((status = 201, body = CreatedClient, headers(("Location" = String), ("ETag" = String))),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
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
    let view = ClientView::of(&client, "store");
    let etag = admin::etag(&view);
    let mut res = json_tagged(
        StatusCode::CREATED,
        &CreatedClient {
            client: view,
            client_secret: secret,
        },
        &etag,
    );
    if let Ok(v) = HeaderValue::from_str(&location(&client.client_id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Read a client; the `ETag` is its version for `If-Match`.
#[utoipa::path(get, path = "/oidc/clients/{client_id}", tag = "oidc", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_client(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
) -> ApiResult {
    admin.require(Permission::Read)?;
    let view = admin::oidc::view(&p.idp, &id).await?;
    Ok(json_tagged(StatusCode::OK, &view, &admin::etag(&view)))
}

/// Every field of a stored client but its id and secret: what `PUT` sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFields {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Empty: every user scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub application: Option<String>,
    /// RS256 (default) or ES256.
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub require_mfa: bool,
    /// A duration such as `15m`; absent: any age.
    pub mfa_max_age: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

/// Some fields of a stored client: what `PATCH` sends; an absent field
/// keeps its value, an empty string clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub application: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub require_mfa: Option<bool>,
    pub mfa_max_age: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
}

impl ClientPatch {
    fn over(self, v: ClientView) -> ClientEdit {
        ClientEdit {
            redirect_uris: self.redirect_uris.unwrap_or(v.redirect_uris),
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .unwrap_or(v.post_logout_redirect_uris),
            grants: self.grant_types.unwrap_or(v.grant_types),
            scopes: self.scopes.unwrap_or(v.scopes),
            application: self.application.or(v.application),
            alg: self
                .id_token_signed_response_alg
                .unwrap_or(v.id_token_signed_response_alg),
            require_mfa: self.require_mfa.unwrap_or(v.require_mfa),
            mfa_max_age: self.mfa_max_age.or(v.mfa_max_age),
            initiate_login_uri: self.initiate_login_uri.or(v.initiate_login_uri),
            backchannel_logout_uri: self.backchannel_logout_uri.or(v.backchannel_logout_uri),
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(v.backchannel_logout_session_required),
        }
    }
}

/// Replace a stored client's fields; validated as a configured client is,
/// so a refused edit changes nothing.
#[utoipa::path(put, path = "/oidc/clients/{client_id}", tag = "oidc", request_body = ClientFields,
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_client(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<ClientFields>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let edit = ClientEdit {
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        grants: b.grant_types,
        scopes: b.scopes,
        application: b.application,
        alg: b
            .id_token_signed_response_alg
            .unwrap_or_else(|| "RS256".into()),
        require_mfa: b.require_mfa,
        mfa_max_age: b.mfa_max_age,
        initiate_login_uri: b.initiate_login_uri,
        backchannel_logout_uri: b.backchannel_logout_uri,
        backchannel_logout_session_required: b.backchannel_logout_session_required,
    };
    let view = admin::oidc::update(
        &p.idp,
        admin.actor(),
        &id,
        edit,
        if_match(&headers).as_deref(),
    )
    .await?;
    Ok(json_tagged(StatusCode::OK, &view, &admin::etag(&view)))
}

/// Change some fields of a stored client.
#[utoipa::path(patch, path = "/oidc/clients/{client_id}", tag = "oidc", request_body = ClientPatch,
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_client(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<ClientPatch>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let current = admin::oidc::view(&p.idp, &id).await?;
    let view = admin::oidc::update(
        &p.idp,
        admin.actor(),
        &id,
        b.over(current),
        if_match(&headers).as_deref(),
    )
    .await?;
    Ok(json_tagged(StatusCode::OK, &view, &admin::etag(&view)))
}

/// Give a confidential client a new secret, in the answer once; the old
/// one stops working at once.
#[utoipa::path(post, path = "/oidc/clients/{client_id}/secret", tag = "oidc", params(("client_id" = String, Path)),
    responses((status = 200, body = CreatedClient), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate_secret(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let secret = admin::oidc::rotate_secret(&p.idp, admin.actor(), &id).await?;
    let view = admin::oidc::view(&p.idp, &id).await?;
    Ok(json(
        StatusCode::OK,
        &CreatedClient {
            client: view,
            client_secret: Some(secret),
        },
    ))
}

/// Remove a stored client and revoke its grants and tokens.
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
