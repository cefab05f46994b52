//! Settings: each with its current value and what it means; a change is
//! confirmed on its own page before it is made.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::users::Confirm;
use super::{Admin, Configure, Need, Read, confirm_page, failed, render};
use crate::admin::{self, AdminError};
use crate::roles::Permission;
use crate::web::{Form, Portal, PortalResult, see_other};

#[derive(Serialize)]
struct Row {
    key: &'static str,
    value: String,
    meaning: &'static str,
    error: Option<String>,
    typed: Option<String>,
}

#[derive(Serialize)]
struct ListPage {
    settings: Vec<Row>,
    can_configure: bool,
    flash: Option<&'static str>,
}

async fn list_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<(&str, String, AdminError)>,
) -> PortalResult {
    let current = match admin::settings::show(&portal.idp).await {
        Ok(s) => s.entries(),
        Err(e) => return Ok(failed(e)),
    };
    let settings = crate::settings::KEYS
        .iter()
        .map(|(key, meaning)| {
            let (err, typed) = match &error {
                Some((k, typed, e)) if k == key => (Some(e.to_string()), Some(typed.clone())),
                _ => (None, None),
            };
            Row {
                key,
                value: current
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                meaning,
                error: err,
                typed,
            }
        })
        .collect();
    render(
        portal,
        me,
        status,
        "admin_settings.html",
        "settings",
        "Settings",
        ListPage {
            settings,
            can_configure: me.role.allows(Permission::Configure),
            flash,
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = q.done.is_some().then_some("Setting saved.");
    list_page(&portal, &me, StatusCode::OK, flash, None).await
}

#[derive(Deserialize)]
pub struct Value {
    #[serde(default)]
    value: String,
}

fn known(key: &str) -> Option<&'static str> {
    crate::settings::KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(k, _)| *k)
}

/// GET /admin/settings/{key}?value=...: what will change, and a button.
pub async fn confirm(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Path(key): Path<String>,
    Query(v): Query<Value>,
) -> PortalResult {
    let Some(key) = known(&key) else {
        return Ok(failed(AdminError::UnknownSetting { key }));
    };
    let current = match admin::settings::show(&portal.idp).await {
        Ok(s) => s.entries(),
        Err(e) => return Ok(failed(e)),
    };
    let now = current
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    confirm_page(
        &portal,
        &me,
        "settings",
        "Change a setting",
        Confirm {
            heading: format!("Change {key}?"),
            message: format!(
                "From {now:?} to {:?}. The change applies on every instance at once.",
                v.value.trim()
            ),
            action: format!("/admin/settings/{key}"),
            button: "Change setting",
            cancel: "/admin/settings".into(),
            fields: vec![("value".into(), v.value)],
        },
    )
    .await
}

pub async fn set(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Path(key): Path<String>,
    Form(v): Form<Value>,
) -> PortalResult {
    match admin::settings::set(&portal.idp, &me.actor, &key, &v.value).await {
        Ok(_) => Ok(see_other("/admin/settings?done=1")),
        Err(e @ AdminError::InvalidSetting { .. }) => {
            list_page(
                &portal,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((&key, v.value, e)),
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}
