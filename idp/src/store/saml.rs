//! Queries of the SAML identity provider. Replay of an AuthnRequest ID and a
//! second answer to one request are decided by the database (primary key
//! conflicts, `UPDATE ... WHERE answered_at IS NULL RETURNING`), so two
//! instances sharing the store cannot both accept them.

use sqlx::FromRow;

use super::Store;
use crate::error::{Error, Result};

#[derive(Debug, Clone, FromRow)]
pub struct SamlCertRow {
    pub id: String,
    pub private_sealed: String,
    pub cert_pem: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// When it starts signing; None: from `created_at`.
    pub activates_at: Option<i64>,
}

/// An accepted AuthnRequest waiting for (or given) its answer.
#[derive(Debug, Clone)]
pub struct SamlRequestRow {
    pub sp_entity_id: String,
    pub request_id: String,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub wants_mfa: bool,
    pub received_at: i64,
    pub expires_at: i64,
}

#[derive(FromRow)]
struct SamlRequestFlagsRow {
    sp_entity_id: String,
    request_id: String,
    acs_url: String,
    relay_state: Option<String>,
    force_authn: i64,
    is_passive: i64,
    wants_mfa: i64,
    received_at: i64,
    expires_at: i64,
}

/// One assertion issued through a portal session.
#[derive(Debug, Clone, FromRow)]
pub struct SamlSessionRow {
    pub id: String,
    pub session_hash: String,
    pub user_id: String,
    pub sp_entity_id: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn saml_certs(&self) -> Result<Vec<SamlCertRow>> {
        Ok(sqlx::query_as(
            "SELECT id, private_sealed, cert_pem, created_at, retired_at, activates_at FROM saml_certs \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds a certificate and, in the same transaction, retires every
    /// earlier one still signing (or waiting to) at the instant the new one
    /// takes over: they sign until then.
    pub async fn add_saml_cert(&self, row: &SamlCertRow) -> Result<()> {
        let takes_over = row.activates_at.unwrap_or(row.created_at);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE saml_certs SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > $1",
        )
        .bind(takes_over)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO saml_certs (id, private_sealed, cert_pem, created_at, activates_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(&row.private_sealed)
        .bind(&row.cert_pem)
        .bind(row.created_at)
        .bind(row.activates_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes certificates retired before `before`: out of the metadata.
    pub async fn drop_retired_saml_certs(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM saml_certs WHERE retired_at IS NOT NULL AND retired_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn saml_sp(&self, entity_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT data FROM saml_sps WHERE entity_id = $1")
                .bind(entity_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn saml_sps(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT entity_id, data FROM saml_sps ORDER BY created_at, entity_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn add_saml_sp(&self, entity_id: &str, data: &str, now: i64) -> Result<()> {
        let res =
            sqlx::query("INSERT INTO saml_sps (entity_id, data, created_at) VALUES ($1, $2, $3)")
                .bind(entity_id)
                .bind(data)
                .bind(now)
                .execute(&self.pool)
                .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(Error::Conflict(
                format!("a service provider with entity ID {entity_id}"),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Replaces a stored SP's definition; false when none has this entity ID.
    pub async fn update_saml_sp(&self, entity_id: &str, data: &str) -> Result<bool> {
        Ok(
            sqlx::query("UPDATE saml_sps SET data = $1 WHERE entity_id = $2")
                .bind(data)
                .bind(entity_id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Removes a stored SP and ends the SAML sessions made with it.
    pub async fn remove_saml_sp(&self, entity_id: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM saml_sps WHERE entity_id = $1")
            .bind(entity_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query(
            "UPDATE saml_sessions SET ended_at = $1 WHERE sp_entity_id = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(entity_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// Records an accepted AuthnRequest; false when this SP sent this ID before.
    pub async fn insert_saml_request(
        &self,
        row: &SamlRequestRow,
        handle_hash: &str,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO saml_requests (sp_entity_id, request_id, handle_hash, acs_url, relay_state, \
             force_authn, is_passive, wants_mfa, received_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (sp_entity_id, request_id) DO NOTHING",
        )
        .bind(&row.sp_entity_id)
        .bind(&row.request_id)
        .bind(handle_hash)
        .bind(&row.acs_url)
        .bind(&row.relay_state)
        .bind(row.force_authn)
        .bind(row.is_passive)
        .bind(row.wants_mfa)
        .bind(row.received_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// The unanswered, unexpired request behind a continuation handle.
    pub async fn pending_saml_request(
        &self,
        handle_hash: &str,
        now: i64,
    ) -> Result<Option<SamlRequestRow>> {
        // Flags are read as integers: SQLite has no boolean values, and sqlx's
        // Any driver cannot decode its 0/1 as `bool` (see the rules in mod.rs).
        let row: Option<SamlRequestFlagsRow> = sqlx::query_as(
            "SELECT sp_entity_id, request_id, acs_url, relay_state, \
             CASE WHEN force_authn THEN 1 ELSE 0 END AS force_authn, \
             CASE WHEN is_passive THEN 1 ELSE 0 END AS is_passive, \
             CASE WHEN wants_mfa THEN 1 ELSE 0 END AS wants_mfa, \
             received_at, expires_at FROM saml_requests \
             WHERE handle_hash = $1 AND answered_at IS NULL AND expires_at > $2",
        )
        .bind(handle_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SamlRequestRow {
            sp_entity_id: r.sp_entity_id,
            request_id: r.request_id,
            acs_url: r.acs_url,
            relay_state: r.relay_state,
            force_authn: r.force_authn != 0,
            is_passive: r.is_passive != 0,
            wants_mfa: r.wants_mfa != 0,
            received_at: r.received_at,
            expires_at: r.expires_at,
        }))
    }

    /// Marks the request answered; false when another answer won the race.
    pub async fn answer_saml_request(&self, handle_hash: &str, now: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE saml_requests SET answered_at = $1 WHERE handle_hash = $2 AND answered_at IS NULL",
        )
        .bind(now)
        .bind(handle_hash)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Forgets requests whose replay window has passed.
    pub async fn purge_saml(&self, now: i64) -> Result<u64> {
        let a = sqlx::query("DELETE FROM saml_requests WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected()
            + sqlx::query("DELETE FROM saml_logout_requests WHERE expires_at < $1")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        let b =
            sqlx::query("DELETE FROM saml_sessions WHERE expires_at < $1 OR ended_at < $1 - 86400")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(a + b)
    }

    pub async fn insert_saml_session(&self, row: &SamlSessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO saml_sessions (id, session_hash, user_id, sp_entity_id, name_id, name_id_format, \
             session_index, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.session_hash)
        .bind(&row.user_id)
        .bind(&row.sp_entity_id)
        .bind(&row.name_id)
        .bind(&row.name_id_format)
        .bind(&row.session_index)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a LogoutRequest ID from an SP; false when it was received
    /// before (a replay).
    pub async fn remember_saml_logout_request(
        &self,
        sp_entity_id: &str,
        request_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO saml_logout_requests (sp_entity_id, request_id, received_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (sp_entity_id, request_id) DO NOTHING",
        )
        .bind(sp_entity_id)
        .bind(request_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// The live SAML sessions an SP was given this SessionIndex in.
    pub async fn live_saml_sessions_by_index(
        &self,
        sp_entity_id: &str,
        session_index: &str,
        now: i64,
    ) -> Result<Vec<SamlSessionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, session_hash, user_id, sp_entity_id, name_id, name_id_format, session_index, \
             created_at, expires_at FROM saml_sessions WHERE sp_entity_id = $1 AND session_index = $2 \
             AND ended_at IS NULL AND expires_at > $3",
        )
        .bind(sp_entity_id)
        .bind(session_index)
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The live SAML sessions made through one portal session.
    pub async fn saml_sessions_of(&self, session_hash: &str) -> Result<Vec<SamlSessionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, session_hash, user_id, sp_entity_id, name_id, name_id_format, session_index, \
             created_at, expires_at FROM saml_sessions WHERE session_hash = $1 AND ended_at IS NULL \
             ORDER BY created_at",
        )
        .bind(session_hash)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves the live SAML sessions of a portal session to its successor
    /// (a step-up replaces the session id).
    pub async fn move_saml_sessions(&self, from: &str, to: &str) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE saml_sessions SET session_hash = $1 WHERE session_hash = $2 AND ended_at IS NULL",
        )
        .bind(to)
        .bind(from)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Ends every SAML session of a portal session (no message is sent).
    pub async fn end_saml_sessions_of(&self, session_hash: &str, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE saml_sessions SET ended_at = $1 WHERE session_hash = $2 AND ended_at IS NULL \
             AND logout_chain IS NULL",
        )
        .bind(now)
        .bind(session_hash)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Ends every SAML session of a user (password change, lock).
    pub async fn end_user_saml_sessions(&self, user_id: &str, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE saml_sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Ends one SP's sessions within a portal session (SP-initiated logout).
    pub async fn end_saml_session_of_sp(
        &self,
        session_hash: &str,
        sp_entity_id: &str,
        now: i64,
    ) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE saml_sessions SET ended_at = $1 WHERE session_hash = $2 AND sp_entity_id = $3 \
             AND ended_at IS NULL",
        )
        .bind(now)
        .bind(session_hash)
        .bind(sp_entity_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Puts the live SAML sessions of a portal session into a logout chain;
    /// returns how many are to be told.
    pub async fn start_saml_logout_chain(&self, session_hash: &str, chain: &str) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE saml_sessions SET logout_chain = $1 WHERE session_hash = $2 AND ended_at IS NULL \
             AND logout_chain IS NULL",
        )
        .bind(chain)
        .bind(session_hash)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Takes the next SAML session of the chain not yet told, ending it and
    /// recording the LogoutRequest ID sent for it.
    pub async fn next_in_saml_logout_chain(
        &self,
        chain: &str,
        request_id: &str,
        now: i64,
    ) -> Result<Option<SamlSessionRow>> {
        let mut tx = self.pool.begin().await?;
        let row: Option<SamlSessionRow> = sqlx::query_as(
            "SELECT id, session_hash, user_id, sp_entity_id, name_id, name_id_format, session_index, \
             created_at, expires_at FROM saml_sessions WHERE logout_chain = $1 AND ended_at IS NULL \
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = &row {
            sqlx::query(
                "UPDATE saml_sessions SET ended_at = $1, logout_request_id = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(request_id)
            .bind(&r.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// The chain whose LogoutRequest `request_id` was sent to `sp_entity_id`.
    pub async fn saml_logout_chain_of(
        &self,
        sp_entity_id: &str,
        request_id: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT logout_chain FROM saml_sessions WHERE sp_entity_id = $1 AND logout_request_id = $2",
        )
        .bind(sp_entity_id)
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }
}
