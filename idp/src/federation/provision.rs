//! From a verified upstream identity to a local account and a session:
//! the link by the provider's stable subject, else a link by verified
//! email, else just-in-time provisioning; then group mapping and the MFA
//! decision, ending in the same session code as a local sign-in.

use std::collections::BTreeSet;

use super::config::Common;
use super::{FederationError, Identity};
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::directory::{FieldKind, User, normalize_email, valid_email, validate_field};
use crate::error::Error;
use crate::mfa::Due;
use crate::store::NewUser;
use crate::{idp::Idp, sign_in::SignIn};

/// `amr` of a session begun at an upstream provider (RFC 8176 has no
/// value for federation; `fed` is ours and names no factor).
pub const AMR_FEDERATED: &str = "fed";

/// The local groups a provider's sign-in puts the user in, and the groups
/// the provider manages (the ones it may also take away).
pub fn mapped_groups(common: &Common, upstream: &[String]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut wanted: BTreeSet<String> = common.default_groups.iter().cloned().collect();
    for g in upstream {
        if let Some(local) = common.group_map.get(g) {
            wanted.insert(local.clone());
        }
    }
    let managed = common
        .default_groups
        .iter()
        .chain(common.group_map.values())
        .cloned()
        .collect();
    (wanted, managed)
}

fn username_for(email: &str) -> String {
    let local: String = email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    if validate_field(FieldKind::Username, &local).is_ok() {
        local
    } else {
        format!("user-{}", &crate::crypto::random_token()[..8])
    }
}

impl Idp {
    /// Signs in the owner of a verified upstream identity. Nothing is
    /// created or linked unless every check passes first.
    pub async fn federated_sign_in(
        &self,
        common: &Common,
        id: &Identity,
        ip: Option<&str>,
    ) -> Result<SignIn, FederationError> {
        let now = clock::now();
        let email = id.email.as_deref().map(normalize_email).unwrap_or_default();
        if !valid_email(&email) {
            return Err(FederationError::NoEmail);
        }
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        // A provider speaks only for the domains it owns: a partner's IdP
        // can never sign in (or link) an account of another domain.
        if !common.domains.iter().any(|d| d == domain) {
            return Err(FederationError::ForeignDomain);
        }
        let user = match self.store.federated_link(&common.id, &id.subject).await? {
            Some(link) => {
                let user = self
                    .store
                    .user_by_id(&link.user_id)
                    .await?
                    .ok_or_else(|| Error::NotFound("linked user".into()))?;
                self.store
                    .touch_federated_link(&common.id, &id.subject, &email, now)
                    .await?;
                user
            }
            None => self.link_or_provision(common, id, &email, ip, now).await?,
        };
        if let Some(reason) = user.locked {
            audit::record(
                &self.store,
                now,
                Event::new("federation.signin", Outcome::Failure)
                    .about(&user)
                    .ip(ip)
                    .detail(format!("provider {}: account locked", common.id)),
            )
            .await;
            return Err(FederationError::Locked(reason));
        }
        self.sync_groups(common, &user, &id.groups).await?;

        if id.upstream_mfa && common.accept_upstream_mfa {
            let token = self
                .complete_sign_in(&user, vec![AMR_FEDERATED.into(), "mfa".into()], now, ip)
                .await?;
            return Ok(SignIn::Success {
                user: Box::new(user),
                token,
                expires_in_days: None,
            });
        }
        let due = self.mfa_due(&user).await?;
        if due != Due::No {
            audit::record(
                &self.store,
                now,
                Event::new("signin.federated", Outcome::Success)
                    .about(&user)
                    .ip(ip)
                    .detail(format!("provider {}: our second factor due", common.id)),
            )
            .await;
            return Ok(SignIn::SecondFactor {
                user: Box::new(user),
                enrol: due == Due::Enrol,
                auth_time: now,
            });
        }
        self.store.reset_failed_attempts(&user.id).await?;
        let (token, _) = self
            .sessions
            .create(
                &user.id,
                vec![AMR_FEDERATED.into()],
                ip.map(str::to_owned),
                now,
            )
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("signin", Outcome::Success)
                .about(&user)
                .ip(ip)
                .detail(format!("federated: provider {}", common.id)),
        )
        .await;
        Ok(SignIn::Success {
            user: Box::new(user),
            token,
            expires_in_days: None,
        })
    }

    async fn link_or_provision(
        &self,
        common: &Common,
        id: &Identity,
        email: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<User, FederationError> {
        if let Some(existing) = self.store.user_by_email(email).await? {
            if !common.link_by_email {
                return Err(FederationError::NoAccount);
            }
            if !id.email_verified {
                return Err(FederationError::EmailNotVerified);
            }
            if !self
                .store
                .add_federated_link(&common.id, &id.subject, &existing.id, email, now)
                .await?
            {
                return Err(FederationError::AlreadyLinked);
            }
            audit::record(
                &self.store,
                now,
                Event::new("federation.link", Outcome::Success)
                    .about(&existing)
                    .ip(ip)
                    .detail(format!("provider {}: linked by verified email", common.id)),
            )
            .await;
            return Ok(existing);
        }
        if !common.provision {
            return Err(FederationError::NoAccount);
        }
        if !id.email_verified {
            return Err(FederationError::EmailNotVerified);
        }
        let name = |s: &str| {
            Some(s.to_string())
                .filter(|n| validate_field(FieldKind::Name, n).is_ok())
                .unwrap_or_default()
        };
        let new = NewUser {
            email: email.to_string(),
            first_name: name(&id.first_name),
            last_name: name(&id.last_name),
            username: username_for(email),
            // Federated accounts have no local password.
            password_hash: None,
            admin_role: None,
        };
        let user = match self.store.create_user(&new, now).await {
            Ok(u) => u,
            // A concurrent first sign-in created it: link to that one.
            Err(Error::Conflict(_)) => self
                .store
                .user_by_email(email)
                .await?
                .ok_or_else(|| Error::NotFound("user just created".into()))?,
            Err(e) => return Err(e.into()),
        };
        if !self
            .store
            .add_federated_link(&common.id, &id.subject, &user.id, email, now)
            .await?
        {
            return Err(FederationError::AlreadyLinked);
        }
        audit::record(
            &self.store,
            now,
            Event::new("federation.provision", Outcome::Success)
                .about(&user)
                .ip(ip)
                .detail(format!("provider {}: account created", common.id)),
        )
        .await;
        Ok(user)
    }

    /// Puts the user in the mapped groups and takes them out of the
    /// provider-managed groups no longer asserted. Other groups are the
    /// administrator's and stay as they are.
    async fn sync_groups(
        &self,
        common: &Common,
        user: &User,
        upstream: &[String],
    ) -> Result<(), FederationError> {
        let (wanted, managed) = mapped_groups(common, upstream);
        if managed.is_empty() {
            return Ok(());
        }
        let current: BTreeSet<String> = self.store.groups_of(&user.id).await?.into_iter().collect();
        let mut changes = Vec::new();
        for g in &managed {
            let has = current.contains(g);
            let want = wanted.contains(g);
            if has == want {
                continue;
            }
            let group = match self.store.group_by_name(g).await? {
                Some(group) => group,
                None if want => match self.store.create_group(g, clock::now()).await {
                    Ok(group) => group,
                    Err(Error::Conflict(_)) => self
                        .store
                        .group_by_name(g)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("group {g}")))?,
                    Err(e) => return Err(e.into()),
                },
                None => continue,
            };
            if want {
                self.store.add_member(&group.id, &user.id).await?;
                changes.push(format!("+{g}"));
            } else {
                self.store.remove_member(&group.id, &user.id).await?;
                changes.push(format!("-{g}"));
            }
        }
        if !changes.is_empty() {
            audit::record(
                &self.store,
                clock::now(),
                Event::new("federation.groups", Outcome::Success)
                    .about(user)
                    .detail(format!("provider {}: {}", common.id, changes.join(" "))),
            )
            .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_rules_map_and_manage() {
        let common = Common {
            id: "p".into(),
            name: "P".into(),
            domains: vec!["p.example".into()],
            provision: true,
            link_by_email: true,
            allow_local_password: false,
            accept_upstream_mfa: false,
            group_map: [("eng".to_string(), "Engineers".to_string())].into(),
            default_groups: vec!["Partners".into()],
            logout_upstream: false,
        };
        let (wanted, managed) = mapped_groups(&common, &["eng".into(), "other".into()]);
        assert_eq!(wanted, ["Engineers", "Partners"].map(String::from).into());
        assert_eq!(managed, ["Engineers", "Partners"].map(String::from).into());
        let (wanted, _) = mapped_groups(&common, &[]);
        assert_eq!(wanted, ["Partners"].map(String::from).into());
    }

    #[test]
    fn usernames_come_from_the_email() {
        assert_eq!(username_for("ann.lee@p.example"), "ann.lee");
        assert!(username_for("'\"@p.example").starts_with("user-"));
    }
}
