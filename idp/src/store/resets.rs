//! Password reset tokens (hashes only) and expiry-reminder bookkeeping.

use super::Store;
use crate::error::Result;

/// A reset link still usable: whose it is and until when.
#[derive(Debug, Clone)]
pub struct ResetRow {
    pub user_id: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_reset(
        &self,
        token_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unused, unexpired link with this hash, if any.
    pub async fn live_reset(&self, token_hash: &str, now: i64) -> Result<Option<ResetRow>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT user_id, expires_at FROM password_resets \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(user_id, expires_at)| ResetRow {
            user_id,
            expires_at,
        }))
    }

    /// Marks the link used. True only for the one caller that did it, so two
    /// concurrent submissions cannot both reset the password.
    pub async fn consume_reset(&self, token_hash: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Voids every other open link of the user (after a successful reset),
    /// and forgets links long expired.
    pub async fn void_resets(&self, user_id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM password_resets WHERE expires_at < $1")
            .bind(now - 7 * 86_400)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims today's reminder for the user: true when this caller may send
    /// it. The conditional upsert makes the claim atomic, so two instances
    /// sharing the database never both send one.
    pub async fn claim_expiry_reminder(
        &self,
        user_id: &str,
        now: i64,
        min_gap: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO expiry_reminders (user_id, last_sent_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET last_sent_at = excluded.last_sent_at \
             WHERE expiry_reminders.last_sent_at <= $3",
        )
        .bind(user_id)
        .bind(now)
        .bind(now - min_gap)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }
}
