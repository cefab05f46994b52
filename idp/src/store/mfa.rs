//! Queries for second factors: TOTP secrets and recovery codes.

use sqlx::FromRow;

use super::{Store, new_id};
use crate::error::Result;

/// A user's authenticator app, active or being enrolled.
#[derive(Debug, Clone, FromRow)]
pub struct TotpRow {
    pub user_id: String,
    /// Sealed with [`crate::crypto::SecretBox`]; never leaves the core in clear.
    pub secret_sealed: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub last_step: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A registered security key or passkey.
#[derive(Debug, Clone, FromRow)]
pub struct WebauthnRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential_id: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Store {
    pub async fn totp(&self, user_id: &str) -> Result<Option<TotpRow>> {
        Ok(sqlx::query_as(
            "SELECT user_id, secret_sealed, created_at, activated_at, last_step, last_used_at \
             FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Starts (or restarts) an enrolment with a new inactive secret. An active
    /// secret is left alone: it must be removed first.
    pub async fn begin_totp(&self, user_id: &str, sealed: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
             created_at = excluded.created_at, last_step = NULL, last_used_at = NULL \
             WHERE mfa_totp.activated_at IS NULL",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Records `step` as used, only when it is later than the last one used:
    /// false means another request already accepted this step or a later one.
    /// `activate` also turns an enrolment into an active factor; enrolment
    /// does not count as a use for the chooser's "last used first" order.
    pub async fn accept_totp_step(
        &self,
        user_id: &str,
        step: i64,
        now: i64,
        activate: bool,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE mfa_totp SET last_step = $1, \
             last_used_at = CASE WHEN $3 THEN last_used_at ELSE $2 END, \
             activated_at = CASE WHEN $3 THEN COALESCE(activated_at, $2) ELSE activated_at END \
             WHERE user_id = $4 AND (last_step IS NULL OR last_step < $1) \
             AND (activated_at IS NOT NULL OR $3)",
        )
        .bind(step)
        .bind(now)
        .bind(activate)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn delete_totp(&self, user_id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Replaces the user's recovery codes with new hashes, in one transaction.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for h in hashes {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(new_id())
            .bind(user_id)
            .bind(h)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `(id, hash)` of the user's unused recovery codes.
    pub async fn unused_recovery_codes(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, code_hash FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the user last used a recovery code, if ever.
    pub async fn recovery_last_used(&self, user_id: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(used_at) FROM mfa_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Marks one code used; false when a concurrent request used it first.
    pub async fn use_recovery_code(&self, id: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn webauthn_keys(&self, user_id: &str) -> Result<Vec<WebauthnRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, name, credential_id, passkey, created_at, last_used_at \
             FROM mfa_webauthn WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn webauthn_key_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<WebauthnRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, name, credential_id, passkey, created_at, last_used_at \
             FROM mfa_webauthn WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn add_webauthn_key(
        &self,
        user_id: &str,
        name: &str,
        credential_id: &str,
        passkey: &str,
        now: i64,
    ) -> Result<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO mfa_webauthn (id, user_id, name, credential_id, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(name)
        .bind(credential_id)
        .bind(passkey)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Stores the credential's new counter after a use.
    pub async fn touch_webauthn_key(&self, id: &str, passkey: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE mfa_webauthn SET passkey = $1, last_used_at = $2 WHERE id = $3")
            .bind(passkey)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The removed key's name, when the user had it.
    pub async fn delete_webauthn_key(&self, user_id: &str, id: &str) -> Result<Option<String>> {
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM mfa_webauthn WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        if name.is_some() {
            sqlx::query("DELETE FROM mfa_webauthn WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(name)
    }

    pub async fn put_ceremony(
        &self,
        user_id: Option<&str>,
        kind: &str,
        state: &str,
        expires_at: i64,
    ) -> Result<String> {
        let id = crate::crypto::random_token();
        // Expired ceremonies are swept here rather than by a timer.
        sqlx::query("DELETE FROM mfa_webauthn_ceremonies WHERE expires_at <= $1")
            .bind(expires_at - 600)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO mfa_webauthn_ceremonies (id, user_id, kind, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(kind)
        .bind(state)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Ceremonies waiting for their finish request.
    pub async fn open_ceremonies(&self, now: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM mfa_webauthn_ceremonies WHERE expires_at > $1",
            )
            .bind(now)
            .fetch_one(&self.pool)
            .await?,
        )
    }

    /// Takes a ceremony's state once: `(user_id, state)` when it exists, is of
    /// this kind and has not expired. A second take finds nothing.
    pub async fn take_ceremony(
        &self,
        id: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<(Option<String>, String)>> {
        let row: Option<(Option<String>, String, i64)> = sqlx::query_as(
            "SELECT user_id, state, expires_at FROM mfa_webauthn_ceremonies WHERE id = $1 AND kind = $2",
        )
        .bind(id)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        let Some((user_id, state, exp)) = row else {
            return Ok(None);
        };
        let gone = sqlx::query("DELETE FROM mfa_webauthn_ceremonies WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok((gone == 1 && exp > now).then_some((user_id, state)))
    }

    /// Removes every second factor of the user; returns how many rows went.
    pub async fn delete_all_factors(&self, user_id: &str) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let a = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let b = sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let c = sqlx::query("DELETE FROM mfa_webauthn WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(a + b + c)
    }
}
