use super::Store;
use crate::error::Result;

impl Store {
    /// Replaces the password hash, records it in the history and clears the
    /// failed-attempt counter, in one transaction.
    pub async fn set_password_hash(&self, user_id: &str, hash: &str, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2, failed_attempts = 0 WHERE id = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_history (user_id, password_hash, changed_at, seq) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .bind(super::next_seq())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn push_password_history(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_history (user_id, password_hash, changed_at, seq) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .bind(super::next_seq())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The `n` most recent password hashes, newest first.
    pub async fn password_history(&self, user_id: &str, n: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY changed_at DESC, seq DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(n)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Back-dates a password's age: for imports of accounts whose password
    /// was set elsewhere, and for tests of expiry.
    pub async fn set_password_changed_at(&self, user_id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE users SET password_changed_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
