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

/// The failed-sign-in counters (table `signin_throttle`). Keys are MACs made
/// by the caller; the store only counts.
impl Store {
    /// The latest time until which any of `keys` is delayed, when one is
    /// delayed past `now`. Empty keys match nothing.
    pub async fn signin_blocked_until(&self, keys: &[&str; 4], now: i64) -> Result<Option<i64>> {
        let until: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(blocked_until) FROM signin_throttle \
             WHERE key IN ($1, $2, $3, $4) AND blocked_until > $5",
        )
        .bind(keys[0])
        .bind(keys[1])
        .bind(keys[2])
        .bind(keys[3])
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(until)
    }

    /// Counts one failure on `key` and returns the failures counted, this one
    /// included. Failures older than `forget_before` (no failure since) are
    /// forgotten first. One upsert, so concurrent failures on several
    /// instances all count.
    pub async fn signin_failure(&self, key: &str, now: i64, forget_before: i64) -> Result<i64> {
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO signin_throttle (key, failures, last_failure, blocked_until) \
             VALUES ($1, 1, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN signin_throttle.last_failure < $3 THEN 1 \
                          ELSE signin_throttle.failures + 1 END, \
               last_failure = $2 \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(forget_before)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Delays `key` until `until`, never shortening a longer delay that a
    /// concurrent failure set.
    pub async fn signin_block(&self, key: &str, until: i64) -> Result<()> {
        sqlx::query(
            "UPDATE signin_throttle SET blocked_until = $2 WHERE key = $1 AND blocked_until < $2",
        )
        .bind(key)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the failures counted on `key`.
    pub async fn signin_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM signin_throttle WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets counters without a failure since `before` and no delay left at `now`.
    pub async fn purge_signin_throttle(&self, before: i64, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM signin_throttle WHERE last_failure < $1 AND blocked_until <= $2",
        )
        .bind(before)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
