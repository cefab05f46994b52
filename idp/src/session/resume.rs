//! THE session check: "is this session still good?", asked by the portal,
//! the OpenID Connect provider, the SAML IdP and the gateway alike, so no
//! caller admits a session another would send back.

use crate::directory::User;
use crate::error::Result;
use crate::idp::Idp;

use super::{Live, Presented, Refusal, Session};

/// Whether an account may still use something that began at `auth_time`
/// (a session, or a sign-in waiting for its second factor).
pub fn account_usable(user: &User, auth_time: i64) -> std::result::Result<(), Refusal> {
    if user.locked.is_some() {
        return Err(Refusal::Locked);
    }
    // Possibly set by an administrator in another process.
    if user.password_changed_at.is_some_and(|t| t > auth_time) {
        return Err(Refusal::PasswordChanged);
    }
    Ok(())
}

/// Whether a passkey-only session is due to verify again at `now`.
pub fn passkey_reverify_due(session: &Session, reverify_secs: i64, now: i64) -> bool {
    crate::mfa::webauthn::is_passwordless(&session.amr)
        && now - session.mfa_at.unwrap_or(session.auth_time) >= reverify_secs
}

impl Idp {
    /// The one session check. Records activity on a live session; ends one
    /// whose account went away, was locked or re-keyed, since it can never
    /// be good again.
    pub async fn resume(
        &self,
        presented: Presented<'_>,
        now: i64,
    ) -> Result<std::result::Result<Live, Refusal>> {
        let found = match presented {
            Presented::Token(t) => self.sessions.resume(t, now).await?,
            Presented::Key(k) => self
                .sessions
                .resume_key(k, now)
                .await?
                .map(|s| (k.clone(), s)),
        };
        let (key, session) = match found {
            Ok(found) => found,
            Err(why) => return Ok(Err(why)),
        };
        let Some(user) = self.store.user_by_id(&session.user_id).await? else {
            self.sessions.end(&key).await?;
            return Ok(Err(Refusal::UserGone));
        };
        if let Err(why) = account_usable(&user, session.auth_time) {
            self.sessions.end(&key).await?;
            return Ok(Err(why));
        }
        let reverify = self.config.mfa.passkey_reverify.as_secs() as i64;
        if passkey_reverify_due(&session, reverify, now) {
            return Ok(Err(Refusal::PasskeyReverify));
        }
        Ok(Ok(Live { key, session, user }))
    }
}
