//! THE session check: "is this session still good?", asked by the portal,
//! the OpenID Connect provider, the SAML IdP and the gateway alike, so no
//! caller admits a session another would send back.

use crate::accounts::Idp;
use crate::directory::User;
use crate::error::Result;

use super::{Session, SessionKey};

/// A live session and the usable account behind it.
#[derive(Debug, Clone)]
pub struct Live {
    pub key: SessionKey,
    pub session: Session,
    pub user: User,
}

impl Live {
    /// When the user last proved who they are, by any means: a step-up
    /// counts as much as the sign-in itself.
    pub fn proved_at(&self) -> i64 {
        self.session
            .mfa_at
            .map_or(self.session.auth_time, |m| m.max(self.session.auth_time))
    }
}

/// Why a session is not good (any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such session, or past its absolute lifetime.
    Unknown,
    /// Unused for longer than the idle timeout.
    Idle,
    /// The account was deleted.
    UserGone,
    /// The account is locked (by an administrator, failed attempts or expiry).
    Locked,
    /// A password was set after this session began.
    PasswordChanged,
    /// A passkey-only session past `[mfa] passkey_reverify`: the user must
    /// verify with the passkey again. The session itself is kept: the new
    /// passkey sign-in replaces it.
    PasskeyReverify,
}

/// Which session to check.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// The portal cookie's value (the portal, OIDC, SAML).
    Token(&'a str),
    /// Its key, for the gateway, which never sees the portal cookie.
    Key(&'a SessionKey),
}

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
