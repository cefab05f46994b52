//! The user's own profile: every field but the company email, unless the
//! administrator has turned self-editing off.

use std::collections::{BTreeMap, HashMap};

use crate::audit::{self, Event, Outcome};
use crate::directory::{NAME_FIELDS, PROFILE_FIELDS, Profile, User, validate_field};
use crate::error::Error;
use crate::idp::Idp;

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("Your administrator has disabled profile editing.")]
    Disabled,
    /// Some fields are not valid: what was entered (to show again) and a
    /// message per field.
    #[error("some fields are not valid")]
    Invalid {
        values: BTreeMap<String, String>,
        errors: BTreeMap<String, String>,
    },
    #[error(transparent)]
    Internal(#[from] Error),
}

/// A profile that passed [`check`]: what to store and which fields changed.
#[derive(Debug, Clone)]
pub struct Checked {
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub profile: Profile,
    /// The form names of the fields whose value differs from the user's.
    pub changed: Vec<&'static str>,
}

/// What was entered (trimmed, to show again) and a message per bad field.
pub type Rejected = (BTreeMap<String, String>, BTreeMap<String, String>);

/// The one validation of a profile, for the user's own edit and an
/// administrator's: every field of [`PROFILE_FIELDS`] is read from `entered`
/// (a missing one is empty) and checked. Other keys are ignored.
pub fn check(user: &User, entered: &HashMap<String, String>) -> Result<Checked, Rejected> {
    let mut new = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (name, _label, kind) in PROFILE_FIELDS {
        let value = entered
            .get(*name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        if let Err(msg) = validate_field(*kind, &value) {
            errors.insert(name.to_string(), msg);
        }
        new.insert(name.to_string(), value);
    }
    if !errors.is_empty() {
        return Err((new, errors));
    }
    let before = values(user);
    let changed: Vec<&'static str> = PROFILE_FIELDS
        .iter()
        .map(|(n, _, _)| *n)
        .filter(|n| before.get(*n).map(String::as_str).unwrap_or("") != new[*n])
        .collect();
    let take = |k: &str| new.get(k).cloned().unwrap_or_default();
    // Fields the profile page does not edit (set by provisioning, e.g. the
    // SCIM enterprise extension) are kept as they were.
    let kept = user
        .profile
        .0
        .iter()
        .filter(|(k, _)| !PROFILE_FIELDS.iter().any(|(n, _, _)| n == k))
        .map(|(k, v)| (k.clone(), v.clone()));
    Ok(Checked {
        first_name: take("first_name"),
        last_name: take("last_name"),
        username: take("username"),
        profile: Profile(
            new.iter()
                .filter(|(k, v)| !NAME_FIELDS.contains(&k.as_str()) && !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(kept)
                .collect(),
        ),
        changed,
    })
}

/// The user's editable fields and their values, names included.
pub fn values(user: &User) -> BTreeMap<String, String> {
    let mut values = user.profile.0.clone();
    values.insert("first_name".into(), user.first_name.clone());
    values.insert("last_name".into(), user.last_name.clone());
    values.insert("username".into(), user.username.clone());
    values
}

impl Idp {
    /// Saves what the user entered. Only known fields are read: anything
    /// else in `entered`, the company email included, is ignored.
    pub async fn save_profile(
        &self,
        user: &User,
        entered: &HashMap<String, String>,
        ip: Option<&str>,
        now: i64,
    ) -> Result<(), ProfileError> {
        if !self.settings().await?.profile_self_edit {
            audit::record(
                &self.store,
                now,
                Event::new("profile.change", Outcome::Failure)
                    .user(&user.id)
                    .ip(ip)
                    .detail("self-edit disabled"),
            )
            .await;
            return Err(ProfileError::Disabled);
        }
        let checked = check(user, entered)
            .map_err(|(values, errors)| ProfileError::Invalid { values, errors })?;
        let changed = &checked.changed;
        self.store
            .update_profile(
                &user.id,
                &checked.first_name,
                &checked.last_name,
                &checked.username,
                &checked.profile,
            )
            .await?;
        if !changed.is_empty() {
            audit::record(
                &self.store,
                now,
                Event::new("profile.change", Outcome::Success)
                    .about(user)
                    .ip(ip)
                    .detail(format!("fields: {}", changed.join(", "))),
            )
            .await;
        }
        Ok(())
    }
}
