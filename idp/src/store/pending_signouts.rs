//! Sign-outs waiting for the session store (table `pending_signouts`).

use super::Store;
use crate::error::Result;

impl Store {
    /// Records that the session `key` was signed out at `now`.
    pub async fn queue_signout(&self, key: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO pending_signouts (session_key, created_at) VALUES ($1, $2) \
             ON CONFLICT (session_key) DO NOTHING",
        )
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The oldest `limit` sign-outs still to apply, by session key.
    pub async fn pending_signouts(&self, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT session_key FROM pending_signouts ORDER BY created_at, session_key LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Forgets a sign-out once the session store applied it.
    pub async fn drop_pending_signout(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM pending_signouts WHERE session_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
