//! The console's first page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Admin, Read, render};
use crate::web::{Portal, PortalResult};

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

#[derive(Serialize)]
struct Home {
    flash: Option<&'static str>,
    healthy: bool,
    health: String,
    role_meaning: &'static str,
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<Done>,
) -> PortalResult {
    let (healthy, health) = match portal.idp.ready().await {
        Ok(()) => (true, "The state store answers.".to_string()),
        Err(e) => (false, e.to_string()),
    };
    let role_meaning = me.role.describe();
    render(
        &portal,
        &me,
        StatusCode::OK,
        "admin_home.html",
        "home",
        "Admin console",
        Home {
            flash: match q.done.as_deref() {
                Some("user-deleted") => Some("User deleted."),
                _ => None,
            },
            healthy,
            health,
            role_meaning,
        },
    )
    .await
}
