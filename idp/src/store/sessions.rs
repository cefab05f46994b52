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

    /// Drops expired sessions, then hands the rest to `each` as (id hash,
    /// JSON) one row at a time: collecting 100,000 documents first would
    /// make the start-up peak, and so the resident size, several times the
    /// sessions' own.
    pub async fn load_sessions(
        &self,
        now: i64,
        mut each: impl FnMut(String, String),
    ) -> Result<()> {
        use futures_util::TryStreamExt;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let mut rows = sqlx::query_as::<_, (String, String)>("SELECT id_hash, data FROM sessions")
            .fetch(&self.pool);
        while let Some((hash, json)) = rows.try_next().await? {
            each(hash, json);
        }
        Ok(())
    }
}
