//! The LDAP interface's rows: service accounts, POSIX id allocation, and the
//! whole-directory reads a search needs (memberships and SSH keys in one
//! query each, not one per entry).

use sqlx::Row;

use super::{Store, new_id, unique_violation};
use crate::error::{Error, Result};

/// A service account that may bind over LDAP.
#[derive(Debug, Clone)]
pub struct LdapAccountRow {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    /// Comma-separated: `users`, `groups`.
    pub grants: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// One user's membership of one group.
#[derive(Debug, Clone)]
pub struct Membership {
    pub group_id: String,
    pub user_id: String,
}

/// Whose POSIX number a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosixKind {
    User,
    Group,
}

impl PosixKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

fn account_from_row(r: &super::Row) -> Result<LdapAccountRow> {
    Ok(LdapAccountRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        key_hash: r.try_get("key_hash")?,
        grants: r.try_get("grants")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    pub async fn add_ldap_account(
        &self,
        name: &str,
        key_hash: &str,
        grants: &str,
        now: i64,
    ) -> Result<String> {
        let id = new_id();
        let res = sqlx::query(
            "INSERT INTO ldap_accounts (id, name, key_hash, grants, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(key_hash)
        .bind(grants)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if unique_violation(&e) => {
                Err(Error::Conflict(format!("an LDAP account named {name}")))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(id),
        }
    }

    pub async fn ldap_account(&self, name: &str) -> Result<Option<LdapAccountRow>> {
        let row = sqlx::query(
            "SELECT id, name, key_hash, grants, created_at, revoked_at FROM ldap_accounts WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn ldap_accounts(&self) -> Result<Vec<LdapAccountRow>> {
        let rows = sqlx::query(
            "SELECT id, name, key_hash, grants, created_at, revoked_at FROM ldap_accounts ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// False when there is no live account of that name.
    pub async fn revoke_ldap_account(&self, name: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE ldap_accounts SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Every membership in the directory.
    pub async fn all_memberships(&self) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT group_id, user_id FROM group_members")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Membership {
                    group_id: r.try_get("group_id")?,
                    user_id: r.try_get("user_id")?,
                })
            })
            .collect()
    }

    /// Every registered SSH public key as (user id, OpenSSH line), oldest first.
    pub async fn all_ssh_keys(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT user_id, public_key FROM ssh_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("public_key")?)))
            .collect()
    }

    /// Every POSIX number already given out for `kind`, as (owner id, number).
    pub async fn posix_ids(&self, kind: PosixKind) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT owner_id, number FROM posix_ids WHERE owner_kind = $1")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("owner_id")?, r.try_get("number")?)))
            .collect()
    }

    /// The owner's POSIX number, giving out the next free one (from `first`
    /// up) on first use. Numbers are never reused: the highest ever given is
    /// the floor, whether or not its owner still exists. Instances racing
    /// for the same number retry; the unique key decides. (`WHERE true`:
    /// SQLite cannot tell an upsert's `ON` from a join's after a bare
    /// `SELECT ... FROM`.)
    pub async fn allocate_posix_id(
        &self,
        kind: PosixKind,
        owner_id: &str,
        first: i64,
    ) -> Result<i64> {
        for _ in 0..16 {
            sqlx::query(
                "INSERT INTO posix_ids (owner_kind, owner_id, number) \
                 SELECT $1, $2, COALESCE(MAX(number) + 1, $3) FROM posix_ids WHERE true \
                 ON CONFLICT DO NOTHING",
            )
            .bind(kind.as_str())
            .bind(owner_id)
            .bind(first)
            .execute(&self.pool)
            .await?;
            let n: Option<i64> = sqlx::query_scalar(
                "SELECT number FROM posix_ids WHERE owner_kind = $1 AND owner_id = $2",
            )
            .bind(kind.as_str())
            .bind(owner_id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(n) = n {
                return Ok(n);
            }
        }
        Err(Error::Corrupt(
            "no POSIX id could be allocated after 16 tries".into(),
        ))
    }
}
