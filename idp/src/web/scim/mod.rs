//! SCIM 2.0 over HTTP (RFC 7644) at `/scim/v2` on the portal host: turns
//! requests into calls of the engine ([`crate::scim`]) and its outcomes into
//! `application/scim+json` responses. Every route is behind the bearer
//! token check, which runs before any body is read.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use serde_json::Value;

use super::Portal;
use super::auth::ClientIp;
use crate::paths;
use crate::scim::service::{ListQuery, parse_order, split_list};
use crate::scim::{Client, ScimError, ScimType, schema};

pub const CONTENT_TYPE: &str = "application/scim+json";

/// The largest request body, in bytes (a group PUT with many members).
const MAX_BODY: usize = 4 * 1024 * 1024;

pub fn routes(portal: Portal) -> Router<Portal> {
    Router::new()
        .route(paths::SCIM_USERS, get(list_users).post(create_user))
        .route(paths::SCIM_USERS_SEARCH, post(search_users))
        .route(
            paths::SCIM_USERS_ID,
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route(paths::SCIM_GROUPS, get(list_groups).post(create_group))
        .route(paths::SCIM_GROUPS_SEARCH, post(search_groups))
        .route(
            paths::SCIM_GROUPS_ID,
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route(paths::SCIM_SEARCH, post(search_all))
        .route(
            paths::SCIM_SERVICE_PROVIDER_CONFIG,
            get(service_provider_config),
        )
        .route(paths::SCIM_RESOURCE_TYPES, get(resource_types))
        .route(paths::SCIM_RESOURCE_TYPES_ID, get(resource_type))
        .route(paths::SCIM_SCHEMAS, get(schemas))
        .route(paths::SCIM_SCHEMAS_ID, get(schema_by_id))
        .route(paths::SCIM_BASE, any(not_found))
        .route("/scim/v2/{*rest}", any(not_found))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(portal, authenticate))
}

/// A SCIM answer: the error JSON, or a resource with its headers.
struct Scim(Response);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<ScimError> for Scim {
    fn from(e: ScimError) -> Self {
        if let ScimError::Internal(inner) = &e {
            tracing::error!(error = %inner, "SCIM request failed");
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = json_response(status, &e.body());
        if matches!(e, ScimError::Unauthorized) {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        Self(res)
    }
}

type Answer = Result<Response, Scim>;

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.to_string(),
    )
        .into_response()
}

fn resource_response(status: StatusCode, r: crate::scim::Resource) -> Response {
    let mut res = json_response(status, &r.json);
    if let Ok(v) = HeaderValue::from_str(&r.etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&r.location)
    {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// The bearer token check, before anything else (and before the body is read).
async fn authenticate(
    State(portal): State<Portal>,
    ip: ClientIp,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .map(str::to_string);
    match portal.idp.scim_authenticate(token.as_deref(), ip.0).await {
        Ok(client) => {
            req.extensions_mut().insert(client);
            next.run(req).await
        }
        Err(e) => Scim::from(e).into_response(),
    }
}

fn body_json(body: Result<Bytes, BytesRejection>) -> Result<Value, ScimError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::TooLarge
        } else {
            ScimError::bad(
                ScimType::InvalidSyntax,
                "the request body could not be read",
            )
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::bad(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        )
    })
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The list parameters of a query string (RFC 7644 §3.4.2).
fn list_query(raw: Option<String>) -> Result<ListQuery, ScimError> {
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
            .collect();
    let int = |k: &str| -> Result<Option<i64>, ScimError> {
        params
            .get(k)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ScimError::value(format!("{k} must be an integer")))
            })
            .transpose()
    };
    Ok(ListQuery {
        filter: params.get("filter").cloned(),
        sort_by: params.get("sortby").cloned(),
        descending: parse_order(params.get("sortorder").map(String::as_str))?,
        start_index: int("startindex")?,
        count: int("count")?,
        attributes: params
            .get("attributes")
            .map(|s| split_list(s))
            .unwrap_or_default(),
        excluded_attributes: params
            .get("excludedattributes")
            .map(|s| split_list(s))
            .unwrap_or_default(),
    })
}

async fn not_found() -> Scim {
    ScimError::NotFound("this SCIM endpoint".into()).into()
}

async fn list_users(State(p): State<Portal>, RawQuery(q): RawQuery) -> Answer {
    let q = list_query(q)?;
    Ok(json_response(
        StatusCode::OK,
        &p.idp.scim_list_users(&q).await?.to_json(),
    ))
}

async fn search_users(State(p): State<Portal>, body: Result<Bytes, BytesRejection>) -> Answer {
    let q = ListQuery::from_search(&body_json(body)?)?;
    Ok(json_response(
        StatusCode::OK,
        &p.idp.scim_list_users(&q).await?.to_json(),
    ))
}

/// A GET of one resource: 304 when `If-None-Match` names its version.
fn conditional(headers: &HeaderMap, r: crate::scim::Resource) -> Response {
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| crate::scim::if_match_admits(h, &r.etag));
    if unchanged {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&r.etag) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return res;
    }
    resource_response(StatusCode::OK, r)
}

async fn get_user(
    State(p): State<Portal>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Answer {
    let q = list_query(q)?;
    Ok(conditional(&headers, p.idp.scim_get_user(&id, &q).await?))
}

async fn create_user(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_json(body)?;
    Ok(resource_response(
        StatusCode::CREATED,
        p.idp.scim_create_user(&c, &body).await?,
    ))
}

async fn replace_user(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_json(body)?;
    let r = p
        .idp
        .scim_replace_user(&c, &id, &body, if_match(&headers).as_deref())
        .await?;
    Ok(resource_response(StatusCode::OK, r))
}

async fn patch_user(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_json(body)?;
    let r = p
        .idp
        .scim_patch_user(&c, &id, &body, if_match(&headers).as_deref())
        .await?;
    Ok(resource_response(StatusCode::OK, r))
}

async fn delete_user(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    p.idp
        .scim_delete_user(&c, &id, if_match(&headers).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(State(p): State<Portal>, RawQuery(q): RawQuery) -> Answer {
    let q = list_query(q)?;
    Ok(json_response(
        StatusCode::OK,
        &p.idp.scim_list_groups(&q).await?.to_json(),
    ))
}

async fn search_groups(State(p): State<Portal>, body: Result<Bytes, BytesRejection>) -> Answer {
    let q = ListQuery::from_search(&body_json(body)?)?;
    Ok(json_response(
        StatusCode::OK,
        &p.idp.scim_list_groups(&q).await?.to_json(),
    ))
}

async fn search_all(State(p): State<Portal>, body: Result<Bytes, BytesRejection>) -> Answer {
    let q = ListQuery::from_search(&body_json(body)?)?;
    Ok(json_response(
        StatusCode::OK,
        &p.idp.scim_search_all(&q).await?.to_json(),
    ))
}

async fn get_group(
    State(p): State<Portal>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Answer {
    let q = list_query(q)?;
    Ok(conditional(&headers, p.idp.scim_get_group(&id, &q).await?))
}

async fn create_group(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_json(body)?;
    Ok(resource_response(
        StatusCode::CREATED,
        p.idp.scim_create_group(&c, &body).await?,
    ))
}

async fn replace_group(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_json(body)?;
    let r = p
        .idp
        .scim_replace_group(&c, &id, &body, if_match(&headers).as_deref())
        .await?;
    Ok(resource_response(StatusCode::OK, r))
}

async fn patch_group(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_json(body)?;
    let r = p
        .idp
        .scim_patch_group(&c, &id, &body, if_match(&headers).as_deref())
        .await?;
    Ok(resource_response(StatusCode::OK, r))
}

async fn delete_group(
    State(p): State<Portal>,
    Extension(c): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    p.idp
        .scim_delete_group(&c, &id, if_match(&headers).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn service_provider_config(State(p): State<Portal>) -> Response {
    let base = p.idp.scim_base();
    let docs = format!(
        "{}/",
        p.idp.config.public_url.as_str().trim_end_matches('/')
    );
    json_response(
        StatusCode::OK,
        &schema::service_provider_config(&base, &docs),
    )
}

fn list_of(items: Vec<Value>) -> Value {
    crate::scim::ListResponse {
        total: items.len(),
        start_index: 1,
        resources: items,
    }
    .to_json()
}

async fn resource_types(State(p): State<Portal>) -> Response {
    json_response(
        StatusCode::OK,
        &list_of(schema::resource_types(&p.idp.scim_base())),
    )
}

async fn resource_type(State(p): State<Portal>, Path(id): Path<String>) -> Answer {
    schema::resource_types(&p.idp.scim_base())
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| json_response(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::NotFound(format!("ResourceType {id}")).into())
}

async fn schemas(State(p): State<Portal>) -> Response {
    json_response(
        StatusCode::OK,
        &list_of(schema::schemas(&p.idp.scim_base())),
    )
}

async fn schema_by_id(State(p): State<Portal>, Path(id): Path<String>) -> Answer {
    schema::schemas(&p.idp.scim_base())
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| json_response(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::NotFound(format!("Schema {id}")).into())
}
