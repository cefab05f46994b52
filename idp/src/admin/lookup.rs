//! Finding what an administrative write names, before it writes: a user
//! by email, groups by name. Each miss is [`AdminError::NotFound`] naming
//! what was not found, so a typo changes nothing.

use super::{AdminError, Entity, Result};
use crate::directory::{Group, User, normalize_email};
use crate::idp::Idp;

/// The user with this email, or [`AdminError::NotFound`].
pub async fn user(idp: &Idp, email: &str) -> Result<User> {
    idp.store
        .user_by_email(&normalize_email(email))
        .await?
        .ok_or_else(|| AdminError::not_found(Entity::User, email))
}

/// Every named group, or the first unknown one as [`AdminError::NotFound`];
/// looked up before any write so a typo changes nothing.
pub(super) async fn groups(idp: &Idp, names: &[String]) -> Result<Vec<Group>> {
    let mut groups = Vec::with_capacity(names.len());
    for name in names {
        groups.push(group(idp, name).await?);
    }
    Ok(groups)
}

/// The group with this name, or [`AdminError::NotFound`].
pub async fn group(idp: &Idp, name: &str) -> Result<Group> {
    idp.store
        .group_by_name(name)
        .await?
        .ok_or_else(|| AdminError::not_found(Entity::Group, name))
}

/// The user with this id, or [`AdminError::NotFound`].
pub async fn user_by_id(idp: &Idp, id: &str) -> Result<User> {
    idp.store
        .user_by_id(id)
        .await?
        .ok_or_else(|| AdminError::not_found(Entity::User, id))
}
