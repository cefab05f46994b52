//! Groups and their members. Membership is what grants applications, so
//! every change here is audited.

use super::lookup;
use super::{Actor, AdminError, Entity, Record, Result, conflict_on};
use crate::directory::Group;
use crate::idp::Idp;

/// The longest group name, in bytes.
pub const MAX_NAME: usize = 100;

fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "name",
            format!("a group name must have 1 to {MAX_NAME} characters"),
        ));
    }
    Ok(name)
}

pub async fn add(idp: &Idp, actor: &Actor, name: &str) -> Result<Group> {
    let name = check_name(name)?;
    let group = idp
        .store
        .create_group(name, crate::clock::now())
        .await
        .map_err(conflict_on(Entity::Group, name))?;
    Record::new("admin.group.add")
        .subject(name)
        .detail(name)
        .write(idp, actor)
        .await;
    Ok(group)
}

/// Every group with its member count, by name.
pub async fn list(idp: &Idp) -> Result<Vec<(Group, i64)>> {
    Ok(idp.store.list_groups().await?)
}

/// Adds the user to the group; false when they were a member already.
pub async fn add_member(idp: &Idp, actor: &Actor, group: &str, email: &str) -> Result<bool> {
    let g = lookup::group(idp, group).await?;
    let user = lookup::user(idp, email).await?;
    let added = idp.store.add_member(&g.id, &user.id).await?;
    Record::new("admin.group.add_member")
        .about(&user)
        .detail(format!("{} to {}", user.email, g.name))
        .write(idp, actor)
        .await;
    Ok(added)
}

/// Removes the user from the group; false when they were not a member.
pub async fn remove_member(idp: &Idp, actor: &Actor, group: &str, email: &str) -> Result<bool> {
    let g = lookup::group(idp, group).await?;
    let user = lookup::user(idp, email).await?;
    let removed = idp.store.remove_member(&g.id, &user.id).await?;
    Record::new("admin.group.remove_member")
        .about(&user)
        .detail(format!("{} from {}", user.email, g.name))
        .write(idp, actor)
        .await;
    Ok(removed)
}

/// Renames the group and sets its external id (`None` clears it); one
/// audit row when anything changed.
pub async fn update(
    idp: &Idp,
    actor: &Actor,
    group: &str,
    new_name: &str,
    external_id: Option<&str>,
) -> Result<Group> {
    let g = lookup::group(idp, group).await?;
    let new_name = check_name(new_name)?;
    if external_id.is_some_and(|e| {
        e.is_empty()
            || e.chars().count() > super::users::MAX_EXTERNAL_ID
            || e.chars().any(char::is_control)
    }) {
        return Err(AdminError::invalid(
            "external_id",
            "external_id: 1 to 255 characters, no control characters",
        ));
    }
    let current = idp.store.scim_group(&g.id).await?;
    let old_external = current.and_then(|c| c.external_id);
    let mut changed = Vec::new();
    if new_name != g.name {
        idp.store
            .rename_group(&g.id, new_name)
            .await
            .map_err(conflict_on(Entity::Group, new_name))?;
        changed.push(format!("renamed {} to {new_name}", g.name));
    }
    if old_external.as_deref() != external_id {
        idp.store.set_group_external_id(&g.id, external_id).await?;
        changed.push("external_id".into());
    }
    if !changed.is_empty() {
        Record::new("admin.group.update")
            .subject(new_name)
            .detail(changed.join("; "))
            .write(idp, actor)
            .await;
    }
    Ok(Group {
        id: g.id,
        name: new_name.to_string(),
    })
}

/// A group as an administrator sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub members: i64,
    /// The applications its members see, by name.
    pub applications: Vec<String>,
}

pub async fn show(idp: &Idp, name: &str) -> Result<GroupView> {
    let g = lookup::group(idp, name).await?;
    Ok(GroupView {
        members: idp.store.member_count(&g.id).await?,
        applications: idp.store.applications_of_group(&g.id).await?,
        id: g.id,
        name: g.name,
    })
}

/// The version of a group as [`show`] gives it, for `If-Match`.
pub fn etag(view: &GroupView) -> String {
    super::etag(view)
}

/// One page of the group's members, by email.
pub async fn members(
    idp: &Idp,
    name: &str,
    offset: u64,
    limit: u64,
) -> Result<super::Page<super::users::UserView>> {
    let g = lookup::group(idp, name).await?;
    super::users::search(
        idp,
        &super::users::UserQuery {
            group: Some(g.name),
            offset,
            limit,
            ..Default::default()
        },
    )
    .await
}

/// Removes the group; its members lose what it granted. `if_match`, when
/// given, must be the current [`etag`].
pub async fn delete(idp: &Idp, actor: &Actor, name: &str, if_match: Option<&str>) -> Result<()> {
    let view = show(idp, name).await?;
    super::check_version(&view, if_match, Entity::Group, name)?;
    idp.store.delete_group(&view.id).await?;
    Record::new("admin.group.delete")
        .subject(&view.name)
        .detail(format!("{} ({} members)", view.name, view.members))
        .write(idp, actor)
        .await;
    Ok(())
}

/// What a bulk membership change did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Bulk {
    /// Members added or removed.
    pub changed: usize,
    /// Already members (add) or not members (remove).
    pub unchanged: usize,
}

/// The emails of a bulk form: one per line, or separated by commas,
/// semicolons or spaces.
pub fn parse_emails(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let e = crate::directory::normalize_email(e);
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// Adds (or, with `add` false, removes) every listed user. Every email is
/// looked up first, so an unknown one changes nothing; then each change is
/// one audited write.
pub async fn bulk_members(
    idp: &Idp,
    actor: &Actor,
    group: &str,
    emails: &[String],
    add: bool,
) -> Result<Bulk> {
    if emails.is_empty() {
        return Err(AdminError::invalid("emails", "list at least one email"));
    }
    lookup::group(idp, group).await?;
    for e in emails {
        lookup::user(idp, e).await?;
    }
    let mut bulk = Bulk::default();
    for e in emails {
        let changed = if add {
            add_member(idp, actor, group, e).await?
        } else {
            remove_member(idp, actor, group, e).await?
        };
        if changed {
            bulk.changed += 1;
        } else {
            bulk.unchanged += 1;
        }
    }
    Ok(bulk)
}

/// Group names of a form field: one per line or separated by commas.
pub fn parse_names(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}
