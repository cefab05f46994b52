//! Ending sessions reaches the applications too: whenever the portal ends
//! every session of a user (password change, lock, administrator action) or
//! one session (sign-out), the refresh tokens issued through them die with
//! them, so do the access tokens that name those grants, and the clients
//! that registered a back-channel logout URI are told.

use crate::accounts::Idp;
use crate::clock;
use crate::error::Result;
use crate::session::SessionKey;

impl Idp {
    /// Ends every portal session of the user and revokes all the user's
    /// OIDC grants; returns how many portal sessions ended.
    pub async fn end_user_sessions(&self, user_id: &str) -> Result<usize> {
        let ended = self.sessions.revoke_user(user_id).await?;
        self.store
            .end_user_saml_sessions(user_id, clock::now())
            .await?;
        let clients = self.store.revoke_user_grants(user_id, clock::now()).await?;
        if !clients.is_empty() {
            tracing::info!(
                user_id,
                grants = clients.len(),
                "revoked OIDC grants with the user's sessions"
            );
            self.send_backchannel_logout(&clients, user_id, None).await;
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
        let user = self.store.session_grants_user(key.as_str()).await?;
        let clients = self
            .store
            .revoke_session_grants(key.as_str(), clock::now())
            .await?;
        if let Some(user_id) = user
            && !clients.is_empty()
        {
            let sid = crate::oidc::token::sid_of(self, key.as_str());
            self.send_backchannel_logout(&clients, &user_id, Some(sid))
                .await;
        }
        Ok(())
    }
}
