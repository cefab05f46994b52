//! Signing keys: the OIDC and SAML keys with their age, and rotation,
//! which asks for confirmation and a fresh second factor.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::users::Confirm;
use super::{Admin, ConfigureFresh, Read, confirm_page, failed, render, when};
use crate::admin::{self, AdminError};
use crate::roles::Permission;
use crate::web::{Form, Portal, PortalResult, see_other};

#[derive(Serialize)]
struct Row {
    kid: String,
    alg: String,
    created: String,
    retired: String,
}

#[derive(Serialize)]
struct ListPage {
    oidc: Vec<Row>,
    saml: Vec<Row>,
    can_configure: bool,
    flash: Option<&'static str>,
    retention: String,
    overlap: String,
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
    let keys = match admin::keys::list(&portal.idp).await {
        Ok(k) => k,
        Err(e) => return Ok(failed(e)),
    };
    let (saml, oidc): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.saml);
    let row = |k: admin::keys::KeyView| Row {
        kid: k.kid,
        alg: k.alg,
        created: when(k.created_at),
        retired: k.retired_at.map(when).unwrap_or_else(|| "in use".into()),
    };
    let cfg = &portal.idp.config;
    render(
        &portal,
        &me,
        StatusCode::OK,
        "admin_keys.html",
        "keys",
        "Signing keys",
        ListPage {
            oidc: oidc.into_iter().map(row).collect(),
            saml: saml.into_iter().map(row).collect(),
            can_configure: me.role.allows(Permission::Configure),
            flash: match q.done.as_deref() {
                Some("oidc") => Some("New OIDC signing keys are in use."),
                Some("saml") => Some("A new SAML signing certificate is in use."),
                _ => None,
            },
            retention: humantime_serde::re::humantime::format_duration(cfg.oidc.key_retention)
                .to_string(),
            overlap: humantime_serde::re::humantime::format_duration(cfg.saml.cert_overlap)
                .to_string(),
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct Which {
    #[serde(default)]
    which: String,
}

fn which(w: &str) -> Result<&'static str, AdminError> {
    match w {
        "oidc" => Ok("oidc"),
        "saml" => Ok("saml"),
        _ => Err(AdminError::Invalid {
            field: Some("which".into()),
            message: "choose the OIDC keys or the SAML certificate".into(),
        }),
    }
}

pub async fn rotate_confirm(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Query(w): Query<Which>,
) -> PortalResult {
    let w = match which(&w.which) {
        Ok(w) => w,
        Err(e) => return Ok(failed(e)),
    };
    let (heading, message) = if w == "oidc" {
        (
            "Rotate the OIDC signing keys?",
            "New tokens are signed with new keys at once. The old keys stay published for the key retention period, so tokens already issued stay valid.",
        )
    } else {
        (
            "Rotate the SAML signing certificate?",
            "Assertions are signed with a new certificate at once. The old one stays in the metadata for the overlap period; service providers that pinned it need the new one.",
        )
    };
    confirm_page(
        &portal,
        &me,
        "keys",
        "Rotate keys",
        Confirm {
            heading: heading.into(),
            message: message.into(),
            action: "/admin/keys/rotate".into(),
            button: "Rotate",
            cancel: "/admin/keys".into(),
            fields: vec![("which".into(), w.into())],
        },
    )
    .await
}

pub async fn rotate(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Form(w): Form<Which>,
) -> PortalResult {
    let res = match which(&w.which) {
        Ok("oidc") => admin::keys::rotate_oidc(&portal.idp, &me.actor, None)
            .await
            .map(|_| "oidc"),
        Ok(_) => admin::keys::rotate_saml(&portal.idp, &me.actor)
            .await
            .map(|_| "saml"),
        Err(e) => Err(e),
    };
    match res {
        Ok(w) => Ok(see_other(&format!("/admin/keys?done={w}"))),
        Err(e) => Ok(failed(e)),
    }
}
