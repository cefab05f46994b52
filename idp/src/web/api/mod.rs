//! The admin REST API, `/api/admin/v1/...`: JSON over `idp::admin`, the
//! same core the CLI and the console call. Handlers parse, check the
//! caller's role with `admin::roles::require`, call the core and answer; every
//! failure is a problem details object ([`problem`]). The OpenAPI 3.1
//! document is generated from these handlers' annotations.

mod apps;
mod audit;
mod groups;
pub mod problem;
mod saml;
mod settings;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::{ClientIp, Portal};
use crate::admin::caller::Caller;
use crate::paths;
use crate::roles::{Permission, Role};
pub use problem::{ApiResult, Problem};

/// The largest request body, in bytes: SAML metadata is the largest thing
/// anyone sends here.
pub const MAX_BODY: usize = 512 * 1024;

/// The longest bearer credential looked at; a longer one is refused unread.
const MAX_BEARER: usize = 8 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis admin API",
        description = "Administration of users, groups, applications, OIDC clients, SAML service providers, federation providers (status), settings, keys and the audit log. Authenticate with `Authorization: Bearer` and either an access token from the token endpoint (client_credentials grant, scope portcullis:admin, portcullis:helpdesk or portcullis:audit) or an administrator's personal API key. Errors are RFC 9457 problem details."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(Problem, problem::FieldError))
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn api_router() -> (Router<Portal>, utoipa::openapi::OpenApi) {
    let inner = OpenApiRouter::<Portal>::new()
        .merge(users::routes())
        .merge(groups::routes())
        .merge(apps::routes())
        .merge(saml::routes())
        .merge(settings::routes())
        .merge(audit::routes());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(paths::API_ADMIN_V1, inner)
        .split_for_parts()
}

/// The OpenAPI document of the API, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().1
}

/// The API's routes, with their own 404, 405 and body limit.
pub fn routes() -> Router<Portal> {
    let (router, doc) = api_router();
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    router
        .route(
            paths::API_ADMIN_V1_OPENAPI,
            axum::routing::get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.as_str().to_owned(),
                    )
                        .into_response()
                }
            }),
        )
        // Below the prefix, an unknown path is a problem too, not the
        // portal's page.
        .route(paths::API_ADMIN_V1, axum::routing::any(not_found))
        .route(
            &format!("{}/{{*rest}}", paths::API_ADMIN_V1),
            axum::routing::any(not_found),
        )
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The fallback for any path below the API prefix that no route takes.
pub async fn not_found() -> Problem {
    Problem::not_found()
}

/// The authenticated caller of an API request. Extracted first, before the
/// path, the query or the body are looked at.
pub struct Admin(pub Caller);

impl Admin {
    /// The caller's role, when it allows `need` (the one rule:
    /// `admin::roles::require`); 403 otherwise.
    pub fn require(&self, need: Permission) -> ApiResult<Role> {
        Ok(crate::admin::roles::require(self.0.role, need)?)
    }

    pub fn actor(&self) -> &crate::admin::Actor {
        &self.0.actor
    }
}

impl FromRequestParts<Portal> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Problem> {
        let ip = ClientIp::from_request_parts(parts, portal)
            .await
            .unwrap_or(ClientIp(None))
            .0;
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(Problem::unauthenticated(false));
        };
        let bearer = value
            .to_str()
            .ok()
            .filter(|v| v.len() <= MAX_BEARER)
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty());
        let Some(bearer) = bearer else {
            return Err(Problem::unauthenticated(true));
        };
        match crate::admin::caller::authenticate(&portal.idp, bearer, ip).await? {
            Some(caller) => Ok(Self(caller)),
            None => Err(Problem::unauthenticated(true)),
        }
    }
}

/// A JSON body; a wrong content type is 415, bad JSON 400, a body of the
/// wrong shape 422, a body over [`MAX_BODY`] 413, each a problem.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as application/json",
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(Problem::invalid(None, e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Problem::bad_request(e.body_text())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the body may have at most {MAX_BODY} bytes"),
            )),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

/// A query string; one that does not parse is 400.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(Problem::bad_request(e.body_text()))
            }
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

/// Path parameters; one that does not decode is 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

/// The `If-Match` header, when there is one.
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A JSON answer with the given status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A JSON answer with the entity's version in `ETag`.
pub fn json_tagged<T: Serialize>(status: StatusCode, body: &T, etag: &str) -> Response {
    let mut res = json(status, body);
    if let Ok(v) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// Paging of a collection: `offset` from 0, `limit` up to 200 (0 or none:
/// 50).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub limit: u64,
}

/// `{ "changed": bool }`: whether a write changed anything (it succeeds
/// either way, so a retry is harmless).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub changed: bool,
}
