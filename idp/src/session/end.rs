//! Ending sessions reaches the applications too: whenever the portal ends
//! every session of a user (password change, lock, administrator action) or
//! one session (sign-out), the refresh tokens issued through them die with
//! them, so do the access tokens that name those grants, and the clients
//! that registered a back-channel logout URI are owed a logout token. The
//! tokens are queued in the store with the revocation itself (see
//! `oidc/backchannel.rs`), so they are sent even when this process is the
//! admin CLI and exits at once.

use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::error::{Error, Result};
use crate::idp::Idp;
use crate::session::{Revocation, SessionKey};
use crate::store::GrantsOf;

impl Idp {
    /// Ends every portal session of the user and revokes all the user's
    /// OIDC grants; returns how many portal sessions ended.
    pub async fn end_user_sessions(&self, user_id: &str) -> Result<usize> {
        let ended = self.sessions.revoke_user(user_id).await?;
        self.store
            .end_user_saml_sessions(user_id, clock::now())
            .await?;
        let revoked = self
            .revoke_grants_telling_clients(GrantsOf::User(user_id))
            .await?;
        if !revoked.is_empty() {
            tracing::info!(
                user_id,
                grants = revoked.len(),
                "revoked OIDC grants with the user's sessions"
            );
        }
        Ok(ended)
    }

    /// Ends one portal session and the OIDC grants made through it.
    pub async fn end_session(&self, key: &SessionKey) -> Result<()> {
        self.sessions.end(key).await?;
        // SAML sessions in a logout chain stay until their SP has been told.
        self.store
            .end_saml_sessions_of(key.as_str(), clock::now())
            .await?;
        self.revoke_grants_telling_clients(GrantsOf::Session(key.as_str()))
            .await?;
        Ok(())
    }

    /// Signs the session's user out: audited, then the session ends with
    /// its grants. A session due to re-verify still signs out, so this does
    /// not ask [`Idp::resume`]. When the session store does not answer, the
    /// sign-out is recorded in the state store instead and applied once it
    /// answers again ([`spawn_pending_signouts`]); this instance's caches
    /// forget the session at once either way.
    pub async fn sign_out(&self, key: &SessionKey, now: i64) -> Result<SignedOut> {
        match self.sessions.resume_key(key, now).await {
            Ok(Ok(session)) => {
                audit::record(
                    &self.store,
                    now,
                    Event::new("signout", Outcome::Success).user(&session.user_id),
                )
                .await
            }
            Ok(Err(_)) => {}
            Err(Error::SessionStore(e)) => return self.queue_sign_out(key, now, &e).await,
            Err(e) => return Err(e),
        }
        match self.end_session(key).await {
            Err(Error::SessionStore(e)) => self.queue_sign_out(key, now, &e).await,
            other => other.map(|()| SignedOut::Done),
        }
    }

    async fn queue_sign_out(&self, key: &SessionKey, now: i64, why: &str) -> Result<SignedOut> {
        tracing::warn!(error = %why, "session store unavailable: the sign-out is queued until it answers");
        self.store.queue_signout(key.as_str(), now).await?;
        self.sessions.forget_here(Revocation::Session(key.clone()));
        audit::record(
            &self.store,
            now,
            Event::new("signout", Outcome::Success).detail("queued: session store unavailable"),
        )
        .await;
        Ok(SignedOut::Queued)
    }

    /// Applies the sign-outs queued while the session store was away;
    /// returns how many. Stops at the first the session store refuses
    /// (still away): the rest wait for the next pass.
    pub async fn apply_pending_signouts(&self) -> Result<usize> {
        let mut applied = 0;
        for stored in self.store.pending_signouts(PENDING_BATCH).await? {
            let key = SessionKey::from_stored(stored.clone());
            self.end_session(&key).await?;
            self.store.drop_pending_signout(&stored).await?;
            applied += 1;
        }
        Ok(applied)
    }
}

/// What a sign-out did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedOut {
    /// The session ended everywhere.
    Done,
    /// The session store did not answer: the sign-out is recorded in the
    /// state store and the session ends once the session store answers.
    Queued,
}

/// Queued sign-outs applied per pass.
const PENDING_BATCH: i64 = 100;

/// How often a serving instance looks for queued sign-outs.
pub const PENDING_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// The task of a serving instance that applies queued sign-outs, every
/// [`PENDING_POLL`], until the runtime stops.
pub fn spawn_pending_signouts(idp: std::sync::Arc<Idp>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match idp.apply_pending_signouts().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    sessions = n,
                    "applied sign-outs queued during a session store outage"
                ),
                Err(e) => tracing::debug!(error = %e, "queued sign-outs wait for the stores"),
            }
            tokio::time::sleep(PENDING_POLL).await;
        }
    })
}
