use sqlx::Row;

use super::{Store, new_id};
use crate::directory::{LockReason, Profile, User};
use crate::error::{Error, Result};

/// What the administrator supplies for a new account.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub password_hash: Option<String>,
    pub admin_role: Option<crate::roles::Role>,
}

/// The column list, as a macro so queries stay `&'static str` literals.
macro_rules! user_columns {
    () => {
        "id, email, first_name, last_name, username, profile, password_hash, \
         password_changed_at, failed_attempts, locked_reason, created_at, admin_role, external_id"
    };
}
// One column list for every query that reads users whole (`user_from_row`).
pub(super) use user_columns;

pub(super) fn user_from_row(row: &super::Row) -> Result<User> {
    let profile: String = row.try_get("profile")?;
    let locked: Option<String> = row.try_get("locked_reason")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        username: row.try_get("username")?,
        profile: serde_json::from_str::<Profile>(&profile)
            .map_err(|e| Error::Corrupt(format!("user profile: {e}")))?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        failed_attempts: row.try_get("failed_attempts")?,
        locked: locked.as_deref().and_then(LockReason::parse),
        created_at: row.try_get("created_at")?,
        admin_role: row
            .try_get::<Option<String>, _>("admin_role")?
            .as_deref()
            .and_then(crate::roles::Role::parse),
        external_id: row.try_get("external_id")?,
    })
}

pub(super) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    pub async fn create_user(&self, new: &NewUser, now: i64) -> Result<User> {
        let id = new_id();
        let changed = new.password_hash.as_ref().map(|_| now);
        let res = sqlx::query(
            "INSERT INTO users (id, email, first_name, last_name, username, password_hash, \
             password_changed_at, created_at, admin_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&new.email)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(changed)
        .bind(now)
        .bind(new.admin_role.map(|r| r.as_str()))
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if unique_violation(&e) => {
                return Err(Error::Conflict(format!("a user with email {}", new.email)));
            }
            other => other?,
        };
        if let Some(hash) = &new.password_hash {
            self.push_password_history(&id, hash, now).await?;
        }
        self.user_by_id(&id)
            .await?
            .ok_or_else(|| Error::NotFound("user just created".into()))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Every user with this username (usernames are not unique).
    pub async fn users_by_username(&self, username: &str) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1 ORDER BY email"
        ))
        .bind(username)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Saves names and profile in one statement.
    pub async fn update_profile(
        &self,
        id: &str,
        first_name: &str,
        last_name: &str,
        username: &str,
        profile: &Profile,
    ) -> Result<()> {
        let doc = serde_json::to_string(profile).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "UPDATE users SET first_name = $1, last_name = $2, username = $3, profile = $4 WHERE id = $5",
        )
        .bind(first_name)
        .bind(last_name)
        .bind(username)
        .bind(doc)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts one failed attempt and returns the new count, or None when no
    /// user has the id (the sign-in path runs the same statement for an
    /// unknown email, so both cost one update). The increment is done by the
    /// database so concurrent failures are all counted.
    pub async fn record_failed_attempt(&self, id: &str) -> Result<Option<i64>> {
        let n: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 RETURNING failed_attempts",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(n)
    }

    pub async fn reset_failed_attempts(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE users SET failed_attempts = 0 WHERE id = $1 AND failed_attempts <> 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Locks the account, keeping an existing reason (an admin suspension is
    /// not downgraded to a failed-attempts lock). Returns whether it changed.
    pub async fn lock_user(&self, id: &str, reason: LockReason) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE users SET locked_reason = $1 WHERE id = $2 AND locked_reason IS NULL",
        )
        .bind(reason.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Unlocks and clears the failed-attempt counter. An account locked
    /// because its password expired gets a fresh password age, or it would
    /// lock again at the next sign-in.
    pub async fn unlock_user(&self, id: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE users SET failed_attempts = 0, \
             password_changed_at = CASE WHEN locked_reason = 'expired' THEN $1 ELSE password_changed_at END, \
             locked_reason = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Sets or clears the administrator role attribute. Returns whether the
    /// user exists.
    pub async fn set_admin_role(&self, id: &str, role: Option<crate::roles::Role>) -> Result<bool> {
        let res = sqlx::query("UPDATE users SET admin_role = $1 WHERE id = $2")
            .bind(role.map(|r| r.as_str()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}
