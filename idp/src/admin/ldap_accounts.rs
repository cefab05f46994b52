//! LDAP service accounts: what a consumer (a NAS, a VPN, `sssd`, Apache)
//! binds as to search the directory. The key is shown once; only its
//! SHA-256 is kept. Revoking is final (the name stays taken).

use serde::Serialize;

use super::{Actor, AdminError, Entity, Record, Result};
use crate::crypto;
use crate::idp::Idp;
use crate::ldap::Grants;
use crate::ldap::bind::KEY_PREFIX;
use crate::ldap::dn::Dn;

/// The longest account name.
pub const MAX_NAME: usize = 64;

/// An account just made; `key` is shown this once.
#[derive(Debug, Serialize)]
pub struct NewAccount {
    pub name: String,
    pub bind_dn: String,
    pub key: String,
    pub grants: String,
}

/// An account as listed (never its key).
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub name: String,
    pub bind_dn: String,
    pub grants: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn bind_dn(idp: &Idp, name: &str) -> String {
    match Dn::parse(&idp.config.ldap.base_dn) {
        Ok(base) => Dn::child(&Dn::child(&base, "ou", "services"), "cn", name).to_string(),
        Err(_) => format!("cn={name},ou=services"),
    }
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(AdminError::invalid(
            "name",
            format!("an LDAP account name must have 1 to {MAX_NAME} of a-z, 0-9, '-', '_', '.'"),
        ));
    }
    Ok(name)
}

/// Creates an account reading what `grants` names (`users,groups`).
pub async fn add(idp: &Idp, actor: &Actor, name: &str, grants: &str) -> Result<NewAccount> {
    let name = valid_name(name)?;
    let grants = Grants::parse(grants).map_err(|m| AdminError::invalid("grant", m))?;
    let key = format!("{KEY_PREFIX}{}", crypto::random_token());
    let now = crate::clock::now();
    idp.store
        .add_ldap_account(
            &name,
            &crypto::sha256_hex(key.as_bytes()),
            grants.as_str(),
            now,
        )
        .await
        .map_err(super::conflict_on(Entity::LdapAccount, &name))?;
    Record::new("admin.ldap_account.add")
        .subject(&name)
        .detail(format!("grants: {}", grants.as_str()))
        .write(idp, actor)
        .await;
    Ok(NewAccount {
        bind_dn: bind_dn(idp, &name),
        name,
        key,
        grants: grants.as_str().into(),
    })
}

pub async fn list(idp: &Idp) -> Result<Vec<AccountView>> {
    Ok(idp
        .store
        .ldap_accounts()
        .await?
        .into_iter()
        .map(|r| AccountView {
            bind_dn: bind_dn(idp, &r.name),
            name: r.name,
            grants: r.grants,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes the account; its next bind fails (binds are checked each time).
pub async fn revoke(idp: &Idp, actor: &Actor, name: &str) -> Result<()> {
    let name = name.trim().to_lowercase();
    if !idp
        .store
        .revoke_ldap_account(&name, crate::clock::now())
        .await?
    {
        return Err(AdminError::not_found(Entity::LdapAccount, &name));
    }
    Record::new("admin.ldap_account.revoke")
        .subject(&name)
        .write(idp, actor)
        .await;
    Ok(())
}
