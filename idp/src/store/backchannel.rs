//! The back-channel logout outbox. Revoking grants and queueing the logout
//! tokens their clients are owed is one transaction, so a process that dies
//! (or a CLI that exits) right after ending the sessions still leaves the
//! tokens to be sent. Rows are claimed with a conditional `UPDATE` on
//! `claimed_until`, which the database decides: of several instances asking
//! for the same row, exactly one gets it back.

use sqlx::FromRow;

use super::{Store, new_id, next_seq};
use crate::error::Result;

/// Whose grants a revocation takes.
#[derive(Debug, Clone, Copy)]
pub enum GrantsOf<'a> {
    /// Every live grant of the user (password change, lock, MFA reset...).
    User(&'a str),
    /// The live grants made through one portal session (its store key).
    Session(&'a str),
}

/// A grant as its revocation returns it: who it was for and the OP session
/// it was made through.
#[derive(Debug, Clone, FromRow)]
pub struct RevokedGrant {
    pub client_id: String,
    pub user_id: String,
    pub session_hash: Option<String>,
}

/// One logout token to queue: `sid` absent is the `sub`-only form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewLogout {
    pub client_id: String,
    pub user_id: String,
    pub sid: Option<String>,
}

/// A queued logout token as a delivering instance sees it.
#[derive(Debug, Clone, FromRow)]
pub struct LogoutRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: Option<String>,
    /// Attempts so far, counting the one this row was claimed for.
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

impl Store {
    /// The distinct clients holding live grants of the user or session:
    /// asked before the revocation so the caller can look their settings up.
    pub async fn live_grant_clients(&self, of: GrantsOf<'_>) -> Result<Vec<String>> {
        let (sql, key) = match of {
            GrantsOf::User(u) => (
                "SELECT DISTINCT client_id FROM oidc_grants WHERE user_id = $1 AND revoked_at IS NULL",
                u,
            ),
            GrantsOf::Session(s) => (
                "SELECT DISTINCT client_id FROM oidc_grants WHERE session_hash = $1 AND revoked_at IS NULL",
                s,
            ),
        };
        Ok(sqlx::query_scalar(sql)
            .bind(key)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Revokes the live grants of the user or session and queues the logout
    /// tokens `plan` makes of them, in one transaction.
    pub async fn revoke_grants_queueing_logouts(
        &self,
        of: GrantsOf<'_>,
        now: i64,
        plan: impl FnOnce(&[RevokedGrant]) -> Vec<NewLogout>,
    ) -> Result<Vec<RevokedGrant>> {
        let (sql, key) = match of {
            GrantsOf::User(u) => (
                "UPDATE oidc_grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
                 RETURNING client_id, user_id, session_hash",
                u,
            ),
            GrantsOf::Session(s) => (
                "UPDATE oidc_grants SET revoked_at = $1 WHERE session_hash = $2 AND revoked_at IS NULL \
                 RETURNING client_id, user_id, session_hash",
                s,
            ),
        };
        let mut tx = self.pool.begin().await?;
        let revoked: Vec<RevokedGrant> = sqlx::query_as(sql)
            .bind(now)
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
        for l in plan(&revoked) {
            sqlx::query(
                "INSERT INTO backchannel_outbox (id, client_id, user_id, sid, next_attempt_at, created_at, seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new_id())
            .bind(&l.client_id)
            .bind(&l.user_id)
            .bind(&l.sid)
            .bind(now)
            .bind(now)
            .bind(next_seq())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    /// Ids of rows due at `now` and not claimed by anyone, oldest first.
    pub async fn due_logouts(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM backchannel_outbox WHERE next_attempt_at <= $1 AND claimed_until < $2 \
             ORDER BY next_attempt_at, seq LIMIT $3",
        )
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes the row for one attempt until `lease_until`, under the random
    /// `claim`, if it is due and nobody holds it; counts the attempt.
    /// `None`: another instance has it (or it is gone, or not due).
    pub async fn claim_logout(
        &self,
        id: &str,
        claim: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<LogoutRow>> {
        Ok(sqlx::query_as(
            "UPDATE backchannel_outbox SET claimed_until = $1, claim = $2, attempts = attempts + 1 \
             WHERE id = $3 AND claimed_until < $4 AND next_attempt_at <= $5 \
             RETURNING id, client_id, user_id, sid, attempts, next_attempt_at, last_error",
        )
        .bind(lease_until)
        .bind(claim)
        .bind(id)
        .bind(now)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes a row this claim holds: delivered, or given up. False when
    /// the claim was lost (its lease ran out and another instance took it).
    pub async fn finish_logout(&self, id: &str, claim: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM backchannel_outbox WHERE id = $1 AND claim = $2")
                .bind(id)
                .bind(claim)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Releases a row this claim holds for another attempt at `next_attempt_at`.
    pub async fn retry_logout(
        &self,
        id: &str,
        claim: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE backchannel_outbox SET claimed_until = 0, claim = NULL, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3 AND claim = $4",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(claim)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Every queued row, oldest first (operators, tests).
    pub async fn queued_logouts(&self) -> Result<Vec<LogoutRow>> {
        Ok(sqlx::query_as(
            "SELECT id, client_id, user_id, sid, attempts, next_attempt_at, last_error \
             FROM backchannel_outbox ORDER BY created_at, seq",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
