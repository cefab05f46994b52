use sqlx::FromRow;

use super::{Store, new_id};
use crate::error::{Error, Result};

#[derive(Debug, Clone, FromRow)]
pub struct SshKeyRow {
    pub id: String,
    pub name: String,
    pub algorithm: String,
    pub fingerprint: String,
    pub public_key: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The policy ids the key is limited to, space-separated; None: every
    /// application that accepts API keys.
    pub apps: Option<String>,
}

/// A personal API key to store.
#[derive(Debug, Clone, Copy)]
pub struct NewApiKey<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
    pub expires_at: Option<i64>,
    /// Space-separated policy ids; None: every application.
    pub apps: Option<&'a str>,
}

/// What the gateway needs to know of a key found by its hash, live or not
/// (the caller says why not).
#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyGrantRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub apps: Option<String>,
}

impl Store {
    pub async fn add_ssh_key(
        &self,
        user_id: &str,
        name: &str,
        algorithm: &str,
        fingerprint: &str,
        public_key: &str,
        now: i64,
    ) -> Result<String> {
        let id = new_id();
        let res = sqlx::query(
            "INSERT INTO ssh_keys (id, user_id, name, algorithm, fingerprint, public_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(name)
        .bind(algorithm)
        .bind(fingerprint)
        .bind(public_key)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(Error::Conflict("this SSH key".into()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(id),
        }
    }

    pub async fn ssh_keys(&self, user_id: &str) -> Result<Vec<SshKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT id, name, algorithm, fingerprint, public_key, created_at FROM ssh_keys \
             WHERE user_id = $1 ORDER BY created_at, name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes the key only if it belongs to the user; returns its fingerprint.
    pub async fn delete_ssh_key(&self, user_id: &str, key_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2 RETURNING fingerprint",
        )
        .bind(key_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn add_api_key(&self, key: &NewApiKey<'_>, now: i64) -> Result<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, created_at, expires_at, apps) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(key.user_id)
        .bind(key.name)
        .bind(key.prefix)
        .bind(key.secret_hash)
        .bind(now)
        .bind(key.expires_at)
        .bind(key.apps)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The user's keys that are not revoked, newest first.
    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at, apps FROM api_keys \
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn revoke_api_key(&self, user_id: &str, key_id: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(key_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The live key with this hash, marking it used.
    pub async fn use_api_key(&self, secret_hash: &str, now: i64) -> Result<Option<ApiKeyRow>> {
        Ok(sqlx::query_as(
            "UPDATE api_keys SET last_used_at = $1 WHERE secret_hash = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $1) \
             RETURNING id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at, apps",
        )
        .bind(now)
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The key with this hash, whatever its state: one indexed read, no write.
    pub async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKeyGrantRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, created_at, expires_at, last_used_at, revoked_at, apps \
             FROM api_keys WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a key's last use (never moving it back).
    pub async fn record_api_key_use(&self, key_id: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(at)
        .bind(key_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The applications behind a gateway policy that accepts API keys and
    /// that the user may open: (policy id, name), by name.
    pub async fn api_key_applications(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT a.policy_id, a.name FROM applications a \
             WHERE a.api_keys = 1 AND a.policy_id IS NOT NULL AND (a.everyone = 1 OR EXISTS ( \
               SELECT 1 FROM application_groups ag JOIN group_members m ON m.group_id = ag.group_id \
               WHERE ag.application_id = a.id AND m.user_id = $1)) \
             ORDER BY a.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether the policy's application accepts API keys (the policy says so).
    pub async fn set_application_api_keys(&self, policy_id: &str, on: bool) -> Result<()> {
        sqlx::query("UPDATE applications SET api_keys = $1 WHERE policy_id = $2")
            .bind(i64::from(on))
            .bind(policy_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
