//! The user's own sessions and sign-in history: the list of their browsers
//! (the same listing the admin console shows, [`crate::session::view`]),
//! signing one of the others out or all of them, and their recent sign-in
//! attempts from the audit trail. Ending goes through the one session
//! ending ([`Idp::end_session`]), so gateway cookies stop at once and the
//! OIDC clients signed in through the session are sent back-channel logout.

use serde::Serialize;

use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::directory::User;
use crate::error::Result;
use crate::idp::Idp;
use crate::session::SessionKey;
use crate::session::view::SessionView;

/// Sign-in attempts the Security page shows.
pub const ACTIVITY_LEN: i64 = 20;

/// One of the user's sessions, and whether it is the browser asking.
#[derive(Debug, Clone, Serialize)]
pub struct OwnSession {
    #[serde(flatten)]
    pub view: SessionView,
    pub current: bool,
}

/// One sign-in attempt, as the user reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInAttempt {
    pub at: i64,
    pub success: bool,
    /// How: "Password", "Password and authenticator app", "Passkey"...
    pub method: String,
    /// Why it failed, or what came next ("second factor next").
    pub note: Option<String>,
    pub source_ip: Option<String>,
}

impl Idp {
    /// The user's live sessions, the asking browser's first, then newest
    /// first.
    pub async fn own_sessions(&self, user: &User, current: &SessionKey) -> Result<Vec<OwnSession>> {
        let mut all: Vec<OwnSession> = self
            .session_views(&user.id)
            .await?
            .into_iter()
            .map(|(key, view)| OwnSession {
                current: &key == current,
                view,
            })
            .collect();
        // Stable: the rest keep their newest-first order.
        all.sort_by_key(|s| !s.current);
        Ok(all)
    }

    /// Signs out the user's session named `id`, one of the others: the
    /// current one is ended by signing out. False when there is no such
    /// session of this user (ended already, someone else's, or this one).
    pub async fn end_own_session(
        &self,
        user: &User,
        current: &SessionKey,
        id: &str,
        ip: Option<&str>,
    ) -> Result<bool> {
        let Some(key) = self.find_session(&user.id, id).await? else {
            return Ok(false);
        };
        if &key == current {
            return Ok(false);
        }
        self.end_session(&key).await?;
        audit::record(
            &self.store,
            clock::now(),
            Event::new("account.session.end", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(crate::session::view::short_id(&key)),
        )
        .await;
        Ok(true)
    }

    /// Signs out every session of the user but the current one; returns
    /// how many ended.
    pub async fn end_other_sessions(
        &self,
        user: &User,
        current: &SessionKey,
        ip: Option<&str>,
    ) -> Result<usize> {
        let mut ended = 0;
        for (key, _) in self.sessions.of_user(&user.id, clock::now()).await? {
            if &key != current {
                self.end_session(&key).await?;
                ended += 1;
            }
        }
        audit::record(
            &self.store,
            clock::now(),
            Event::new("account.session.end_others", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("{ended} sessions ended")),
        )
        .await;
        Ok(ended)
    }

    /// The user's newest [`ACTIVITY_LEN`] sign-in attempts, theirs only.
    pub async fn sign_in_activity(&self, user: &User) -> Result<Vec<SignInAttempt>> {
        Ok(self
            .store
            .sign_in_audit(&user.id, ACTIVITY_LEN)
            .await?
            .into_iter()
            .map(|r| {
                attempt(
                    &r.event,
                    r.outcome == "success",
                    &r.detail,
                    r.at,
                    r.source_ip,
                )
            })
            .collect())
    }
}

/// An audit row of a sign-in, in the user's words.
fn attempt(
    event: &str,
    success: bool,
    detail: &str,
    at: i64,
    source_ip: Option<String>,
) -> SignInAttempt {
    let detail = detail.trim();
    let (method, note) = match event {
        "signin" if success => (
            detail
                .strip_prefix("federated: provider ")
                .map(|p| format!("Identity provider {p}"))
                .unwrap_or_else(|| methods(detail.strip_prefix("amr ").unwrap_or("pwd"))),
            None,
        ),
        "signin.password" => (
            "Password".to_string(),
            Some("Second factor next".to_string()),
        ),
        "signin.federated" | "federation.signin" => (
            "Identity provider".to_string(),
            (!success && !detail.is_empty()).then(|| detail.to_string()),
        ),
        "signin.passkey" => ("Passkey".to_string(), failure_note(success, detail)),
        "mfa.totp.verify" => (
            "Authenticator app".to_string(),
            failure_note(success, detail),
        ),
        "mfa.recovery.verify" => ("Recovery code".to_string(), failure_note(success, detail)),
        "mfa.webauthn.verify" => ("Security key".to_string(), failure_note(success, detail)),
        _ => ("Password".to_string(), failure_note(success, detail)),
    };
    SignInAttempt {
        at,
        success,
        method,
        note,
        source_ip,
    }
}

fn failure_note(success: bool, detail: &str) -> Option<String> {
    (!success && !detail.is_empty()).then(|| {
        let mut chars = detail.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    })
}

/// RFC 8176 method references in words: the first factor, then the second.
fn methods(amr: &str) -> String {
    let has = |m: &str| amr.split_whitespace().any(|a| a == m);
    let first = if has("pwd") {
        "Password"
    } else if has("hwk") {
        return "Passkey".to_string();
    } else if has(crate::federation::provision::AMR_FEDERATED) {
        "Identity provider"
    } else {
        "Password"
    };
    let second = if has("otp") {
        Some("authenticator app")
    } else if has("hwk") {
        Some("security key")
    } else if has("mfa") {
        Some("recovery code")
    } else {
        None
    };
    match second {
        Some(s) => format!("{first} and {s}"),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::attempt;

    #[test]
    fn sign_in_rows_in_words() {
        let a = |event, ok, detail| attempt(event, ok, detail, 0, None);
        assert_eq!(a("signin", true, "").method, "Password");
        assert_eq!(
            a("signin", true, "amr pwd otp mfa").method,
            "Password and authenticator app"
        );
        assert_eq!(
            a("signin", true, "amr pwd mfa").method,
            "Password and recovery code"
        );
        assert_eq!(a("signin", true, "amr hwk user mfa").method, "Passkey");
        assert_eq!(
            a("signin", true, "federated: provider Corp").method,
            "Identity provider Corp"
        );
        let failed = a("signin", false, "wrong password");
        assert_eq!(
            (failed.method.as_str(), failed.note.as_deref()),
            ("Password", Some("Wrong password"))
        );
        assert_eq!(
            a("mfa.totp.verify", false, "wrong code").note.as_deref(),
            Some("Wrong code")
        );
    }
}
