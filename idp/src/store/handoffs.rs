//! The gateway handshake's single-use codes, shared by every instance.

use super::Store;
use crate::error::Result;

impl Store {
    /// Stores a code's hash and what it grants; forgets expired codes on the way.
    pub async fn put_handoff(
        &self,
        code_hash: &str,
        session_key: &str,
        app: &str,
        state: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM gateway_handoffs WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO gateway_handoffs (code_hash, session_key, app, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code_hash)
        .bind(session_key)
        .bind(app)
        .bind(state)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the code once: the `DELETE ... RETURNING` is atomic, so of two
    /// instances redeeming the same code only one gets the row. Returns
    /// `(session_key, app, state, expires_at)`.
    pub async fn take_handoff(
        &self,
        code_hash: &str,
    ) -> Result<Option<(String, String, String, i64)>> {
        Ok(sqlx::query_as(
            "DELETE FROM gateway_handoffs WHERE code_hash = $1 \
             RETURNING session_key, app, state, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}
