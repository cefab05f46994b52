//! What SCIM provisioning reads and writes beyond the directory's own
//! queries: the provisioning clients and their tokens, external ids, and
//! the bounded lookups that SCIM filters and pages are answered from.

use sqlx::{FromRow, Row};

use super::users::{unique_violation, user_from_row};
use super::{Store, new_id};
use crate::directory::User;
use crate::error::{Error, Result};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct ScimClientRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A group as SCIM shows it.
#[derive(Debug, Clone, FromRow)]
pub struct ScimGroupRow {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// A group member with what a SCIM `members[].display` needs.
#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// The most users [`Store::users_where`] returns.
pub const USERS_WHERE_LIMIT: usize = 100;

/// The user attributes a SCIM `eq` filter or an LDAP lookup is answered on
/// in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey {
    /// `userName`, compared without regard to case.
    Username,
    /// `emails.value` (the sign-in email, stored lower-cased).
    Email,
    /// `externalId`, compared exactly.
    ExternalId,
    /// `id`.
    Id,
}

use super::users::user_columns as columns;

const CLIENT_COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at";

impl Store {
    pub async fn add_scim_client(
        &self,
        name: &str,
        prefix: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<ScimClientRow> {
        let id = new_id();
        let res = sqlx::query(
            "INSERT INTO scim_clients (id, name, prefix, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(prefix)
        .bind(secret_hash)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if unique_violation(&e) => {
                return Err(Error::Conflict(format!("a SCIM client named {name}")));
            }
            other => other?,
        };
        Ok(ScimClientRow {
            id,
            name: name.to_string(),
            prefix: prefix.to_string(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// Every client, revoked ones too, by name.
    pub async fn scim_clients(&self) -> Result<Vec<ScimClientRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM scim_clients ORDER BY name, created_at"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes the live client with this name; None when there is none.
    pub async fn revoke_scim_client(&self, name: &str, now: i64) -> Result<Option<ScimClientRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE scim_clients SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL \
             RETURNING {CLIENT_COLUMNS}"
        )))
        .bind(now)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The live client whose token has this hash, with the stored hash (for a
    /// constant-time comparison by the caller); marks it used.
    pub async fn use_scim_client(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<(ScimClientRow, String)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE scim_clients SET last_used_at = $1 WHERE secret_hash = $2 AND revoked_at IS NULL \
             RETURNING {CLIENT_COLUMNS}, secret_hash"
        )))
        .bind(now)
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((ScimClientRow::from_row(&r)?, r.try_get("secret_hash")?)))
            .transpose()
    }

    /// The users whose `key` equals `value` (at most a handful: email and id
    /// are unique, the others nearly so), by creation; at most
    /// [`USERS_WHERE_LIMIT`].
    pub async fn users_where(&self, key: UserKey, value: &str) -> Result<Vec<User>> {
        let (cond, value) = match key {
            UserKey::Username => ("LOWER(username) = $1", value.to_lowercase()),
            UserKey::Email => ("email = $1", value.to_lowercase()),
            UserKey::ExternalId => ("external_id = $1", value.to_string()),
            UserKey::Id => ("id = $1", value.to_string()),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            concat!(
                "SELECT ",
                columns!(),
                " FROM users WHERE {} ORDER BY created_at, id LIMIT {}"
            ),
            cond, USERS_WHERE_LIMIT
        )))
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// One page of users in a stable order (creation, then id).
    pub async fn users_page(&self, offset: i64, limit: i64) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn set_user_external_id(
        &self,
        user_id: &str,
        external_id: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET external_id = $1, modified_at = $3 WHERE id = $2")
            .bind(external_id)
            .bind(user_id)
            .bind(crate::clock::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The groups (id and name) the user is in, by name.
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT g.id, g.name FROM groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    pub async fn scim_groups(&self) -> Result<Vec<ScimGroupRow>> {
        Ok(sqlx::query_as(
            "SELECT id, name, external_id, created_at, COALESCE(modified_at, created_at) AS modified_at \
             FROM groups ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn scim_group(&self, id: &str) -> Result<Option<ScimGroupRow>> {
        Ok(
            sqlx::query_as(
                "SELECT id, name, external_id, created_at, COALESCE(modified_at, created_at) AS modified_at \
                 FROM groups WHERE id = $1",
            )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The group's members, by email.
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<MemberRow>> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.first_name, u.last_name FROM users u \
             JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.email",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Renames the group; a taken name is [`Error::Conflict`].
    pub async fn rename_group(&self, id: &str, name: &str) -> Result<()> {
        let res = sqlx::query("UPDATE groups SET name = $1, modified_at = $3 WHERE id = $2")
            .bind(name)
            .bind(id)
            .bind(crate::clock::now())
            .execute(&self.pool)
            .await;
        match res {
            Err(e) if unique_violation(&e) => Err(Error::Conflict(format!("a group named {name}"))),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    pub async fn set_group_external_id(&self, id: &str, external_id: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE groups SET external_id = $1, modified_at = $3 WHERE id = $2")
            .bind(external_id)
            .bind(id)
            .bind(crate::clock::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
