//! Administrator settings kept in the store, so `portcullis admin settings`
//! changes them for every running instance without a restart.

use std::time::Duration;

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

/// What the administrator's threshold of failed passwords does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockoutMode {
    /// The threshold's failures from one source (account and address) delay
    /// that source for a growing interval that lifts by itself. Anyone else,
    /// the owner included, still signs in: a stranger cannot lock the owner
    /// out. Second-factor failures still lock hard (the password is known).
    Progressive,
    /// The threshold's consecutive failures, from anywhere, lock the account
    /// until a reset or an administrator unlocks it (the seed's "contact your
    /// IT administrator").
    Hard,
}

impl LockoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Progressive => "progressive",
            Self::Hard => "hard",
        }
    }
}

/// Failed-sign-in limits. The counters live in the state store, so every
/// instance applies the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lockout {
    pub mode: LockoutMode,
    /// The first delay once a counter reaches its threshold; each further
    /// failure doubles it.
    pub delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Failures are forgotten after this long without one.
    pub forget_after: Duration,
    /// Failures on one account from all sources together before the account
    /// itself is delayed (a distributed guess); 0 = never.
    pub account_threshold: u32,
    /// Failures from one address, on any accounts, before it is delayed; 0 = never.
    pub address_threshold: u32,
    /// The same for its /24 (IPv4) or /64 (IPv6); 0 = never.
    pub subnet_threshold: u32,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            mode: LockoutMode::Progressive,
            delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            account_threshold: 50,
            address_threshold: 20,
            subnet_threshold: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub password: PasswordPolicy,
    /// Failed attempts that lock (mode hard) or delay (mode progressive) an
    /// account; 0 disables both.
    pub lockout_threshold: u32,
    pub lockout: Lockout,
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
            lockout: Lockout::default(),
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
        "lockout.mode",
        "progressive: the threshold delays the source for a growing interval; hard: it locks the account until reset or unlock",
    ),
    (
        "lockout.delay",
        "first delay at a threshold, doubled per further failure (1s to 1h, e.g. 1m)",
    ),
    (
        "lockout.max_delay",
        "longest delay (at least lockout.delay, at most 24h)",
    ),
    (
        "lockout.forget_after",
        "failures are forgotten after this long without one (1m to 7d)",
    ),
    (
        "lockout.account_threshold",
        "failures on one account from all addresses before the account is delayed; 0 = never (0 to 100000)",
    ),
    (
        "lockout.address_threshold",
        "failures from one address before it is delayed (429); 0 = never (0 to 100000)",
    ),
    (
        "lockout.subnet_threshold",
        "failures from one /24 (IPv4) or /64 (IPv6) before it is delayed (429); 0 = never (0 to 100000)",
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

const SEC: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// A whole number of seconds such as `90s`, `15m` or `1h`, within bounds.
fn parse_duration(key: &str, v: &str, min: Duration, max: Duration) -> Result<Duration> {
    let d = humantime_serde::re::humantime::parse_duration(v.trim()).map_err(|_| {
        Error::Invalid(format!(
            "{key}: expected a duration such as 30s, 15m or 1h, got {v:?}"
        ))
    })?;
    if d.subsec_nanos() != 0 {
        return Err(Error::Invalid(format!(
            "{key}: use whole seconds, got {v:?}"
        )));
    }
    if d < min || d > max {
        return Err(Error::Invalid(format!(
            "{key}: must be between {} and {}",
            humantime_serde::re::humantime::format_duration(min),
            humantime_serde::re::humantime::format_duration(max)
        )));
    }
    Ok(d)
}

fn show(d: Duration) -> String {
    humantime_serde::re::humantime::format_duration(d).to_string()
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
            "lockout.mode" => {
                self.lockout.mode = match value.trim().to_ascii_lowercase().as_str() {
                    "progressive" => LockoutMode::Progressive,
                    "hard" => LockoutMode::Hard,
                    _ => {
                        return Err(Error::Invalid(format!(
                            "{key}: expected progressive or hard, got {value:?}"
                        )));
                    }
                }
            }
            "lockout.delay" => {
                let d = parse_duration(key, value, SEC, HOUR)?;
                // Stored settings load in any order: the cap is checked when
                // both are known, here and at lockout.max_delay.
                if d > self.lockout.max_delay {
                    return Err(Error::Invalid(format!(
                        "{key}: must not exceed lockout.max_delay ({})",
                        show(self.lockout.max_delay)
                    )));
                }
                self.lockout.delay = d;
            }
            "lockout.max_delay" => {
                let d = parse_duration(key, value, SEC, DAY)?;
                if d < self.lockout.delay {
                    return Err(Error::Invalid(format!(
                        "{key}: must be at least lockout.delay ({})",
                        show(self.lockout.delay)
                    )));
                }
                self.lockout.max_delay = d;
            }
            "lockout.forget_after" => {
                self.lockout.forget_after = parse_duration(key, value, MINUTE, 7 * DAY)?
            }
            "lockout.account_threshold" => {
                self.lockout.account_threshold = parse_num(key, value, 0, 100_000)?
            }
            "lockout.address_threshold" => {
                self.lockout.address_threshold = parse_num(key, value, 0, 100_000)?
            }
            "lockout.subnet_threshold" => {
                self.lockout.subnet_threshold = parse_num(key, value, 0, 100_000)?
            }
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
        // Two passes: a value checked against another setting (a delay and
        // its cap) must not be refused only because it was read first.
        let mut pending = store.settings_raw().await?;
        for pass in 0..2 {
            let mut failed = Vec::new();
            for (k, v) in pending {
                if let Err(e) = s.apply(&k, &v) {
                    if pass == 1 {
                        tracing::warn!(setting = %k, error = %e, "ignoring stored setting");
                    }
                    failed.push((k, v));
                }
            }
            pending = failed;
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
            ("lockout.mode", self.lockout.mode.as_str().to_string()),
            ("lockout.delay", show(self.lockout.delay)),
            ("lockout.max_delay", show(self.lockout.max_delay)),
            ("lockout.forget_after", show(self.lockout.forget_after)),
            (
                "lockout.account_threshold",
                self.lockout.account_threshold.to_string(),
            ),
            (
                "lockout.address_threshold",
                self.lockout.address_threshold.to_string(),
            ),
            (
                "lockout.subnet_threshold",
                self.lockout.subnet_threshold.to_string(),
            ),
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

    #[test]
    fn lockout_settings_are_typed_and_name_their_key() {
        let mut s = Settings::default();
        assert_eq!(s.lockout.mode, LockoutMode::Progressive);
        s.apply("lockout.mode", "hard").unwrap();
        assert_eq!(s.lockout.mode, LockoutMode::Hard);
        let e = s.apply("lockout.mode", "soft").unwrap_err().to_string();
        assert!(
            e.contains("lockout.mode") && e.contains("progressive or hard"),
            "{e}"
        );

        s.apply("lockout.delay", "30s").unwrap();
        assert_eq!(s.lockout.delay, Duration::from_secs(30));
        s.apply("lockout.max_delay", "2h").unwrap();
        assert_eq!(s.lockout.max_delay, Duration::from_secs(7200));
        for bad in ["soon", "0s", "2h", "1.5s"] {
            let e = s.apply("lockout.delay", bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid input: lockout.delay:"), "{bad}: {e}");
        }
        let e = s.apply("lockout.max_delay", "10s").unwrap_err().to_string();
        assert!(
            e.contains("lockout.max_delay") && e.contains("lockout.delay"),
            "{e}"
        );
        let e = s
            .apply("lockout.forget_after", "5s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lockout.forget_after"), "{e}");
        let e = s
            .apply("lockout.address_threshold", "-3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lockout.address_threshold"), "{e}");
        assert_eq!(
            s.lockout.delay,
            Duration::from_secs(30),
            "refusals change nothing"
        );
        let shown: Vec<_> = s.entries().into_iter().collect();
        assert!(
            shown.contains(&("lockout.delay", "30s".to_string())),
            "{shown:?}"
        );
    }
}
