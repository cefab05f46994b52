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

/// The largest logo accepted, in bytes.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// How a tile is launched, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Bound by a gateway policy file (`policies/<id>.toml`).
    GatewayPolicy,
    OidcClient,
    SamlSp,
    Bookmark,
}

/// An application with what the console shows beside its tile.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppView {
    pub app: Application,
    pub kind: Kind,
    /// The gateway policy that binds it, if one does.
    pub policy: Option<String>,
    pub groups: Vec<String>,
    /// OIDC clients and SAML SPs that sign people in to it.
    pub clients: Vec<String>,
    pub sps: Vec<String>,
    pub uploaded_logo: bool,
}

pub async fn show(idp: &Idp, name: &str) -> Result<AppView> {
    let app = find(idp, name).await?;
    let policy = idp.store.application_policy(&app.id).await?;
    let groups = idp.store.groups_of_application(&app.id).await?;
    let clients: Vec<String> = super::oidc::list(idp)
        .await?
        .into_iter()
        .filter(|(c, _)| c.application.as_deref() == Some(app.name.as_str()))
        .map(|(c, _)| c.client_id)
        .collect();
    let sps: Vec<String> = super::saml::list(idp)
        .await?
        .into_iter()
        .filter(|(s, _)| s.application == app.name)
        .map(|(s, _)| s.entity_id)
        .collect();
    let kind = if policy.is_some() {
        Kind::GatewayPolicy
    } else if !clients.is_empty() {
        Kind::OidcClient
    } else if !sps.is_empty() {
        Kind::SamlSp
    } else {
        Kind::Bookmark
    };
    let uploaded_logo = idp.store.application_logo(&app.id).await?.is_some();
    Ok(AppView {
        app,
        kind,
        policy,
        groups,
        clients,
        sps,
        uploaded_logo,
    })
}

/// A tile's fields as an administrator edits them.
#[derive(Debug, Clone, Default)]
pub struct AppEdit {
    pub description: String,
    pub launch_url: String,
    pub detail_url: Option<String>,
}

/// The longest tile description, in characters.
pub const MAX_DESCRIPTION: usize = 500;

pub async fn update(idp: &Idp, actor: &Actor, name: &str, edit: AppEdit) -> Result<Application> {
    let app = find(idp, name).await?;
    if edit.description.chars().count() > MAX_DESCRIPTION {
        return Err(AdminError::invalid(
            "description",
            format!("a description has at most {MAX_DESCRIPTION} characters"),
        ));
    }
    check_url("launch_url", &edit.launch_url, false)?;
    if let Some(u) = &edit.detail_url {
        check_url("detail_url", u, false)?;
    }
    idp.store
        .update_application(
            &app.id,
            edit.description.trim(),
            &edit.launch_url,
            edit.detail_url.as_deref(),
            app.logo_url.as_deref(),
        )
        .await?;
    Record::new("admin.app.update")
        .subject(&app.name)
        .detail(format!("launch {}", edit.launch_url))
        .write(idp, actor)
        .await;
    find(idp, name).await
}

/// Stops showing the application to the group's members; false when it
/// was not bound.
pub async fn unassign(idp: &Idp, actor: &Actor, app: &str, group: &str) -> Result<bool> {
    let a = find(idp, app).await?;
    let g = super::lookup::group(idp, group).await?;
    if let Some(policy) = idp.store.application_policy(&a.id).await? {
        return Err(AdminError::invalid(
            "application",
            format!(
                "{} is bound by its gateway policy (policies/{policy}.toml); change `groups` there",
                a.name
            ),
        ));
    }
    let changed = idp.store.unassign_application(&a.id, &g.id).await?;
    Record::new("admin.app.unassign")
        .subject(&a.name)
        .detail(format!("{} from {}", a.name, g.name))
        .write(idp, actor)
        .await;
    Ok(changed)
}

/// Why the application may not be deleted, if it may not (see [`delete`]).
pub fn why_not_deletable(view: &AppView) -> Option<String> {
    if let Some(policy) = &view.policy {
        return Some(format!(
            "{} is the application of the gateway policy policies/{policy}.toml: a reload or restart would make it again. Remove that file and reload the policies instead.",
            view.app.name
        ));
    }
    let users: Vec<&str> = view
        .clients
        .iter()
        .chain(&view.sps)
        .map(String::as_str)
        .collect();
    if !users.is_empty() {
        return Some(format!(
            "{} is how people sign in to {}: delete those or link them to another application first.",
            view.app.name,
            users.join(", ")
        ));
    }
    None
}

/// Removes an application: its tile, its group bindings, people's
/// favourites of it and its logo. Refused for an application a gateway
/// policy owns (the next start or reload would make it again; remove the
/// policy file) and for one an OIDC client or SAML SP signs people in to
/// (they would stop working; remove or relink them first).
pub async fn delete(idp: &Idp, actor: &Actor, name: &str) -> Result<()> {
    let view = show(idp, name).await?;
    if let Some(why) = why_not_deletable(&view) {
        return Err(AdminError::invalid("application", why));
    }
    if !idp.store.delete_application(&view.app.id).await? {
        return Err(AdminError::not_found(Entity::Application, name));
    }
    Record::new("admin.app.delete")
        .subject(&view.app.name)
        .detail(format!(
            "{} (bound to {})",
            view.app.name,
            if view.groups.is_empty() {
                "no group".to_string()
            } else {
                view.groups.join(", ")
            }
        ))
        .write(idp, actor)
        .await;
    Ok(())
}

/// What an uploaded image is, from its first bytes: PNG or JPEG only, so
/// no uploaded file can carry script (SVG could).
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// Stores an uploaded logo and points the tile at the portal's copy of it;
/// returns the tile's new logo URL.
pub async fn set_logo(idp: &Idp, actor: &Actor, name: &str, bytes: &[u8]) -> Result<String> {
    let app = find(idp, name).await?;
    if bytes.is_empty() {
        return Err(AdminError::invalid(
            "logo",
            "choose an image file to upload",
        ));
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(AdminError::invalid(
            "logo",
            format!("a logo may have at most {} KiB", MAX_LOGO_BYTES / 1024),
        ));
    }
    let Some(content_type) = image_type(bytes) else {
        return Err(AdminError::invalid(
            "logo",
            "a logo must be a PNG or JPEG image",
        ));
    };
    let etag: String = crate::crypto::sha256_hex(bytes).chars().take(16).collect();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    let now = crate::clock::now();
    idp.store
        .put_application_logo(&app.id, content_type, &b64, &etag, now)
        .await?;
    let url = logo_url(&app.id, &etag);
    idp.store
        .update_application(
            &app.id,
            &app.description,
            &app.launch_url,
            app.detail_url.as_deref(),
            Some(&url),
        )
        .await?;
    Record::new("admin.app.logo")
        .subject(&app.name)
        .detail(format!("{content_type}, {} bytes", bytes.len()))
        .write(idp, actor)
        .await;
    Ok(url)
}

/// Where the portal serves an uploaded logo; the tag makes each upload a
/// new URL, so the image may be cached for good.
fn logo_url(app_id: &str, etag: &str) -> String {
    format!(
        "{}?v={etag}",
        crate::paths::APPS_ID_LOGO.replace("{id}", app_id)
    )
}

/// An uploaded logo, for the portal to serve.
#[derive(Debug, Clone)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// The uploaded logo of the application with this id. Its stored type is
/// checked again, so only a PNG or JPEG is ever served.
pub async fn logo(idp: &Idp, app_id: &str) -> Result<Option<Logo>> {
    let Some((_, b64, etag)) = idp.store.application_logo(app_id).await? else {
        return Ok(None);
    };
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
        .map_err(|e| crate::Error::Corrupt(format!("application logo: {e}")))?;
    Ok(image_type(&bytes).map(|content_type| Logo {
        content_type,
        bytes,
        etag,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_png_and_jpeg_are_images() {
        assert_eq!(
            super::image_type(b"\x89PNG\r\n\x1a\nrest"),
            Some("image/png")
        );
        assert_eq!(
            super::image_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(super::image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(super::image_type(b"GIF89a"), None);
        assert_eq!(super::image_type(b""), None);
    }
}
