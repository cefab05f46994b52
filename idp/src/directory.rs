//! Users, groups and applications: the shapes the rest of the core works
//! with, and the validation of what people may type into them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why an account cannot sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// Too many failed attempts; a password reset may lift it.
    FailedAttempts,
    /// Suspended by an administrator.
    Admin,
    /// The password passed its maximum age.
    Expired,
}

impl LockReason {
    /// What lifts this lock, in words for the person at the sign-in page.
    /// Only someone who proved the password (or their upstream identity)
    /// is told, so naming the kind of lock reveals nothing to a guesser.
    /// `reset_unlocks`: a password reset by email lifts failure and expiry
    /// locks here (`[reset] enabled` and `unlocks_account`).
    pub fn advice(self, reset_unlocks: bool) -> &'static str {
        match (self, reset_unlocks) {
            (Self::FailedAttempts, true) => {
                "This account is locked after too many failed attempts. Reset your password (Reset User Password) to unlock it, or ask your administrator to unlock it."
            }
            (Self::FailedAttempts, false) => {
                "This account is locked after too many failed attempts. Ask your administrator to unlock it."
            }
            (Self::Expired, true) => {
                "Your password has expired. Set a new one with Reset User Password, or ask your administrator."
            }
            (Self::Expired, false) => {
                "Your password has expired. Ask your administrator to set a new one."
            }
            (Self::Admin, _) => {
                "This account is suspended by an administrator. Ask your administrator to restore it; a password reset does not lift a suspension."
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailedAttempts => "failed_attempts",
            Self::Admin => "admin",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "failed_attempts" => Some(Self::FailedAttempts),
            "admin" => Some(Self::Admin),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Stable subject identifier; never the email.
    pub id: String,
    /// The company email, lower-cased; it is the sign-in name.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    #[schema(value_type = BTreeMap<String, String>)]
    pub profile: Profile,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub password_changed_at: Option<i64>,
    pub failed_attempts: i64,
    pub locked: Option<LockReason>,
    pub created_at: i64,
    /// When the directory attributes last changed (creation, if never).
    pub modified_at: i64,
    /// The administrator role held as a directory attribute; a configured
    /// group may grant one too (`admin::roles::of`).
    pub admin_role: Option<crate::roles::Role>,
    /// The provisioning system's key for this user (SCIM `externalId`).
    pub external_id: Option<String>,
}

impl User {
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name, self.last_name);
        let name = name.trim();
        if name.is_empty() {
            self.email.clone()
        } else {
            name.to_string()
        }
    }

    /// Up to two letters for the account menu.
    pub fn initials(&self) -> String {
        let pick = |s: &str| s.chars().next().map(|c| c.to_uppercase().to_string());
        let initials: String = [pick(&self.first_name), pick(&self.last_name)]
            .into_iter()
            .flatten()
            .collect();
        if initials.is_empty() {
            pick(&self.email).unwrap_or_else(|| "?".into())
        } else {
            initials
        }
    }
}

/// The editable fields beyond names, kept as one document so that adding a
/// field needs no migration. Keys are the form field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Profile(pub BTreeMap<String, String>);

impl Profile {
    pub fn get(&self, field: &str) -> &str {
        self.0.get(field).map(String::as_str).unwrap_or("")
    }
}

/// What kind of check a profile field gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Name,
    Username,
    Email,
    Phone,
    Text,
}

/// Every profile field a user may edit, in page order: (form name, label, kind).
pub const PROFILE_FIELDS: &[(&str, &str, FieldKind)] = &[
    ("first_name", "First name", FieldKind::Name),
    ("last_name", "Last name", FieldKind::Name),
    ("username", "Username", FieldKind::Username),
    ("alternate_email", "Alternate email", FieldKind::Email),
    ("work_cell", "Work cell", FieldKind::Phone),
    ("work_phone", "Work phone", FieldKind::Phone),
    ("work_fax", "Work fax", FieldKind::Phone),
    ("personal_cell", "Personal cell", FieldKind::Phone),
    ("home_phone", "Home phone", FieldKind::Phone),
    ("home_street", "Street address", FieldKind::Text),
    ("home_po_box", "PO box", FieldKind::Text),
    ("home_city", "City", FieldKind::Text),
    ("home_state", "State", FieldKind::Text),
    ("home_zip", "Zip code", FieldKind::Text),
    ("home_country", "Country", FieldKind::Text),
    ("work_street", "Street address", FieldKind::Text),
    ("work_po_box", "PO box", FieldKind::Text),
    ("work_city", "City", FieldKind::Text),
    ("work_state", "State", FieldKind::Text),
    ("work_zip", "Zip code", FieldKind::Text),
    ("work_country", "Country", FieldKind::Text),
    ("recovery_email", "Recovery email", FieldKind::Email),
];

/// Fields stored in their own columns rather than in [`Profile`].
pub const NAME_FIELDS: &[&str] = &["first_name", "last_name", "username"];

/// Checks one submitted field; `Err` carries the message shown beside it.
pub fn validate_field(kind: FieldKind, value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if value.chars().any(|c| c.is_control()) {
        return Err("Must not contain control characters.".into());
    }
    match kind {
        FieldKind::Name => {
            if value.is_empty() {
                Err("Required.".into())
            } else if len > 100 {
                Err("At most 100 characters.".into())
            } else {
                Ok(())
            }
        }
        FieldKind::Username => {
            if value.is_empty() {
                Err("Required.".into())
            } else if len > 64 {
                Err("At most 64 characters.".into())
            } else if !value
                .chars()
                // '@' because provisioning systems name users by a
                // user principal name (dana@example.com).
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
            {
                Err("Use letters, digits, dots, dashes, underscores and @ only.".into())
            } else {
                Ok(())
            }
        }
        FieldKind::Email => {
            if value.is_empty() || valid_email(value) {
                Ok(())
            } else {
                Err("Enter an email address such as name@example.com.".into())
            }
        }
        FieldKind::Phone => {
            if value.is_empty() {
                return Ok(());
            }
            let digits = value.chars().filter(char::is_ascii_digit).count();
            let allowed = value.chars().all(|c| {
                c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | 'x')
            });
            if allowed && (5..=20).contains(&digits) && len <= 32 {
                Ok(())
            } else {
                Err("Enter a phone number such as +1 555 0100.".into())
            }
        }
        FieldKind::Text => {
            if len > 200 {
                Err("At most 200 characters.".into())
            } else {
                Ok(())
            }
        }
    }
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain,
/// no spaces, at most 254 characters. Deliverability is not our concern here.
pub fn valid_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// Emails are compared without regard to case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: String,
    pub name: String,
}

/// Profile fields that only an administrator or a provisioning system sets
/// (the SCIM enterprise extension, a job title): the user sees them but the
/// profile page neither shows them as editable nor drops them on save.
pub const DIRECTORY_FIELDS: &[(&str, &str, FieldKind)] = &[
    ("display_name", "Display name", FieldKind::Text),
    ("title", "Title", FieldKind::Text),
    ("employee_number", "Employee number", FieldKind::Text),
    ("cost_center", "Cost center", FieldKind::Text),
    ("organization", "Organization", FieldKind::Text),
    ("division", "Division", FieldKind::Text),
    ("department", "Department", FieldKind::Text),
    ("manager_id", "Manager", FieldKind::Text),
];

/// How an application is launched. Only bookmarks exist so far; proxied,
/// OIDC and SAML applications come with their issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    Bookmark,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub description: String,
    pub detail_url: Option<String>,
    pub logo_url: Option<String>,
    pub launch_url: String,
    pub kind: AppKind,
}

/// Launch, detail and logo URLs must be absolute http(s) URLs (logos may
/// also be inline `data:image/...`), so that a tile can never run script.
pub fn validate_app_url(field: &str, value: &str, allow_data_image: bool) -> Result<(), String> {
    if allow_data_image && value.starts_with("data:image/") {
        return Ok(());
    }
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(()),
        _ => Err(format!("{field} must be an absolute http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(valid_email("dana@example.com"));
        assert!(valid_email("d.r+tag@sub.example.co"));
        assert!(!valid_email("dana"));
        assert!(!valid_email("dana@localhost"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("da na@example.com"));
        assert!(!valid_email("dana@example..com"));
        assert!(!valid_email(&format!("{}@example.com", "a".repeat(250))));
        assert_eq!(normalize_email("  Dana@Example.COM "), "dana@example.com");
    }

    #[test]
    fn fields() {
        assert!(validate_field(FieldKind::Phone, "+1 (555) 010-0100").is_ok());
        assert!(validate_field(FieldKind::Phone, "").is_ok());
        assert!(validate_field(FieldKind::Phone, "call me").is_err());
        assert!(validate_field(FieldKind::Phone, "12").is_err());
        assert!(validate_field(FieldKind::Name, "").is_err());
        assert!(validate_field(FieldKind::Name, &"x".repeat(101)).is_err());
        assert!(validate_field(FieldKind::Username, "dana.reyes").is_ok());
        assert!(validate_field(FieldKind::Username, "dana reyes").is_err());
        assert!(validate_field(FieldKind::Text, &"x".repeat(201)).is_err());
        assert!(validate_field(FieldKind::Text, "line\u{0}").is_err());
        assert!(validate_field(FieldKind::Email, "not-an-email").is_err());
    }

    #[test]
    fn app_urls() {
        assert!(validate_app_url("launch_url", "https://wiki.example.com/", false).is_ok());
        assert!(validate_app_url("launch_url", "javascript:alert(1)", false).is_err());
        assert!(validate_app_url("launch_url", "/relative", false).is_err());
        assert!(validate_app_url("logo_url", "data:image/png;base64,AAAA", true).is_ok());
        assert!(validate_app_url("launch_url", "data:image/png;base64,AAAA", false).is_err());
    }
}
