use super::Store;
use crate::error::Result;

/// Persistence for the embedded session store: one JSON document a session.
impl Store {
    pub async fn save_session(
        &self,
        id_hash: &str,
        user_id: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, data, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(data)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_user_sessions(&self, user_id: &str) -> Result<u64> {
        let res = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    /// Drops expired sessions and returns the rest as (id hash, JSON).
    pub async fn load_sessions(&self, now: i64) -> Result<Vec<(String, String)>> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_as("SELECT id_hash, data FROM sessions")
            .fetch_all(&self.pool)
            .await?)
    }
}
