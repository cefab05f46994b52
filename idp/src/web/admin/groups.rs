//! Groups: the list, creating one, and a group's members (added and
//! removed in bulk) and bound applications.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::users::Confirm;
use super::{Admin, Need, Read, Write, WriteFresh, confirm_page, failed, render, segment};
use crate::admin::{self, AdminError};
use crate::roles::Permission;
use crate::web::{Form, Portal, PortalResult, see_other};

fn group_path(name: &str) -> String {
    format!("/admin/groups/{}", segment(name))
}

#[derive(Serialize)]
struct GroupRow {
    name: String,
    path: String,
    members: i64,
}

#[derive(Serialize)]
struct ListPage {
    groups: Vec<GroupRow>,
    can_write: bool,
    name: String,
    error: Option<String>,
    flash: Option<&'static str>,
}

async fn list_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    name: String,
    error: Option<AdminError>,
    flash: Option<&'static str>,
) -> PortalResult {
    let groups = match admin::groups::list(&portal.idp).await {
        Ok(g) => g,
        Err(e) => return Ok(failed(e)),
    };
    render(
        portal,
        me,
        status,
        "admin_groups.html",
        "groups",
        "Groups",
        ListPage {
            groups: groups
                .into_iter()
                .map(|(g, members)| GroupRow {
                    path: group_path(&g.name),
                    name: g.name,
                    members,
                })
                .collect(),
            can_write: me.role.allows(Permission::WriteDirectory),
            name,
            error: error.map(|e| e.to_string()),
            flash,
        },
    )
    .await
}

pub async fn list(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("deleted") => Some("Group deleted."),
        _ => None,
    };
    list_page(&portal, &me, StatusCode::OK, String::new(), None, flash).await
}

#[derive(Deserialize)]
pub struct NewGroup {
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Form(f): Form<NewGroup>,
) -> PortalResult {
    match admin::groups::add(&portal.idp, &me.actor, &f.name).await {
        Ok(g) => Ok(see_other(&format!("{}?done=created", group_path(&g.name)))),
        Err(e @ (AdminError::Invalid { .. } | AdminError::Conflict { .. })) => {
            list_page(
                &portal,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                f.name,
                Some(e),
                None,
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
    added: Option<usize>,
    removed: Option<usize>,
    #[serde(default)]
    offset: u64,
}

#[derive(Serialize)]
struct MemberRow {
    email: String,
    name: String,
    path: String,
}

#[derive(Serialize)]
struct GroupPage {
    name: String,
    path: String,
    members: Vec<MemberRow>,
    total: u64,
    pager: super::Pager,
    applications: Vec<String>,
    can_write: bool,
    /// Deleting asks for a fresh factor on its own page; the link shows
    /// for every role that may write the directory.
    can_delete: bool,
    flash: Option<String>,
    emails: String,
    error: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn group_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    name: &str,
    offset: u64,
    status: StatusCode,
    flash: Option<String>,
    emails: String,
    error: Option<AdminError>,
) -> PortalResult {
    let idp = &portal.idp;
    let view = match admin::groups::show(idp, name).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(e)),
    };
    let page = match admin::groups::members(idp, name, offset, 0).await {
        Ok(p) => p,
        Err(e) => return Ok(failed(e)),
    };
    let path = group_path(&view.name);
    render(
        portal,
        me,
        status,
        "admin_group.html",
        "groups",
        format!("Group {}", view.name),
        GroupPage {
            pager: super::Pager::of(&page, &path, &[]),
            total: page.total,
            members: page
                .items
                .into_iter()
                .map(|v| MemberRow {
                    path: format!("/admin/users/{}", segment(&v.user.email)),
                    name: format!("{} {}", v.user.first_name, v.user.last_name)
                        .trim()
                        .to_string(),
                    email: v.user.email,
                })
                .collect(),
            path,
            applications: view.applications,
            name: view.name,
            can_write: me.role.allows(Permission::WriteDirectory),
            can_delete: me.role.allows(Permission::WriteDirectory),
            flash,
            emails,
            error: error.map(|e| e.to_string()),
        },
    )
    .await
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("created") => Some("Group created.".to_string()),
        Some("members") => Some(format!(
            "Members changed: {} added, {} removed.",
            q.added.unwrap_or(0),
            q.removed.unwrap_or(0)
        )),
        _ => None,
    };
    group_page(
        &portal,
        &me,
        &name,
        q.offset,
        StatusCode::OK,
        flash,
        String::new(),
        None,
    )
    .await
}

/// The bulk form: `action` add (with `emails`, one per line) or remove
/// (with a `member` field per ticked row).
pub async fn members(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PortalResult {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let (add, emails, typed) = match get("action") {
        "add" => (
            true,
            admin::groups::parse_emails(get("emails")),
            get("emails").to_string(),
        ),
        "remove" => (
            false,
            fields
                .iter()
                .filter(|(f, _)| f == "member")
                .map(|(_, v)| v.clone())
                .collect(),
            String::new(),
        ),
        _ => (false, Vec::new(), String::new()),
    };
    match admin::groups::bulk_members(&portal.idp, &me.actor, &name, &emails, add).await {
        Ok(b) => {
            let (a, r) = if add { (b.changed, 0) } else { (0, b.changed) };
            Ok(see_other(&format!(
                "{}?done=members&added={a}&removed={r}",
                group_path(&name)
            )))
        }
        Err(
            e @ AdminError::NotFound {
                entity: admin::Entity::Group,
                ..
            },
        ) => Ok(failed(e)),
        Err(e @ (AdminError::Invalid { .. } | AdminError::NotFound { .. })) => {
            group_page(
                &portal,
                &me,
                &name,
                0,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                typed,
                Some(e),
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

pub async fn delete_confirm(
    State(portal): State<Portal>,
    me: Admin<WriteFresh>,
    Path(name): Path<String>,
) -> PortalResult {
    let view = match admin::groups::show(&portal.idp, &name).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(e)),
    };
    let path = group_path(&view.name);
    let members = match view.members {
        1 => "Its 1 member loses".to_string(),
        n => format!("Its {n} members lose"),
    };
    let apps = if view.applications.is_empty() {
        "It is bound to no application.".to_string()
    } else {
        format!(
            "{members} access to the applications bound to it ({}) unless another of their groups is bound to them too. A gateway policy that names the group makes an empty one of the same name again at its next reload.",
            view.applications.join(", ")
        )
    };
    confirm_page(
        &portal,
        &me,
        "groups",
        "Delete group",
        Confirm {
            heading: format!("Delete the group {}?", view.name),
            message: format!(
                "The group and its memberships are removed; the accounts stay. {apps} This cannot be undone."
            ),
            action: format!("{path}/delete"),
            button: "Delete group",
            cancel: path,
            fields: vec![("version".into(), admin::groups::etag(&view))],
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    /// The version the confirmation page described: a group that changed
    /// since (new members, new bindings) is not deleted unseen.
    #[serde(default)]
    version: String,
}

pub async fn delete(
    State(portal): State<Portal>,
    me: Admin<WriteFresh>,
    Path(name): Path<String>,
    Form(f): Form<DeleteForm>,
) -> PortalResult {
    let version = Some(f.version.as_str()).filter(|v| !v.is_empty());
    match admin::groups::delete(&portal.idp, &me.actor, &name, version).await {
        Ok(()) => Ok(see_other("/admin/groups?done=deleted")),
        Err(e) => Ok(failed(e)),
    }
}
