//! The Applications page: tiles, favorites, search, launch.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::auth::wants_json;
use super::render::page;
use super::{ClientIp, CsrfToken, Form, Portal, PortalError, PortalResult, SignedIn, see_other};
use crate::clock;
use crate::directory::Application;

#[derive(Deserialize, Default)]
pub struct AppsQuery {
    tab: Option<String>,
    q: Option<String>,
}

#[derive(Serialize)]
struct Tile {
    id: String,
    name: String,
    description: String,
    detail_url: Option<String>,
    logo_url: Option<String>,
    initials: String,
    favorite: bool,
    launch_url: String,
}

fn tile(app: Application, favorite: bool) -> Tile {
    let initials = app
        .name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    Tile {
        launch_url: format!("/apps/{}/launch", app.id),
        id: app.id,
        name: app.name,
        description: app.description,
        detail_url: app.detail_url,
        logo_url: app.logo_url,
        initials,
        favorite,
    }
}

fn matches(app: &Application, q: &str) -> bool {
    q.is_empty()
        || app.name.to_lowercase().contains(q)
        || app.description.to_lowercase().contains(q)
}

pub async fn list(
    State(portal): State<Portal>,
    me: SignedIn,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Query(query): Query<AppsQuery>,
) -> PortalResult {
    let favorites_tab = query.tab.as_deref() == Some("favorites");
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect();
    let needle = q.to_lowercase();
    let apps: Vec<Tile> = portal
        .idp
        .store
        .applications_for_user(&me.user.id)
        .await?
        .into_iter()
        .filter(|(app, fav)| (!favorites_tab || *fav) && matches(app, &needle))
        .map(|(app, fav)| tile(app, fav))
        .collect();
    let empty_text = match (apps.is_empty(), favorites_tab, q.is_empty()) {
        (false, _, _) => "",
        (true, _, false) => "No applications match your search.",
        (true, true, true) => "No favorites yet. Star an application to add it here.",
        (true, false, true) => "No applications have been assigned to you yet.",
    };
    let chrome = portal.chrome(&me.user, &csrf, "apps").await?;
    Ok(page(
        StatusCode::OK,
        "apps.html",
        context! {
            title => "Applications",
            tab => if favorites_tab { "favorites" } else { "all" },
            q => q,
            apps => apps,
            empty_text => empty_text,
            ..minijinja::Value::from_serialize(&chrome)
        },
    ))
}

#[derive(Deserialize)]
pub struct FavoriteForm {
    #[serde(default)]
    tab: String,
    #[serde(default)]
    q: String,
}

pub async fn toggle_favorite(
    State(portal): State<Portal>,
    me: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FavoriteForm>,
) -> PortalResult {
    let apps = portal.idp.store.applications_for_user(&me.user.id).await?;
    let Some((app, was)) = apps.into_iter().find(|(a, _)| a.id == id) else {
        return Err(PortalError::NotFound);
    };
    let now_favorite = !was;
    portal
        .idp
        .store
        .set_favorite(&me.user.id, &app.id, now_favorite, clock::now())
        .await?;
    if wants_json(&headers) {
        return Ok(Json(serde_json::json!({ "favorite": now_favorite })).into_response());
    }
    let back = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "tab",
            if form.tab == "favorites" {
                "favorites"
            } else {
                "all"
            },
        )
        .append_pair("q", &form.q)
        .finish();
    Ok(see_other(&format!("/apps?{back}")))
}

pub async fn launch(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    Path(id): Path<String>,
) -> PortalResult<Response> {
    match portal
        .idp
        .launch(&me.user, &id, ip.as_deref(), clock::now())
        .await?
    {
        Some(to) => Ok(see_other(&to)),
        None => Err(PortalError::NotFound),
    }
}

/// GET /apps/{id}/logo: a tile's uploaded logo. Its URL carries the
/// image's tag, so the browser keeps it for good; a new upload is a new
/// URL. Only PNG and JPEG are stored, and the type is checked again here.
pub async fn logo(
    State(portal): State<Portal>,
    _me: SignedIn,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> PortalResult<Response> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let logo = match crate::admin::apps::logo(&portal.idp, &id).await {
        Ok(Some(l)) => l,
        Ok(None) => return Err(PortalError::NotFound),
        Err(crate::admin::AdminError::Internal(e)) => return Err(e.into()),
        Err(_) => return Err(PortalError::NotFound),
    };
    let etag = format!("\"{}\"", logo.etag);
    let cache = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable".to_string(),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((
        cache,
        [(header::CONTENT_TYPE, logo.content_type.to_string())],
        logo.bytes,
    )
        .into_response())
}
