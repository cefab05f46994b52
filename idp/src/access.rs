//! THE decision "may this user open this application, and what must they
//! prove": asked by OpenID Connect clients, SAML service providers, portal
//! tiles and gateway policies alike.
//!
//! One model: the directory is authoritative. Applications are bound to
//! groups (as in the seed documents), or explicitly to every signed-in user;
//! a user sees a tile exactly when they may open the application. A gateway
//! policy's `groups` (or `everyone = true`) are its application's binding,
//! reconciled into the directory at start-up and reload, and kept in memory
//! by the gateway so its per-request check reads no database.

use std::time::Duration;

use crate::audit::{self, Event, Outcome};
use crate::directory::{Application, User};
use crate::error::Result;
use crate::idp::Idp;

/// Who may open an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every signed-in user.
    Everyone,
    /// Members of any of these groups (names). Empty admits nobody.
    Groups(Vec<String>),
}

impl Audience {
    pub fn admits(&self, user_groups: &[String]) -> bool {
        match self {
            Self::Everyone => true,
            Self::Groups(allowed) => allowed.iter().any(|g| user_groups.contains(g)),
        }
    }
}

/// What a second factor must be to count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecondFactor {
    /// Verified at most this long ago; None: at any time in the session.
    pub max_age: Option<Duration>,
    /// By one of these methods (RFC 8176 `amr` values); empty: any.
    pub methods: Vec<String>,
}

impl SecondFactor {
    /// Whether a session's second factor (`mfa_at`, `amr`) meets this at `now`.
    pub fn met_by(&self, mfa_at: Option<i64>, amr: &[String], now: i64) -> bool {
        let recent =
            mfa_at.is_some_and(|t| self.max_age.is_none_or(|m| now - t <= m.as_secs() as i64));
        let method_ok = self.methods.is_empty() || amr.iter().any(|m| self.methods.contains(m));
        recent && method_ok
    }
}

/// The answer for one user, one application, one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The user is not in the application's audience.
    NotAssigned,
    /// The user may open it after (another, or a fresher) second factor.
    SecondFactorDue,
}

/// The decision itself: audience first, then the second factor the
/// application requires (None: none).
pub fn decide(
    audience: &Audience,
    user_groups: &[String],
    required: Option<&SecondFactor>,
    mfa_at: Option<i64>,
    amr: &[String],
    now: i64,
) -> Decision {
    if !audience.admits(user_groups) {
        return Decision::NotAssigned;
    }
    match required {
        Some(need) if !need.met_by(mfa_at, amr, now) => Decision::SecondFactorDue,
        _ => Decision::Allow,
    }
}

impl Idp {
    /// The directory's audience of an application.
    pub async fn audience(&self, app_id: &str) -> Result<Option<Audience>> {
        Ok(self
            .store
            .application_audience(app_id)
            .await?
            .map(|(everyone, groups)| {
                if everyone {
                    Audience::Everyone
                } else {
                    Audience::Groups(groups)
                }
            }))
    }

    /// Makes the directory hold a gateway policy's application and binding
    /// (see [`crate::store::Store::reconcile_policy_application`]); returns
    /// the application's id.
    pub async fn reconcile_policy_application(
        &self,
        policy_id: &str,
        name: &str,
        description: &str,
        launch_url: &str,
        audience: &Audience,
    ) -> Result<String> {
        let (everyone, groups) = match audience {
            Audience::Everyone => (true, Vec::new()),
            Audience::Groups(g) => (false, g.clone()),
        };
        let spec = crate::store::PolicyApplication {
            policy_id: policy_id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            launch_url: launch_url.to_string(),
            everyone,
            groups,
        };
        self.store
            .reconcile_policy_application(&spec, crate::clock::now())
            .await
    }

    /// The names of the user's groups, for an audience to admit.
    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>> {
        self.store.groups_of(user_id).await
    }

    /// Whether `user_id` is in the audience of the application named
    /// `app_name` (the one OIDC clients and SAML SPs are linked to). A
    /// missing application admits nobody.
    pub async fn may_open(&self, user_id: &str, app_name: &str) -> Result<Option<Application>> {
        let Some(app) = self.store.application_by_name(app_name).await? else {
            tracing::error!(application = %app_name, "linked application missing");
            return Ok(None);
        };
        let Some(audience) = self.audience(&app.id).await? else {
            return Ok(None);
        };
        let groups = self.store.groups_of(user_id).await?;
        Ok(audience.admits(&groups).then_some(app))
    }
}

impl Idp {
    /// Where opening a tile goes, audited as a launch; None when the user
    /// may not open the application (or there is none with this id). An
    /// OIDC application starts at its client's login, which comes back
    /// through the authorization endpoint; a SAML application gets an
    /// IdP-initiated sign-in posted to its ACS; any other its launch URL.
    pub async fn launch(
        &self,
        user: &User,
        app_id: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Option<String>> {
        let Some(app) = self.store.application_for_user(&user.id, app_id).await? else {
            return Ok(None);
        };
        audit::record(
            &self.store,
            now,
            Event::new("app.launch", Outcome::Success)
                .user(&user.id)
                .subject(&app.name)
                .ip(ip),
        )
        .await;
        if let Some(url) = self.oidc_launch_url(&app.name, &user.email).await? {
            return Ok(Some(url));
        }
        Ok(Some(
            self.saml_launch_url(&app.name)
                .await?
                .unwrap_or(app.launch_url),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn audience_is_explicit() {
        assert!(Audience::Everyone.admits(&[]));
        let staff = Audience::Groups(groups(&["Staff"]));
        assert!(staff.admits(&groups(&["Other", "Staff"])));
        assert!(!staff.admits(&groups(&["Other"])));
        assert!(
            !Audience::Groups(vec![]).admits(&groups(&["Staff"])),
            "empty admits nobody"
        );
    }

    #[test]
    fn a_second_factor_must_be_recent_and_of_an_allowed_method() {
        let need = SecondFactor {
            max_age: Some(Duration::from_secs(300)),
            methods: groups(&["otp"]),
        };
        let amr = groups(&["pwd", "otp"]);
        assert!(need.met_by(Some(1000), &amr, 1300));
        assert!(!need.met_by(Some(1000), &amr, 1301), "stale");
        assert!(!need.met_by(None, &groups(&["pwd"]), 1000), "never");
        assert!(
            !need.met_by(Some(1000), &groups(&["pwd", "hwk"]), 1001),
            "method"
        );
        let any = SecondFactor::default();
        assert!(
            any.met_by(Some(0), &groups(&["hwk"]), 1_000_000),
            "any time, any method"
        );
    }

    #[test]
    fn audience_first_then_proof() {
        let staff = Audience::Groups(groups(&["Staff"]));
        let need = SecondFactor::default();
        let pwd = groups(&["pwd"]);
        assert_eq!(
            decide(&staff, &groups(&["Other"]), Some(&need), Some(1), &pwd, 2),
            Decision::NotAssigned
        );
        assert_eq!(
            decide(&staff, &groups(&["Staff"]), Some(&need), None, &pwd, 2),
            Decision::SecondFactorDue
        );
        assert_eq!(
            decide(&staff, &groups(&["Staff"]), None, None, &pwd, 2),
            Decision::Allow
        );
    }
}
