//! The admin console: server-rendered pages over [`crate::admin`], under
//! `/admin`. Every handler takes an [`Admin`] extractor naming the
//! permission it needs, so the guard (a portal session, a role that allows
//! the permission, a recent second factor) is written once, here.

mod apps;
mod audit;
mod clients;
mod groups;
mod guard;
mod home;
mod keys;
mod saml;
mod settings;
mod users;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

pub use guard::{Admin, Configure, ConfigureFresh, Need, Read, Support, Write, WriteFresh};

use super::render::{message, page};
use super::{Chrome, Portal, PortalError};
use crate::admin::AdminError;
use crate::paths;

/// Every admin route as (method, path). The router below serves exactly
/// these; the tests walk the list to check the guard on each one.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", paths::ADMIN),
    ("GET", paths::ADMIN_USERS),
    ("GET", paths::ADMIN_USERS_NEW),
    ("POST", paths::ADMIN_USERS_NEW),
    ("GET", paths::ADMIN_USER),
    ("POST", paths::ADMIN_USER_PROFILE),
    ("POST", paths::ADMIN_USER_LOCK),
    ("POST", paths::ADMIN_USER_UNLOCK),
    ("GET", paths::ADMIN_USER_RESET_MFA),
    ("POST", paths::ADMIN_USER_RESET_MFA),
    ("POST", paths::ADMIN_USER_PASSWORD),
    ("POST", paths::ADMIN_USER_RESET_LINK),
    ("POST", paths::ADMIN_USER_ROLE),
    ("POST", paths::ADMIN_USER_GROUPS),
    ("POST", paths::ADMIN_USER_SESSIONS_END),
    ("POST", paths::ADMIN_USER_SESSIONS_END_ALL),
    ("GET", paths::ADMIN_USER_DELETE),
    ("POST", paths::ADMIN_USER_DELETE),
    ("GET", paths::ADMIN_GROUPS),
    ("POST", paths::ADMIN_GROUPS),
    ("GET", paths::ADMIN_GROUP),
    ("POST", paths::ADMIN_GROUP_MEMBERS),
    ("GET", paths::ADMIN_GROUP_DELETE),
    ("POST", paths::ADMIN_GROUP_DELETE),
    ("GET", paths::ADMIN_APPS),
    ("POST", paths::ADMIN_APPS),
    ("GET", paths::ADMIN_APP),
    ("POST", paths::ADMIN_APP),
    ("POST", paths::ADMIN_APP_GROUPS),
    ("POST", paths::ADMIN_APP_LOGO),
    ("GET", paths::ADMIN_APP_DELETE),
    ("POST", paths::ADMIN_APP_DELETE),
    ("GET", paths::ADMIN_POLICIES_RELOAD),
    ("POST", paths::ADMIN_POLICIES_RELOAD),
    ("GET", paths::ADMIN_CLIENTS),
    ("POST", paths::ADMIN_CLIENTS),
    ("GET", paths::ADMIN_CLIENT),
    ("POST", paths::ADMIN_CLIENT),
    ("GET", paths::ADMIN_CLIENT_SECRET),
    ("POST", paths::ADMIN_CLIENT_SECRET),
    ("GET", paths::ADMIN_CLIENT_DELETE),
    ("POST", paths::ADMIN_CLIENT_DELETE),
    ("GET", paths::ADMIN_SETTINGS),
    ("GET", paths::ADMIN_SETTINGS_KEY),
    ("POST", paths::ADMIN_SETTINGS_KEY),
    ("GET", paths::ADMIN_AUDIT),
    ("GET", paths::ADMIN_AUDIT_EXPORT),
    ("GET", paths::ADMIN_KEYS),
    ("GET", paths::ADMIN_KEYS_ROTATE),
    ("POST", paths::ADMIN_KEYS_ROTATE),
    ("GET", paths::ADMIN_SAML),
    ("POST", paths::ADMIN_SAML),
    ("GET", paths::ADMIN_SAML_SP),
    ("POST", paths::ADMIN_SAML_SP),
    ("GET", paths::ADMIN_SAML_SP_DELETE),
    ("POST", paths::ADMIN_SAML_SP_DELETE),
    ("GET", paths::ADMIN_FEDERATION),
];

/// The console's routes; the portal router puts them inside its CSRF and
/// header layers.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route(paths::ADMIN, get(home::show))
        .route(
            paths::ADMIN_USERS_NEW,
            get(users::new_form).post(users::create),
        )
        .route(paths::ADMIN_USERS, get(users::list))
        .route(paths::ADMIN_USER, get(users::show))
        .route(
            paths::ADMIN_USER_PROFILE,
            axum::routing::post(users::save_profile),
        )
        .route(paths::ADMIN_USER_LOCK, axum::routing::post(users::lock))
        .route(paths::ADMIN_USER_UNLOCK, axum::routing::post(users::unlock))
        .route(
            paths::ADMIN_USER_RESET_MFA,
            get(users::reset_mfa_confirm).post(users::reset_mfa),
        )
        .route(
            paths::ADMIN_USER_PASSWORD,
            axum::routing::post(users::set_password),
        )
        .route(
            paths::ADMIN_USER_RESET_LINK,
            axum::routing::post(users::reset_link),
        )
        .route(paths::ADMIN_USER_ROLE, axum::routing::post(users::set_role))
        .route(paths::ADMIN_USER_GROUPS, axum::routing::post(users::groups))
        .route(
            paths::ADMIN_USER_SESSIONS_END,
            axum::routing::post(users::end_session),
        )
        .route(
            paths::ADMIN_USER_SESSIONS_END_ALL,
            axum::routing::post(users::end_all_sessions),
        )
        .route(
            paths::ADMIN_USER_DELETE,
            get(users::delete_confirm).post(users::delete),
        )
        .route(paths::ADMIN_GROUPS, get(groups::list).post(groups::create))
        .route(paths::ADMIN_GROUP, get(groups::show))
        .route(
            paths::ADMIN_GROUP_MEMBERS,
            axum::routing::post(groups::members),
        )
        .route(
            paths::ADMIN_GROUP_DELETE,
            get(groups::delete_confirm).post(groups::delete),
        )
        .route(paths::ADMIN_APPS, get(apps::list).post(apps::create))
        .route(paths::ADMIN_APP, get(apps::show).post(apps::update))
        .route(paths::ADMIN_APP_GROUPS, axum::routing::post(apps::groups))
        .route(paths::ADMIN_APP_LOGO, axum::routing::post(apps::logo))
        .route(
            paths::ADMIN_APP_DELETE,
            get(apps::delete_confirm).post(apps::delete),
        )
        .route(
            paths::ADMIN_POLICIES_RELOAD,
            get(apps::reload_confirm).post(apps::reload),
        )
        .route(
            paths::ADMIN_CLIENTS,
            get(clients::list).post(clients::create),
        )
        .route(
            paths::ADMIN_CLIENT,
            get(clients::show).post(clients::update),
        )
        .route(
            paths::ADMIN_CLIENT_SECRET,
            get(clients::rotate_confirm).post(clients::rotate),
        )
        .route(
            paths::ADMIN_CLIENT_DELETE,
            get(clients::delete_confirm).post(clients::delete),
        )
        .route(paths::ADMIN_SETTINGS, get(settings::list))
        .route(
            paths::ADMIN_SETTINGS_KEY,
            get(settings::confirm).post(settings::set),
        )
        .route(paths::ADMIN_AUDIT, get(audit::log))
        .route(paths::ADMIN_AUDIT_EXPORT, get(audit::export))
        .route(paths::ADMIN_KEYS, get(keys::list))
        .route(
            paths::ADMIN_KEYS_ROTATE,
            get(keys::rotate_confirm).post(keys::rotate),
        )
        .route(paths::ADMIN_SAML, get(saml::list).post(saml::create))
        .route(paths::ADMIN_SAML_SP, get(saml::show).post(saml::update))
        .route(
            paths::ADMIN_SAML_SP_DELETE,
            get(saml::delete_confirm).post(saml::delete),
        )
        .route(paths::ADMIN_FEDERATION, get(saml::federation))
}

/// The console's sections, for its navigation.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("home", paths::ADMIN, "Dashboard"),
    ("users", paths::ADMIN_USERS, "Users"),
    ("groups", paths::ADMIN_GROUPS, "Groups"),
    ("apps", paths::ADMIN_APPS, "Applications"),
    ("clients", paths::ADMIN_CLIENTS, "OIDC clients"),
    ("saml", paths::ADMIN_SAML, "SAML service providers"),
    ("federation", paths::ADMIN_FEDERATION, "Federation"),
    ("settings", paths::ADMIN_SETTINGS, "Settings"),
    ("keys", paths::ADMIN_KEYS, "Keys"),
    ("audit", paths::ADMIN_AUDIT, "Audit log"),
];

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

/// What every console page's layout needs, beside the portal's chrome.
#[derive(Serialize)]
struct Layout<C: Serialize> {
    #[serde(flatten)]
    chrome: Chrome,
    nav: Vec<NavItem>,
    role: &'static str,
    title: String,
    #[serde(flatten)]
    content: C,
}

/// Renders a console page: the portal's layout, the console's navigation
/// with `section` current, and the page's own context.
/// The page every destructive action shows first: what will happen, and a
/// form that carries the action on (`users::Confirm`).
async fn confirm_page<N: Need>(
    portal: &Portal,
    admin: &Admin<N>,
    section: &'static str,
    title: &str,
    confirm: users::Confirm,
) -> Result<Response, PortalError> {
    render(
        portal,
        admin,
        StatusCode::OK,
        "admin_confirm.html",
        section,
        title,
        confirm,
    )
    .await
}

async fn render<N: Need, C: Serialize>(
    portal: &Portal,
    admin: &Admin<N>,
    status: StatusCode,
    template: &str,
    section: &'static str,
    title: impl Into<String>,
    content: C,
) -> Result<Response, PortalError> {
    let chrome = portal.chrome(&admin.me, &admin.csrf, "admin").await?;
    let layout = Layout {
        chrome,
        nav: SECTIONS
            .iter()
            .map(|(key, href, label)| NavItem {
                href,
                label,
                current: *key == section,
            })
            .collect(),
        role: admin.role.as_str(),
        title: title.into(),
        content,
    };
    Ok(page(status, template, layout))
}

/// An [`AdminError`] the page does not show beside its form.
fn failed(e: AdminError) -> Response {
    match e {
        AdminError::NotFound { .. } => message(
            StatusCode::NOT_FOUND,
            "Not found",
            &e.to_string(),
            Some((paths::ADMIN, "Back to the console")),
        ),
        AdminError::Forbidden { .. } => denied(),
        AdminError::Internal(e) => PortalError::from(e).into_response(),
        e => message(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            "That did not work",
            &e.to_string(),
            Some((paths::ADMIN, "Back to the console")),
        ),
    }
}

/// Links to the previous and next page of a listing.
#[derive(Serialize, Default)]
struct Pager {
    /// "21–40 of 95"
    range: String,
    prev: Option<String>,
    next: Option<String>,
}

impl Pager {
    /// `base` is the listing's path; `keep` the query pairs (filters) every
    /// page link carries besides its offset.
    fn of<T>(page: &crate::admin::Page<T>, base: &str, keep: &[(&str, &str)]) -> Self {
        let link = |offset: u64| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in keep {
                if !v.is_empty() {
                    q.append_pair(k, v);
                }
            }
            if offset > 0 {
                q.append_pair("offset", &offset.to_string());
            }
            let q = q.finish();
            if q.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{q}")
            }
        };
        let shown = page.items.len() as u64;
        Self {
            range: if shown == 0 {
                format!("0 of {}", page.total)
            } else {
                format!(
                    "{}–{} of {}",
                    page.offset + 1,
                    page.offset + shown,
                    page.total
                )
            },
            prev: (page.offset > 0).then(|| link(page.offset.saturating_sub(page.limit))),
            next: (page.offset + shown < page.total).then(|| link(page.offset + page.limit)),
        }
    }
}

/// The page of a signed-in user whose role does not allow what they asked.
fn denied() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Not allowed",
        "Your account has no administrator role that allows this. Ask an administrator if you need access.",
        Some((paths::APPS, "Go to your applications")),
    )
}

/// A path segment for `/admin/users/{email}` and the like. The form
/// encoder writes a space as `+`, which a path keeps literally; a literal
/// `+` it has already written as `%2B`.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A date and time for people, in UTC: `2026-11-23 14:05 UTC`.
fn when(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .map(|t| {
            format!(
                "{} {:02}:{:02} UTC",
                crate::clock::date(ts),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}
