//! Fixed-window counters shared by every instance.

use super::Store;
use crate::error::Result;

impl Store {
    /// Counts one hit on `key` in the window starting at or after
    /// `now - window`, and returns the hits in the current window including
    /// this one. A single upsert, so concurrent hits on several instances
    /// are all counted.
    pub async fn hit_rate_limit(&self, key: &str, now: i64, window: i64) -> Result<i64> {
        let hits: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
               window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END \
             RETURNING hits",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .fetch_one(&self.pool)
        .await?;
        Ok(hits)
    }

    /// Forgets counters whose window ended before `before`.
    pub async fn purge_rate_limits(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
