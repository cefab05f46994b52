//! Applications: the tiles, their fields, an uploaded logo, the groups that
//! see them, and what kind of application each is. Gateway policies are
//! files: the console shows their binding read-only.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::users::{Confirm, Empty};
use super::{
    Admin, Configure, ConfigureFresh, Need, Read, confirm_page, failed, render, segment, when,
};
use crate::admin::{self, AdminError};
use crate::roles::Permission;
use crate::web::{Form, Portal, PortalResult, see_other};

fn app_path(name: &str) -> String {
    format!("/admin/apps/{}", segment(name))
}

fn kind_words(k: admin::apps::Kind) -> &'static str {
    match k {
        admin::apps::Kind::GatewayPolicy => "gateway policy",
        admin::apps::Kind::OidcClient => "OpenID Connect client",
        admin::apps::Kind::SamlSp => "SAML service provider",
        admin::apps::Kind::Bookmark => "bookmark",
    }
}

#[derive(Serialize)]
struct Row {
    name: String,
    path: String,
    launch_url: String,
}

#[derive(Serialize, Deserialize, Default)]
pub struct NewAppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    launch_url: String,
    #[serde(default)]
    description: String,
}

/// The gateway's policy files as the apps page shows them.
#[derive(Serialize)]
struct Policies {
    files: Vec<admin::policies::PolicyFile>,
    error: Option<String>,
    applied: bool,
    ok: bool,
    served: usize,
    checked: String,
}

impl Policies {
    fn of(s: admin::policies::PolicyStatus) -> Self {
        Self {
            ok: s.ok(),
            checked: when(s.checked_at),
            files: s.files,
            error: s.error,
            applied: s.applied,
            served: s.served,
        }
    }
}

#[derive(Serialize)]
struct ListPage<'a> {
    apps: Vec<Row>,
    can_configure: bool,
    form: &'a NewAppForm,
    error: Option<String>,
    error_field: Option<String>,
    /// None in a process that serves no gateway.
    policies: Option<Policies>,
    /// The answer to a reload just made.
    reloaded: bool,
    flash: Option<&'static str>,
}

async fn list_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    form: &NewAppForm,
    error: Option<AdminError>,
) -> PortalResult {
    let policies = admin::policies::status(&portal.idp).await;
    apps_page(portal, me, status, form, error, policies, false, None).await
}

#[allow(clippy::too_many_arguments)]
async fn apps_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    form: &NewAppForm,
    error: Option<AdminError>,
    policies: Option<admin::policies::PolicyStatus>,
    reloaded: bool,
    flash: Option<&'static str>,
) -> PortalResult {
    let apps = match admin::apps::list(&portal.idp).await {
        Ok(a) => a,
        Err(e) => return Ok(failed(e)),
    };
    let error_field = match &error {
        Some(AdminError::Invalid { field, .. }) => field.clone(),
        Some(AdminError::Conflict { .. }) => Some("name".into()),
        _ => None,
    };
    render(
        portal,
        me,
        status,
        "admin_apps.html",
        "apps",
        "Applications",
        ListPage {
            apps: apps
                .into_iter()
                .map(|a| Row {
                    path: app_path(&a.name),
                    name: a.name,
                    launch_url: a.launch_url,
                })
                .collect(),
            can_configure: me.role.allows(Permission::Configure),
            form,
            error: error.map(|e| e.to_string()),
            error_field,
            policies: policies.map(Policies::of),
            reloaded,
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
        Some("deleted") => Some("Application deleted."),
        _ => None,
    };
    let policies = admin::policies::status(&portal.idp).await;
    apps_page(
        &portal,
        &me,
        StatusCode::OK,
        &NewAppForm::default(),
        None,
        policies,
        false,
        flash,
    )
    .await
}

pub async fn create(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Form(f): Form<NewAppForm>,
) -> PortalResult {
    let new = admin::apps::NewApp {
        name: f.name.clone(),
        launch_url: f.launch_url.trim().to_string(),
        description: f.description.trim().to_string(),
        ..Default::default()
    };
    match admin::apps::add(&portal.idp, &me.actor, new).await {
        Ok(a) => Ok(see_other(&format!("{}?done=created", app_path(&a.name)))),
        Err(e @ (AdminError::Invalid { .. } | AdminError::Conflict { .. })) => {
            list_page(&portal, &me, StatusCode::UNPROCESSABLE_ENTITY, &f, Some(e)).await
        }
        Err(e) => Ok(failed(e)),
    }
}

#[derive(Serialize)]
struct AppPage {
    name: String,
    path: String,
    description: String,
    launch_url: String,
    detail_url: String,
    logo_url: Option<String>,
    kind: &'static str,
    policy: Option<String>,
    groups: Vec<String>,
    other_groups: Vec<String>,
    clients: Vec<String>,
    sps: Vec<String>,
    can_configure: bool,
    /// Why the console may not delete it, when it may not.
    not_deletable: Option<String>,
    max_logo_kib: usize,
    flash: Option<&'static str>,
    error_at: Option<&'static str>,
    error: Option<String>,
}

async fn app_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    name: &str,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<(&'static str, AdminError)>,
) -> PortalResult {
    let idp = &portal.idp;
    let view = match admin::apps::show(idp, name).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(e)),
    };
    let all_groups = match admin::groups::list(idp).await {
        Ok(g) => g,
        Err(e) => return Ok(failed(e)),
    };
    let (error_at, error) = match error {
        Some((at, e)) => (Some(at), Some(e.to_string())),
        None => (None, None),
    };
    let not_deletable = admin::apps::why_not_deletable(&view);
    let a = view.app;
    render(
        portal,
        me,
        status,
        "admin_app.html",
        "apps",
        a.name.clone(),
        AppPage {
            path: app_path(&a.name),
            description: a.description,
            launch_url: a.launch_url,
            detail_url: a.detail_url.unwrap_or_default(),
            logo_url: a.logo_url,
            kind: kind_words(view.kind),
            policy: view.policy,
            other_groups: all_groups
                .into_iter()
                .map(|(g, _)| g.name)
                .filter(|g| !view.groups.contains(g))
                .collect(),
            groups: view.groups,
            clients: view.clients,
            sps: view.sps,
            can_configure: me.role.allows(Permission::Configure),
            not_deletable,
            max_logo_kib: admin::apps::MAX_LOGO_BYTES / 1024,
            name: a.name,
            flash,
            error_at,
            error,
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("created") => Some("Application created."),
        Some("saved") => Some("Application saved."),
        Some("groups") => Some("Groups saved."),
        Some("logo") => Some("Logo uploaded."),
        _ => None,
    };
    app_page(&portal, &me, &name, StatusCode::OK, flash, None).await
}

async fn after(
    portal: &Portal,
    me: &Admin<Configure>,
    name: &str,
    section: &'static str,
    done: &str,
    res: Result<(), AdminError>,
) -> PortalResult {
    match res {
        Ok(()) => Ok(see_other(&format!("{}?done={done}", app_path(name)))),
        Err(
            e @ AdminError::NotFound {
                entity: admin::Entity::Application,
                ..
            },
        ) => Ok(failed(e)),
        Err(e @ (AdminError::Invalid { .. } | AdminError::NotFound { .. })) => {
            app_page(
                portal,
                me,
                name,
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
pub struct EditForm {
    #[serde(default)]
    description: String,
    #[serde(default)]
    launch_url: String,
    #[serde(default)]
    detail_url: String,
}

pub async fn update(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Path(name): Path<String>,
    Form(f): Form<EditForm>,
) -> PortalResult {
    let edit = admin::apps::AppEdit {
        description: f.description,
        launch_url: f.launch_url.trim().to_string(),
        detail_url: Some(f.detail_url.trim().to_string()).filter(|u| !u.is_empty()),
    };
    let res = admin::apps::update(&portal.idp, &me.actor, &name, edit)
        .await
        .map(drop);
    after(&portal, &me, &name, "tile", "saved", res).await
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
    me: Admin<Configure>,
    Path(name): Path<String>,
    Form(f): Form<GroupForm>,
) -> PortalResult {
    let idp = &portal.idp;
    let res = match f.action.as_str() {
        "add" => admin::apps::assign(idp, &me.actor, &name, &f.group)
            .await
            .map(drop),
        "remove" => admin::apps::unassign(idp, &me.actor, &name, &f.group)
            .await
            .map(drop),
        _ => Err(AdminError::Invalid {
            field: Some("action".into()),
            message: "choose to add or remove".into(),
        }),
    };
    after(&portal, &me, &name, "groups", "groups", res).await
}

/// POST /admin/apps/{name}/logo, `multipart/form-data` with a `logo` file
/// (the CSRF layer has checked the form's token).
pub async fn logo(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Path(name): Path<String>,
    mut form: Multipart,
) -> PortalResult {
    let mut bytes = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("logo") {
            bytes = field.bytes().await.ok();
            break;
        }
    }
    let res = match bytes {
        Some(b) => admin::apps::set_logo(&portal.idp, &me.actor, &name, &b)
            .await
            .map(drop),
        None => Err(AdminError::Invalid {
            field: Some("logo".into()),
            message: "choose an image file to upload".into(),
        }),
    };
    after(&portal, &me, &name, "logo", "logo", res).await
}

pub async fn delete_confirm(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(name): Path<String>,
) -> PortalResult {
    let view = match admin::apps::show(&portal.idp, &name).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(e)),
    };
    if let Some(why) = admin::apps::why_not_deletable(&view) {
        return Ok(failed(AdminError::invalid("application", why)));
    }
    let path = app_path(&view.app.name);
    let groups = if view.groups.is_empty() {
        "No group sees it now.".to_string()
    } else {
        format!(
            "The members of {} no longer see it on their Applications page.",
            view.groups.join(", ")
        )
    };
    confirm_page(
        &portal,
        &me,
        "apps",
        "Delete application",
        Confirm {
            heading: format!("Delete the application {}?", view.app.name),
            message: format!(
                "The tile, its group bindings, people's favourites of it and its logo are removed. {groups} This cannot be undone."
            ),
            action: format!("{path}/delete"),
            button: "Delete application",
            cancel: path,
            fields: vec![],
        },
    )
    .await
}

pub async fn delete(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(name): Path<String>,
    Form(_): Form<Empty>,
) -> PortalResult {
    match admin::apps::delete(&portal.idp, &me.actor, &name).await {
        Ok(()) => Ok(see_other("/admin/apps?done=deleted")),
        Err(e) => Ok(failed(e)),
    }
}

pub async fn reload_confirm(State(portal): State<Portal>, me: Admin<Configure>) -> PortalResult {
    if portal.idp.policies.get().is_none() {
        return Ok(failed(AdminError::Invalid {
            field: None,
            message: "this process serves no gateway policies, so there is nothing to reload"
                .into(),
        }));
    }
    confirm_page(
        &portal,
        &me,
        "apps",
        "Reload gateway policies",
        Confirm {
            heading: "Reload the gateway policies?".into(),
            message: "Every policy file is read and checked again. If all are valid, the gateway serves them at once, without dropping a connection, and their applications and groups are made to match them. If any is not, nothing changes and the page names each file at fault.".into(),
            action: crate::paths::ADMIN_POLICIES_RELOAD.into(),
            button: "Reload policies",
            cancel: crate::paths::ADMIN_APPS.into(),
            fields: vec![],
        },
    )
    .await
}

/// POST /admin/policies/reload: answers with the applications page, its
/// policies section showing how each file fared.
pub async fn reload(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Form(_): Form<Empty>,
) -> PortalResult {
    match admin::policies::reload(&portal.idp, &me.actor).await {
        Ok(status) => {
            let code = if status.applied {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            apps_page(
                &portal,
                &me,
                code,
                &NewAppForm::default(),
                None,
                Some(status),
                true,
                None,
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}
