//! Portal applications (tiles) and which groups see them.

use super::{Actor, AdminError, Entity, Record, Result, conflict_on};
use crate::directory::{Application, validate_app_url};
use crate::idp::Idp;
use crate::store::NewApplication;

/// The longest application name, in bytes.
pub const MAX_NAME: usize = 100;

/// A new tile as an administrator describes it.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub launch_url: String,
    pub description: String,
    pub detail_url: Option<String>,
    pub logo_url: Option<String>,
    /// Groups whose members see it.
    pub groups: Vec<String>,
}

/// The application with this name, or [`AdminError::NotFound`].
pub async fn find(idp: &Idp, name: &str) -> Result<Application> {
    idp.store
        .application_by_name(name)
        .await?
        .ok_or_else(|| AdminError::not_found(Entity::Application, name))
}

fn check_url(field: &'static str, value: &str, allow_data_image: bool) -> Result<()> {
    validate_app_url(field, value, allow_data_image).map_err(|m| AdminError::invalid(field, m))
}

pub async fn add(idp: &Idp, actor: &Actor, new: NewApp) -> Result<Application> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(AdminError::invalid(
            "name",
            format!("an application name must have 1 to {MAX_NAME} characters"),
        ));
    }
    check_url("launch_url", &new.launch_url, false)?;
    if let Some(u) = &new.detail_url {
        check_url("detail_url", u, false)?;
    }
    if let Some(u) = &new.logo_url {
        check_url("logo_url", u, true)?;
    }
    let groups = super::lookup::groups(idp, &new.groups).await?;
    let app = idp
        .store
        .create_application(
            &NewApplication {
                name: name.clone(),
                description: new.description,
                detail_url: new.detail_url,
                logo_url: new.logo_url,
                launch_url: new.launch_url,
            },
            crate::clock::now(),
        )
        .await
        .map_err(conflict_on(Entity::Application, &name))?;
    for g in &groups {
        idp.store.assign_application(&app.id, &g.id).await?;
    }
    let mut detail = name.clone();
    if !groups.is_empty() {
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        detail.push_str(&format!(" for {}", names.join(", ")));
    }
    Record::new("admin.app.add")
        .subject(&name)
        .detail(detail)
        .write(idp, actor)
        .await;
    Ok(app)
}

pub async fn list(idp: &Idp) -> Result<Vec<Application>> {
    Ok(idp.store.list_applications().await?)
}

/// Shows the application to the group's members; false when it was already.
pub async fn assign(idp: &Idp, actor: &Actor, app: &str, group: &str) -> Result<bool> {
    let a = find(idp, app).await?;
    let g = super::lookup::group(idp, group).await?;
    // A gateway policy owns its application's binding (reconciled at every
    // start and reload), so a hand-made assignment would silently vanish.
    if let Some(policy) = idp.store.application_policy(&a.id).await? {
        return Err(AdminError::invalid(
            "application",
            format!(
                "{} is bound by its gateway policy (policies/{policy}.toml); change `groups` there",
                a.name
            ),
        ));
    }
    let changed = idp.store.assign_application(&a.id, &g.id).await?;
    Record::new("admin.app.assign")
        .subject(&a.name)
        .detail(format!("{} to {}", a.name, g.name))
        .write(idp, actor)
        .await;
    Ok(changed)
}
