//! Administrator settings kept in the store, so `portcullis admin settings`
//! changes them for every running instance without a restart.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::Store;

/// What passwords must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require_upper: bool,
    pub require_lower: bool,
    pub require_digit: bool,
    pub require_special: bool,
    /// A new password may not equal any of the last `history` passwords.
    pub history: usize,
    /// Days a password lives; 0 means it never expires.
    pub max_age_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            require_upper: true,
            require_lower: true,
            require_digit: true,
            require_special: true,
            history: 5,
            max_age_days: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub password: PasswordPolicy,
    /// Consecutive failed attempts that lock an account; 0 disables lockout.
    pub lockout_threshold: u32,
    /// Whether users may edit their own profile.
    pub profile_self_edit: bool,
    /// Overrides `[mfa] policy` from the configuration file when set.
    pub mfa_policy: Option<crate::config::MfaPolicy>,
    /// Overrides `[mfa] required_groups` when set.
    pub mfa_required_groups: Option<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            password: PasswordPolicy::default(),
            lockout_threshold: 5,
            profile_self_edit: true,
            mfa_policy: None,
            mfa_required_groups: None,
        }
    }
}

/// Every settable key with a one-line description, for `admin settings`.
pub const KEYS: &[(&str, &str)] = &[
    ("password.min_length", "minimum password length (8 to 128)"),
    (
        "password.require_upper",
        "require an upper-case letter (true/false)",
    ),
    (
        "password.require_lower",
        "require a lower-case letter (true/false)",
    ),
    ("password.require_digit", "require a digit (true/false)"),
    (
        "password.require_special",
        "require a special character (true/false)",
    ),
    ("password.history", "refuse the last N passwords (0 to 24)"),
    (
        "password.max_age_days",
        "days until a password expires; 0 = never (0 to 3650)",
    ),
    (
        "lockout.threshold",
        "failed attempts before lockout; 0 = never (0 to 100)",
    ),
    (
        "profile.self_edit",
        "users may edit their profile (true/false)",
    ),
    (
        "mfa.policy",
        "second factor: off, optional or required; overrides [mfa] policy",
    ),
    (
        "mfa.required_groups",
        "comma-separated groups that must use MFA when required; empty = everyone",
    ),
];

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(Error::Invalid(format!(
            "{key}: expected true or false, got {v:?}"
        ))),
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    key: &str,
    v: &str,
    min: T,
    max: T,
) -> Result<T> {
    let n: T = v
        .trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("{key}: expected a number, got {v:?}")))?;
    if n < min || n > max {
        return Err(Error::Invalid(format!(
            "{key}: must be between {min} and {max}"
        )));
    }
    Ok(n)
}

impl Settings {
    /// Applies one `key = value`, validating it.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<()> {
        let p = &mut self.password;
        match key {
            "password.min_length" => p.min_length = parse_num(key, value, 8, 128)?,
            "password.require_upper" => p.require_upper = parse_bool(key, value)?,
            "password.require_lower" => p.require_lower = parse_bool(key, value)?,
            "password.require_digit" => p.require_digit = parse_bool(key, value)?,
            "password.require_special" => p.require_special = parse_bool(key, value)?,
            "password.history" => p.history = parse_num(key, value, 0, 24)?,
            "password.max_age_days" => p.max_age_days = parse_num(key, value, 0, 3650)?,
            "lockout.threshold" => self.lockout_threshold = parse_num(key, value, 0, 100)?,
            "profile.self_edit" => self.profile_self_edit = parse_bool(key, value)?,
            "mfa.policy" => {
                self.mfa_policy = Some(crate::config::MfaPolicy::parse(value).ok_or_else(|| {
                    Error::Invalid(format!(
                        "{key}: expected off, optional or required, got {value:?}"
                    ))
                })?)
            }
            "mfa.required_groups" => {
                self.mfa_required_groups = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            _ => {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                return Err(Error::Invalid(format!(
                    "unknown setting {key:?}; known settings: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The current settings: defaults overlaid with what the store holds.
    /// A stored value that no longer parses is ignored with a warning rather
    /// than locking everybody out.
    pub async fn load(store: &Store) -> Result<Self> {
        let mut s = Self::default();
        for (k, v) in store.settings_raw().await? {
            if let Err(e) = s.apply(&k, &v) {
                tracing::warn!(setting = %k, error = %e, "ignoring stored setting");
            }
        }
        Ok(s)
    }

    /// Validates and stores one setting.
    pub async fn set(store: &Store, key: &str, value: &str) -> Result<Self> {
        let mut s = Self::load(store).await?;
        s.apply(key, value)?;
        store.put_setting(key, value.trim()).await?;
        Ok(s)
    }

    /// `(key, value)` pairs in the order of [`KEYS`].
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let p = &self.password;
        vec![
            ("password.min_length", p.min_length.to_string()),
            ("password.require_upper", p.require_upper.to_string()),
            ("password.require_lower", p.require_lower.to_string()),
            ("password.require_digit", p.require_digit.to_string()),
            ("password.require_special", p.require_special.to_string()),
            ("password.history", p.history.to_string()),
            ("password.max_age_days", p.max_age_days.to_string()),
            ("lockout.threshold", self.lockout_threshold.to_string()),
            ("profile.self_edit", self.profile_self_edit.to_string()),
            (
                "mfa.policy",
                self.mfa_policy
                    .map_or_else(|| "(from config)".into(), |p| p.as_str().into()),
            ),
            (
                "mfa.required_groups",
                self.mfa_required_groups
                    .as_ref()
                    .map_or_else(|| "(from config)".into(), |g| g.join(",")),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_validates() {
        let mut s = Settings::default();
        s.apply("lockout.threshold", "3").unwrap();
        assert_eq!(s.lockout_threshold, 3);
        assert!(s.apply("lockout.threshold", "-1").is_err());
        assert!(s.apply("password.min_length", "4").is_err());
        assert!(s.apply("profile.self_edit", "maybe").is_err());
        let e = s.apply("nope", "1").unwrap_err().to_string();
        assert!(e.contains("unknown setting"), "{e}");
        assert_eq!(s.lockout_threshold, 3, "a failed apply changes nothing");
        assert_eq!(s.entries().len(), KEYS.len());
    }
}
