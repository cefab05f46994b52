//! Federated identity links, SAML requests in flight, the assertion replay
//! cache and upstream-session facts for sign-out.

use super::Store;
use crate::error::Result;

/// A link between a local account and an upstream subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedLink {
    pub provider: String,
    pub subject: String,
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
    pub last_login_at: i64,
}

type LinkRow = (String, String, String, String, i64, i64);

fn link(r: LinkRow) -> FederatedLink {
    FederatedLink {
        provider: r.0,
        subject: r.1,
        user_id: r.2,
        email: r.3,
        created_at: r.4,
        last_login_at: r.5,
    }
}

/// How taking a request in flight ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestUse {
    Accepted,
    /// No such request for this provider, expired, or already answered.
    Unknown,
}

/// Where an upstream request stands ([`Store::federation_request_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    Open,
    /// Answered already: a second answer is a replay.
    Answered,
    Expired,
    /// Never made here (for this provider).
    Unknown,
}

impl Store {
    pub async fn federated_link(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<FederatedLink>> {
        let row: Option<LinkRow> = sqlx::query_as(
            "SELECT provider, subject, user_id, email, created_at, last_login_at \
             FROM federated_identities WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(link))
    }

    pub async fn federated_links_of(&self, user_id: &str) -> Result<Vec<FederatedLink>> {
        let rows: Vec<LinkRow> = sqlx::query_as(
            "SELECT provider, subject, user_id, email, created_at, last_login_at \
             FROM federated_identities WHERE user_id = $1 ORDER BY provider",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(link).collect())
    }

    /// Creates the link. False when the subject or the user is linked to
    /// this provider already (a concurrent first sign-in, or a second
    /// upstream account claiming the same local one).
    pub async fn add_federated_link(
        &self,
        provider: &str,
        subject: &str,
        user_id: &str,
        email: &str,
        now: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO federated_identities \
             (provider, subject, user_id, email, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
        )
        .bind(provider)
        .bind(subject)
        .bind(user_id)
        .bind(email)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn touch_federated_link(
        &self,
        provider: &str,
        subject: &str,
        email: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE federated_identities SET last_login_at = $1, email = $2 \
             WHERE provider = $3 AND subject = $4",
        )
        .bind(now)
        .bind(email)
        .bind(provider)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an AuthnRequest we sent, and forgets long-expired ones.
    pub async fn put_federation_request(
        &self,
        id: &str,
        provider: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM federation_requests WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO federation_requests (id, provider, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(provider)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `id` is a live, unanswered request of `provider` (read only:
    /// to choose the InResponseTo the response is checked against).
    /// Where an upstream request stands, so that an answer to a request
    /// never made is not mistaken for one answered twice.
    pub async fn federation_request_state(
        &self,
        id: &str,
        provider: &str,
        now: i64,
    ) -> Result<RequestState> {
        let row: Option<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT used_at, expires_at FROM federation_requests WHERE id = $1 AND provider = $2",
        )
        .bind(id)
        .bind(provider)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => RequestState::Unknown,
            Some((Some(_), _)) => RequestState::Answered,
            Some((None, exp)) if exp <= now => RequestState::Expired,
            Some((None, _)) => RequestState::Open,
        })
    }

    pub async fn federation_request_open(
        &self,
        id: &str,
        provider: &str,
        now: i64,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM federation_requests \
             WHERE id = $1 AND provider = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(id)
        .bind(provider)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Answers the request with the verified result, once: a conditional
    /// update, so two posts of the same response cannot both succeed.
    pub async fn answer_federation_request(
        &self,
        id: &str,
        provider: &str,
        sealed_result: &str,
        now: i64,
    ) -> Result<RequestUse> {
        let res = sqlx::query(
            "UPDATE federation_requests SET used_at = $1, result = $2 \
             WHERE id = $3 AND provider = $4 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(sealed_result)
        .bind(id)
        .bind(provider)
        .execute(&self.pool)
        .await?;
        Ok(if res.rows_affected() == 1 {
            RequestUse::Accepted
        } else {
            RequestUse::Unknown
        })
    }

    /// Takes the answered request's result, once.
    pub async fn take_federation_result(
        &self,
        id: &str,
        provider: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "DELETE FROM federation_requests \
             WHERE id = $1 AND provider = $2 AND result IS NOT NULL AND expires_at > $3 \
             RETURNING result",
        )
        .bind(id)
        .bind(provider)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| r.0))
    }

    /// Remembers an accepted assertion ID. False when it was seen before.
    pub async fn remember_assertion(
        &self,
        provider: &str,
        assertion_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        sqlx::query("DELETE FROM federation_assertions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let res = sqlx::query(
            "INSERT INTO federation_assertions (provider, assertion_id, expires_at) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(provider)
        .bind(assertion_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn put_federated_session(
        &self,
        session_hash: &str,
        provider: &str,
        sealed: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO federated_sessions (session_hash, provider, sealed, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (session_hash) DO UPDATE \
             SET provider = excluded.provider, sealed = excluded.sealed, expires_at = excluded.expires_at",
        )
        .bind(session_hash)
        .bind(provider)
        .bind(sealed)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes (and forgets) the upstream-session facts of a portal session.
    pub async fn take_federated_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<(String, String)>> {
        sqlx::query("DELETE FROM federated_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM federated_sessions WHERE session_hash = $1 RETURNING provider, sealed",
        )
        .bind(session_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }
}
