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
use crate::error::Result;
use crate::idp::Idp;
use crate::session::SessionKey;
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
    /// not ask [`Idp::resume`].
    pub async fn sign_out(&self, key: &SessionKey, now: i64) -> Result<()> {
        if let Ok(session) = self.sessions.resume_key(key, now).await? {
            audit::record(
                &self.store,
                now,
                Event::new("signout", Outcome::Success).user(&session.user_id),
            )
            .await;
        }
        self.end_session(key).await
    }
}
