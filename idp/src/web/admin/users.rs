//! Users: one user's page (status, password, second factors, role, groups,
//! applications, sessions) and its actions, and creating a user.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{
    Admin, Need, Read, Support, Write, WriteFresh, confirm_page, failed, render, segment, when,
};
use crate::admin::{self, AdminError};
use crate::directory::LockReason;
use crate::roles::{Permission, Role};
use crate::web::{Form, Portal, PortalResult, see_other};

fn user_path(email: &str) -> String {
    format!("/admin/users/{}", segment(email))
}

/// The sentence a finished action leaves on the user's page. A fixed list:
/// the query string never puts text of its own on the page.
fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "User created.",
        "profile" => "Profile saved.",
        "locked" => "Account locked; its sessions have ended.",
        "unlocked" => "Account unlocked.",
        "mfa-reset" => "Second factors removed; the user enrols again at the next sign-in.",
        "password" => "Password set; the user's sessions have ended.",
        "reset-link" => "A password reset link was sent to the user.",
        "role" => "Role saved.",
        "groups" => "Groups saved.",
        "session" => "Session ended.",
        "sessions" => "All sessions ended.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

#[derive(Serialize)]
struct SessionRow {
    id: String,
    created: String,
    last_seen: String,
    ip: String,
    methods: String,
}

#[derive(Serialize)]
struct AppRow {
    name: String,
    launch_url: String,
}

#[derive(Serialize)]
struct UserPage {
    version: String,
    fields: Vec<FieldRow>,
    events: Vec<EventRow>,
    audit_link: String,
    email: String,
    path: String,
    display_name: String,
    first_name: String,
    last_name: String,
    username: String,
    created: String,
    password_changed: String,
    locked: Option<&'static str>,
    failed_attempts: i64,
    role_attr: String,
    effective_role: String,
    /// (name, page)
    groups: Vec<(String, String)>,
    other_groups: Vec<String>,
    applications: Vec<AppRow>,
    sessions: Vec<SessionRow>,
    can_support: bool,
    can_write: bool,
    flash: Option<&'static str>,
    /// The section whose form failed, and why.
    error_at: Option<&'static str>,
    error: Option<String>,
}

fn lock_words(l: LockReason) -> &'static str {
    match l {
        LockReason::Admin => "locked by an administrator",
        LockReason::FailedAttempts => "locked after failed sign-ins",
        LockReason::Expired => "locked: the password expired",
    }
}

async fn user_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    email: &str,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<(&'static str, AdminError)>,
) -> PortalResult<Response> {
    user_page_with(portal, me, email, status, flash, error, None).await
}

/// A profile form sent back: what was typed, and the message per field.
type Typed = (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
);

#[derive(Serialize)]
struct FieldRow {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct EventRow {
    at: String,
    event: String,
    outcome: String,
    actor: String,
    detail: String,
}

/// How many audit events the user page shows.
const RECENT_EVENTS: u64 = 10;

async fn user_page_with<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    email: &str,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<(&'static str, AdminError)>,
    typed: Option<Typed>,
) -> PortalResult<Response> {
    let idp = &portal.idp;
    let view = match admin::users::show(idp, email).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(e)),
    };
    let u = &view.user;
    let version = admin::users::etag(&view);
    let stored = crate::account::profile::values(u);
    let (typed_values, field_errors) = typed.unwrap_or_default();
    let value_of = |k: &str, stored: String| typed_values.get(k).cloned().unwrap_or(stored);
    let mut fields = vec![FieldRow {
        name: "email",
        label: "Company email",
        kind: "email",
        value: value_of("email", u.email.clone()),
        error: field_errors.get("email").cloned(),
    }];
    for (name, label, kind) in crate::directory::PROFILE_FIELDS {
        fields.push(FieldRow {
            name,
            label,
            kind: match kind {
                crate::directory::FieldKind::Email => "email",
                crate::directory::FieldKind::Phone => "tel",
                _ => "text",
            },
            value: value_of(name, stored.get(*name).cloned().unwrap_or_default()),
            error: field_errors.get(*name).cloned(),
        });
    }
    let events = admin::audit::query(
        idp,
        &admin::audit::AuditQuery {
            user: Some(u.email.clone()),
            limit: RECENT_EVENTS,
            ..Default::default()
        },
    )
    .await
    .map_err(internal)?
    .items
    .into_iter()
    .map(|r| EventRow {
        at: when(r.at),
        event: r.event,
        outcome: r.outcome,
        actor: r.actor.unwrap_or_default(),
        detail: r.detail,
    })
    .collect();
    let effective = admin::roles::of(idp, u).await.map_err(internal)?;
    let all_groups = admin::groups::list(idp).await.map_err(internal)?;
    let applications = admin::users::applications(idp, email)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| AppRow {
            name: a.name,
            launch_url: a.launch_url,
        })
        .collect();
    let sessions = admin::sessions::list(idp, email)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|s| SessionRow {
            created: when(s.created_at),
            last_seen: when(s.last_seen),
            ip: s.source_ip.unwrap_or_else(|| "unknown".into()),
            methods: s.amr.join(", "),
            id: s.id,
        })
        .collect();
    let (error_at, error) = match error {
        Some((at, e)) => (Some(at), Some(e.to_string())),
        None => (None, None),
    };
    let content = UserPage {
        version,
        fields,
        events,
        audit_link: format!(
            "/admin/audit?user={}",
            url::form_urlencoded::byte_serialize(u.email.as_bytes()).collect::<String>()
        ),
        email: u.email.clone(),
        path: user_path(&u.email),
        display_name: u.display_name(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        username: u.username.clone(),
        created: when(u.created_at),
        password_changed: u
            .password_changed_at
            .map(when)
            .unwrap_or_else(|| "never".into()),
        locked: u.locked.map(lock_words),
        failed_attempts: u.failed_attempts,
        role_attr: u.admin_role.map_or("none", Role::as_str).into(),
        effective_role: effective.map_or("none", Role::as_str).into(),
        other_groups: all_groups
            .into_iter()
            .map(|(g, _)| g.name)
            .filter(|g| !view.groups.contains(g))
            .collect(),
        groups: view
            .groups
            .iter()
            .map(|g| (g.clone(), format!("/admin/groups/{}", segment(g))))
            .collect(),
        applications,
        sessions,
        can_support: me.role.allows(Permission::SupportUsers),
        can_write: me.role.allows(Permission::WriteDirectory),
        flash,
        error_at,
        error,
    };
    render(
        portal,
        me,
        status,
        "admin_user.html",
        "users",
        u.display_name(),
        content,
    )
    .await
}

fn internal(e: AdminError) -> crate::web::PortalError {
    match e {
        AdminError::Internal(e) => e.into(),
        e => crate::web::PortalError::BadRequest(e.to_string()),
    }
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Path(email): Path<String>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = q.done.as_deref().and_then(done_message);
    user_page(&portal, &me, &email, StatusCode::OK, flash, None).await
}

/// After a write on the user's page: back to it with its sentence, or the
/// page again with the error beside the form that failed.
async fn after<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    email: &str,
    section: &'static str,
    done: &str,
    res: Result<(), AdminError>,
) -> PortalResult {
    match res {
        Ok(()) => Ok(see_other(&format!("{}?done={done}", user_path(email)))),
        Err(
            e @ (AdminError::Invalid { .. }
            | AdminError::PasswordPolicy(_)
            | AdminError::Conflict { .. }),
        ) => {
            user_page(
                portal,
                me,
                email,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((section, e)),
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

pub async fn lock(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Path(email): Path<String>,
    Form(f): Form<ReasonForm>,
) -> PortalResult {
    let res = admin::users::lock_because(&portal.idp, &me.actor, &email, &f.reason)
        .await
        .map(drop);
    after(&portal, &me, &email, "status", "locked", res).await
}

pub async fn unlock(
    State(portal): State<Portal>,
    me: Admin<Support>,
    Path(email): Path<String>,
    Form(f): Form<ReasonForm>,
) -> PortalResult {
    let res = admin::users::unlock_because(&portal.idp, &me.actor, &email, &f.reason)
        .await
        .map(drop);
    after(&portal, &me, &email, "status", "unlocked", res).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

pub async fn set_password(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Path(email): Path<String>,
    Form(f): Form<PasswordForm>,
) -> PortalResult {
    let res = if f.password.is_empty() {
        Err(AdminError::Invalid {
            field: Some("password".into()),
            message: "enter the new password".into(),
        })
    } else {
        admin::users::set_password(&portal.idp, &me.actor, &email, &f.password).await
    };
    after(&portal, &me, &email, "password", "password", res).await
}

pub async fn reset_link(
    State(portal): State<Portal>,
    me: Admin<Support>,
    Path(email): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    let res = admin::users::send_reset_link(&portal.idp, &me.actor, &email).await;
    after(&portal, &me, &email, "password", "reset-link", res).await
}

#[derive(Deserialize)]
pub struct Empty {}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Path(email): Path<String>,
    Form(f): Form<RoleForm>,
) -> PortalResult {
    let role = match f.role.as_str() {
        "" | "none" => Ok(None),
        r => Role::parse(r).map(Some).ok_or_else(|| AdminError::Invalid {
            field: Some("role".into()),
            message: format!("unknown role {r:?}: admin, helpdesk, auditor or none"),
        }),
    };
    let res = match role {
        Ok(role) => admin::roles::set(&portal.idp, &me.actor, &email, role)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    after(&portal, &me, &email, "role", "role", res).await
}

#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    action: String,
}

pub async fn groups(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Path(email): Path<String>,
    Form(f): Form<GroupForm>,
) -> PortalResult {
    let idp = &portal.idp;
    let res = match f.action.as_str() {
        "add" => admin::groups::add_member(idp, &me.actor, &f.group, &email)
            .await
            .map(drop),
        "remove" => admin::groups::remove_member(idp, &me.actor, &f.group, &email)
            .await
            .map(drop),
        _ => Err(AdminError::Invalid {
            field: Some("action".into()),
            message: "choose to add or remove".into(),
        }),
    };
    // An unknown group is the form's fault here, not a missing page.
    let res = res.map_err(|e| match e {
        AdminError::NotFound { .. } => AdminError::Invalid {
            field: Some("group".into()),
            message: e.to_string(),
        },
        e => e,
    });
    after(&portal, &me, &email, "groups", "groups", res).await
}

#[derive(Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    id: String,
}

pub async fn end_session(
    State(portal): State<Portal>,
    me: Admin<Support>,
    Path(email): Path<String>,
    Form(f): Form<SessionForm>,
) -> PortalResult {
    let res = admin::sessions::end(&portal.idp, &me.actor, &email, &f.id).await;
    after(&portal, &me, &email, "sessions", "session", res).await
}

pub async fn end_all_sessions(
    State(portal): State<Portal>,
    me: Admin<Support>,
    Path(email): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    let res = admin::sessions::end_all(&portal.idp, &me.actor, &email)
        .await
        .map(drop);
    after(&portal, &me, &email, "sessions", "sessions", res).await
}

// ---- the list ----------------------------------------------------------

#[derive(Deserialize, Serialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    text: String,
    #[serde(default)]
    group: String,
    /// "", "locked" or "active".
    #[serde(default)]
    status: String,
    /// "", or a role name.
    #[serde(default)]
    role: String,
    #[serde(default)]
    offset: u64,
}

#[derive(Serialize)]
struct ListRow {
    email: String,
    path: String,
    name: String,
    groups: String,
    status: &'static str,
    role: &'static str,
}

#[derive(Serialize)]
struct ListPage<'a> {
    q: &'a ListQuery,
    users: Vec<ListRow>,
    pager: super::Pager,
    all_groups: Vec<String>,
    can_write: bool,
    error: Option<String>,
}

/// GET /admin/users: search by name, email or username, by group, lock
/// state and role; paged in the database.
pub async fn list(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<ListQuery>,
) -> PortalResult {
    let idp = &portal.idp;
    let role = match q.role.as_str() {
        "" => Ok(None),
        r => Role::parse(r).map(Some).ok_or(()),
    };
    let query = admin::users::UserQuery {
        text: Some(q.text.clone()).filter(|t| !t.trim().is_empty()),
        group: Some(q.group.clone()).filter(|g| !g.is_empty()),
        locked: match q.status.as_str() {
            "locked" => Some(true),
            "active" => Some(false),
            _ => None,
        },
        role: role.unwrap_or(None),
        offset: q.offset,
        limit: 0,
    };
    let (page, error) = match admin::users::search(idp, &query).await {
        Ok(p) => (p, None),
        Err(e @ AdminError::Internal(_)) => return Ok(failed(e)),
        Err(e) => (
            admin::Page {
                items: vec![],
                total: 0,
                offset: 0,
                limit: 0,
            },
            Some(e.to_string()),
        ),
    };
    let all_groups = admin::groups::list(idp)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(g, _)| g.name)
        .collect();
    let pager = super::Pager::of(
        &page,
        crate::paths::ADMIN_USERS,
        &[
            ("text", &q.text),
            ("group", &q.group),
            ("status", &q.status),
            ("role", &q.role),
        ],
    );
    let users = page
        .items
        .into_iter()
        .map(|v| ListRow {
            path: user_path(&v.user.email),
            name: v.user.display_name(),
            groups: v.groups.join(", "),
            status: v.user.locked.map_or("active", lock_words),
            role: v.user.admin_role.map_or("", Role::as_str),
            email: v.user.email,
        })
        .collect();
    render(
        &portal,
        &me,
        StatusCode::OK,
        "admin_users.html",
        "users",
        "Users",
        ListPage {
            q: &q,
            users,
            pager,
            all_groups,
            can_write: me.role.allows(Permission::WriteDirectory),
            error,
        },
    )
    .await
}

// ---- the profile -------------------------------------------------------

/// POST /admin/users/{email}/profile: every profile field and the company
/// email. `version` is the tag of the user as the form showed it, so an
/// edit made meanwhile by someone else is not overwritten.
pub async fn save_profile(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Path(email): Path<String>,
    Form(mut f): Form<std::collections::BTreeMap<String, String>>,
) -> PortalResult {
    f.remove("csrf");
    let version = f.remove("version").filter(|v| !v.is_empty());
    let new_email = f.remove("email");
    let take = |f: &mut std::collections::BTreeMap<String, String>, k: &str| f.remove(k);
    let edit = admin::users::UserEdit {
        first_name: take(&mut f, "first_name"),
        last_name: take(&mut f, "last_name"),
        username: take(&mut f, "username"),
        email: new_email.clone(),
        profile: f.clone(),
    };
    match admin::users::update(&portal.idp, &me.actor, &email, edit, version.as_deref()).await {
        Ok(v) => Ok(see_other(&format!(
            "{}?done=profile",
            user_path(&v.user.email)
        ))),
        Err(AdminError::Fields { errors }) => {
            let mut typed = f;
            if let Some(e) = new_email {
                typed.insert("email".into(), e);
            }
            user_page_with(
                &portal,
                &me,
                &email,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((
                    "profile",
                    AdminError::Invalid {
                        field: None,
                        message: "Some fields need attention; see the messages below.".into(),
                    },
                )),
                Some((typed, errors)),
            )
            .await
        }
        Err(e @ (AdminError::Stale { .. } | AdminError::Conflict { .. })) => {
            user_page(
                &portal,
                &me,
                &email,
                StatusCode::CONFLICT,
                None,
                Some(("profile", e)),
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

// ---- confirmations -----------------------------------------------------

#[derive(Serialize)]
pub(super) struct Confirm {
    pub heading: String,
    pub message: String,
    pub action: String,
    pub button: &'static str,
    pub cancel: String,
    /// Hidden fields the confirmed form carries on.
    pub fields: Vec<(String, String)>,
}

pub async fn reset_mfa_confirm(
    State(portal): State<Portal>,
    me: Admin<Support>,
    Path(email): Path<String>,
) -> PortalResult {
    let user = match admin::users::show(&portal.idp, &email).await {
        Ok(v) => v.user,
        Err(e) => return Ok(failed(e)),
    };
    let path = user_path(&user.email);
    confirm_page(
        &portal,
        &me,
        "users",
        "Reset second factors",
        Confirm {
            heading: format!("Reset the second factors of {}?", user.email),
            message: "Every authenticator app, security key, passkey and recovery code of this user is removed and their sessions end. They enrol again at their next sign-in.".into(),
            action: format!("{path}/reset-mfa"),
            button: "Reset second factors",
            cancel: path,
            fields: vec![],
        },
    )
    .await
}

pub async fn reset_mfa(
    State(portal): State<Portal>,
    me: Admin<Support>,
    Path(email): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    let res = admin::users::reset_mfa(&portal.idp, &me.actor, &email)
        .await
        .map(drop);
    after(&portal, &me, &email, "mfa", "mfa-reset", res).await
}

pub async fn delete_confirm(
    State(portal): State<Portal>,
    me: Admin<WriteFresh>,
    Path(email): Path<String>,
) -> PortalResult {
    let user = match admin::users::show(&portal.idp, &email).await {
        Ok(v) => v.user,
        Err(e) => return Ok(failed(e)),
    };
    let path = user_path(&user.email);
    confirm_page(
        &portal,
        &me,
        "users",
        "Delete user",
        Confirm {
            heading: format!("Delete {}?", user.email),
            message: "The account, its second factors and its sessions are removed, and the applications it signed in to are told. This cannot be undone.".into(),
            action: format!("{path}/delete"),
            button: "Delete user",
            cancel: path,
            fields: vec![],
        },
    )
    .await
}

pub async fn delete(
    State(portal): State<Portal>,
    me: Admin<WriteFresh>,
    Path(email): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    match admin::users::delete(&portal.idp, &me.actor, &email).await {
        Ok(()) => Ok(see_other("/admin?done=user-deleted")),
        Err(e) => Ok(failed(e)),
    }
}

// ---- a new user --------------------------------------------------------

#[derive(Deserialize, Serialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    groups: String,
}

#[derive(Serialize)]
struct NewUserPage<'a> {
    form: &'a NewUserForm,
    error: Option<String>,
    error_field: Option<String>,
    all_groups: Vec<String>,
}

async fn new_page(
    portal: &Portal,
    me: &Admin<Write>,
    status: StatusCode,
    form: &NewUserForm,
    error: Option<AdminError>,
) -> PortalResult {
    let all_groups = admin::groups::list(&portal.idp)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(g, _)| g.name)
        .collect();
    let error_field = match &error {
        Some(AdminError::Invalid { field, .. }) => field.clone(),
        Some(AdminError::PasswordPolicy(_)) => Some("password".into()),
        Some(AdminError::Conflict { .. }) => Some("email".into()),
        Some(AdminError::NotFound { .. }) => Some("groups".into()),
        _ => None,
    };
    render(
        portal,
        me,
        status,
        "admin_user_new.html",
        "users",
        "New user",
        NewUserPage {
            form,
            error: error.map(|e| e.to_string()),
            error_field,
            all_groups,
        },
    )
    .await
}

pub async fn new_form(State(portal): State<Portal>, me: Admin<Write>) -> PortalResult {
    new_page(&portal, &me, StatusCode::OK, &NewUserForm::default(), None).await
}

pub async fn create(
    State(portal): State<Portal>,
    me: Admin<Write>,
    Form(f): Form<NewUserForm>,
) -> PortalResult {
    let role = match f.role.as_str() {
        "" | "none" => None,
        r => match Role::parse(r) {
            Some(r) => Some(r),
            None => {
                let e = AdminError::Invalid {
                    field: Some("role".into()),
                    message: format!("unknown role {r:?}"),
                };
                return new_page(&portal, &me, StatusCode::UNPROCESSABLE_ENTITY, &f, Some(e)).await;
            }
        },
    };
    let new = admin::users::NewUser {
        email: f.email.clone(),
        first_name: f.first_name.trim().to_string(),
        last_name: f.last_name.trim().to_string(),
        username: Some(f.username.trim().to_string()).filter(|u| !u.is_empty()),
        password: Some(f.password.clone()).filter(|p| !p.is_empty()),
        groups: admin::groups::parse_names(&f.groups),
        role,
        ..Default::default()
    };
    match admin::users::add(&portal.idp, &me.actor, new).await {
        Ok(v) => Ok(see_other(&format!(
            "{}?done=created",
            user_path(&v.user.email)
        ))),
        Err(e @ AdminError::Internal(_)) => Ok(failed(e)),
        Err(e) => new_page(&portal, &me, StatusCode::UNPROCESSABLE_ENTITY, &f, Some(e)).await,
    }
}
