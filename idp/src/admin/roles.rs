//! Who holds an administrator role, and the one check every admin front end
//! (console, REST API) makes before it calls the core. A role comes from the
//! user's `admin_role` attribute or from membership of a group named in
//! `[admin]`; the stronger one applies.

use super::{Actor, AdminError, Record, Result, lookup};
use crate::directory::User;
use crate::idp::Idp;
use crate::roles::{Permission, Role};

/// The strongest role the user holds, or None for an ordinary user.
pub async fn of(idp: &Idp, user: &User) -> Result<Option<Role>> {
    let cfg = &idp.config.admin;
    let mut best = user.admin_role;
    if cfg.has_group_grants() {
        let groups = idp.store.groups_of(&user.id).await?;
        for g in &groups {
            if let Some(r) = cfg.role_of_group(g) {
                best = best.max(Some(r));
            }
        }
    }
    Ok(best)
}

/// Refuses unless `role` may do `need`. Every admin route calls this with
/// the permission its operation needs, so the table in [`Role::allows`] is
/// the only place the rules live.
pub fn require(role: Option<Role>, need: Permission) -> Result<Role> {
    match role {
        Some(r) if r.allows(need) => Ok(r),
        _ => Err(AdminError::Forbidden { need }),
    }
}

/// Sets or clears the user's role attribute. A role granted by a group
/// stays until the membership changes.
pub async fn set(idp: &Idp, actor: &Actor, email: &str, role: Option<Role>) -> Result<User> {
    let user = lookup::user(idp, email).await?;
    idp.store.set_admin_role(&user.id, role).await?;
    // A role taken away must not stay usable in a session that already
    // passed the admin check.
    if role < user.admin_role {
        idp.end_user_sessions(&user.id).await?;
    }
    Record::new("admin.user.role")
        .about(&user)
        .detail(format!(
            "{} -> {}",
            user.admin_role.map_or("none", Role::as_str),
            role.map_or("none", Role::as_str)
        ))
        .write(idp, actor)
        .await;
    lookup::user(idp, email).await
}
