//! The identity core's part of the configuration file. Each section is a
//! typed struct with defaults; `validate` names the key that is wrong.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub mod error;

pub use error::ConfigError;

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Where the database, keys and certificates live; relative paths are
    /// resolved against the configuration file's folder.
    pub data_dir: PathBuf,
    /// Defaults to `sqlite://<data_dir>/portcullis.db`. A
    /// `postgres://user:password@host/db` URL shares the state between
    /// several instances.
    pub database_url: Option<String>,
    /// PostgreSQL: how long a query waits for a connection (a free one, or
    /// a new one to a server that went away) before it fails as unavailable.
    /// Sign-in during a database outage answers 503 after this long.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            acquire_timeout: crate::store::DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

/// `[secrets]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Base64 of 32 random bytes. Prefer `master_key_file` so the key stays
    /// out of the configuration file.
    pub master_key: Option<String>,
    /// Defaults to `<data_dir>/master.key`, generated on first start.
    pub master_key_file: Option<PathBuf>,
}

/// `[sessions]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused for this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    /// How long "Remember me" keeps the email pre-filled.
    #[serde(with = "humantime_serde")]
    pub remember_email: Duration,
    /// `embedded` (in-process, persisted to the state store) or `redis`
    /// (shared by several instances).
    pub store: String,
    /// `redis://host:port/db` when `store = "redis"`.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so instances of different deployments can share a server.
    pub redis_prefix: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 3600),
            remember_email: Duration::from_secs(90 * 24 * 3600),
            store: "embedded".into(),
            redis_url: None,
            redis_prefix: "portcullis:".into(),
        }
    }
}

/// `[passwords]`: how passwords are hashed. The policy users must meet is an
/// administrator setting kept in the store (`portcullis admin settings`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// argon2id memory cost; OWASP's recommendation is 19 MiB with 2 passes.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes computed at once; defaults to the number of cores. Further
    /// sign-ins wait their turn without holding a runtime thread.
    pub hash_workers: Option<usize>,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_workers: None,
        }
    }
}

/// `[demo]`: what a new database is seeded with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    pub seed: bool,
    pub email: String,
    /// When absent a random password is generated and printed once.
    pub password: Option<String>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: true,
            email: "demo@example.com".into(),
            password: None,
        }
    }
}

/// Who must use a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// No second factor is offered or asked for.
    Off,
    /// Users may enrol; whoever has enrolled is asked at every sign-in.
    Optional,
    /// Everyone (or the members of `required_groups`) must enrol.
    Required,
}

impl MfaPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// `[mfa]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// The default policy; `portcullis admin settings set mfa.policy` overrides it.
    pub policy: MfaPolicy,
    /// With `policy = "required"`: only members of these groups must enrol.
    /// Empty means everyone.
    pub required_groups: Vec<String>,
    /// The issuer shown in authenticator apps.
    pub issuer: String,
    /// Seconds per TOTP code.
    pub totp_period: u64,
    /// Codes this many periods before or after the current one are accepted.
    pub totp_skew: u16,
    /// A session started with a passkey alone must verify with it again
    /// after this long.
    #[serde(with = "humantime_serde")]
    pub passkey_reverify: Duration,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            policy: MfaPolicy::Optional,
            required_groups: Vec::new(),
            issuer: "Portcullis".into(),
            totp_period: 30,
            totp_skew: 1,
            passkey_reverify: Duration::from_secs(12 * 3600),
        }
    }
}

/// `[admin]`: who holds an administrator role through a group, and how
/// fresh a second factor the admin area asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Members of these groups are full administrators.
    pub admin_groups: Vec<String>,
    /// Members of these groups are help desk (users only: unlock, reset MFA,
    /// reset links, sessions).
    pub helpdesk_groups: Vec<String>,
    /// Members of these groups read everything and change nothing.
    pub auditor_groups: Vec<String>,
    /// The admin area asks for a second factor used no longer ago than
    /// this, whatever the MFA policy for ordinary users.
    #[serde(with = "humantime_serde")]
    pub step_up_max_age: Duration,
    /// Deletes and key rotation ask for a second factor this fresh.
    #[serde(with = "humantime_serde")]
    pub confirm_max_age: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            admin_groups: Vec::new(),
            helpdesk_groups: Vec::new(),
            auditor_groups: Vec::new(),
            step_up_max_age: Duration::from_secs(15 * 60),
            confirm_max_age: Duration::from_secs(5 * 60),
        }
    }
}

impl AdminConfig {
    pub fn has_group_grants(&self) -> bool {
        !(self.admin_groups.is_empty()
            && self.helpdesk_groups.is_empty()
            && self.auditor_groups.is_empty())
    }

    /// The strongest role a membership of `group` grants.
    pub fn role_of_group(&self, group: &str) -> Option<crate::roles::Role> {
        use crate::roles::Role;
        [
            (Role::Admin, &self.admin_groups),
            (Role::Helpdesk, &self.helpdesk_groups),
            (Role::Auditor, &self.auditor_groups),
        ]
        .into_iter()
        .find(|(_, gs)| gs.iter().any(|g| g == group))
        .map(|(r, _)| r)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.step_up_max_age.is_zero() {
            return Err(ConfigError::new(
                "admin.step_up_max_age",
                "must be longer than zero (for example \"15m\")",
            ));
        }
        if self.confirm_max_age.is_zero() || self.confirm_max_age > self.step_up_max_age {
            return Err(ConfigError::new(
                "admin.confirm_max_age",
                "must be longer than zero and no longer than admin.step_up_max_age",
            ));
        }
        for (key, groups) in [
            ("admin.admin_groups", &self.admin_groups),
            ("admin.helpdesk_groups", &self.helpdesk_groups),
            ("admin.auditor_groups", &self.auditor_groups),
        ] {
            if groups.iter().any(|g| g.trim().is_empty()) {
                return Err(ConfigError::new(key, "a group name is empty"));
            }
        }
        Ok(())
    }
}

/// How `[mail]` sends messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Each message is written as an `.eml` file in `outbox_dir`: the demo
    /// works with no mail server.
    Outbox,
    Smtp,
}

/// TLS towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; only for a relay on the same host or in tests.
    None,
    Starttls,
    /// TLS from the first byte (usually port 465).
    Implicit,
}

/// `[mail]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// Defaults to `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    /// A PEM file of extra roots to trust for the SMTP server's certificate
    /// (a private CA); the public web roots are trusted in any case.
    pub smtp_ca_file: Option<PathBuf>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// Attempts per message before it is given up (and audited).
    pub max_attempts: u32,
    /// The first wait after a temporary failure; it doubles each time.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
}

// By hand, so that printing the configuration never shows the SMTP password.
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("outbox_dir", &self.outbox_dir)
            .field("from", &self.from)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("smtp_username", &self.smtp_username)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .field("max_attempts", &self.max_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .finish()
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::Outbox,
            outbox_dir: None,
            from: "Portcullis <no-reply@portal.localhost>".into(),
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_ca_file: None,
            smtp_username: None,
            smtp_password: None,
            max_attempts: 8,
            retry_backoff: Duration::from_secs(2),
        }
    }
}

/// `[reset]`: password reset by email and expiry reminders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResetConfig {
    /// Set false to hide the reset link (administrators reset passwords).
    pub enabled: bool,
    /// How long an emailed link works.
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
    /// Requests accepted per typed email from one source address, and per
    /// source address over all emails, in `rate_window`.
    pub max_per_account: u32,
    pub max_per_address: u32,
    /// Requests accepted per typed email from all addresses together (a
    /// distributed mail flood); 0 = no such limit. Only requests within
    /// their own address's limits count toward it.
    pub max_per_email: u32,
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
    /// A reset also lifts a lock from failed attempts or an expired
    /// password; an administrator's suspension always stays.
    pub unlocks_account: bool,
    /// Email a reminder (at most daily) when a password expires within 7 days.
    pub expiry_reminders: bool,
    /// How often the server looks for passwords about to expire. The store
    /// still allows one reminder a day per user, whatever this is.
    #[serde(with = "humantime_serde")]
    pub reminder_interval: Duration,
}

impl Default for ResetConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token_lifetime: Duration::from_secs(3600),
            max_per_account: 3,
            max_per_address: 10,
            max_per_email: 20,
            rate_window: Duration::from_secs(15 * 60),
            unlocks_account: true,
            expiry_reminders: true,
            reminder_interval: Duration::from_secs(3600),
        }
    }
}

/// Everything the identity core needs, assembled by the binary from the file.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// The portal's external URL, e.g. `https://portal.localhost:8443`.
    pub public_url: url::Url,
    /// False only when the operator explicitly serves plain HTTP.
    pub secure_cookies: bool,
    pub store: StoreConfig,
    pub secrets: SecretsConfig,
    pub sessions: SessionConfig,
    pub passwords: PasswordConfig,
    pub demo: DemoConfig,
    pub mfa: MfaConfig,
    /// `[oidc]`: the OpenID Connect provider and its clients.
    pub oidc: crate::oidc::config::OidcConfig,
    /// `[saml]`: the SAML identity provider and its service providers.
    pub saml: crate::saml::config::SamlConfig,
    pub mail: MailConfig,
    pub reset: ResetConfig,
    /// `[federation]`: upstream OIDC providers and SAML IdPs by email domain.
    pub federation: crate::federation::config::FederationConfig,
    /// `[admin]`: administrator roles by group, and the admin area's step-up.
    pub admin: AdminConfig,
    /// `[ldap]`: the read-only LDAP interface.
    pub ldap: crate::ldap::LdapConfig,
}

impl IdpConfig {
    /// A configuration for tests and examples: a data directory, HTTPS URL, defaults.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            public_url: url::Url::parse("https://portal.localhost")
                .unwrap_or_else(|_| unreachable!()),
            secure_cookies: true,
            store: StoreConfig {
                data_dir,
                ..StoreConfig::default()
            },
            secrets: SecretsConfig::default(),
            sessions: SessionConfig::default(),
            passwords: PasswordConfig::default(),
            demo: DemoConfig::default(),
            mfa: MfaConfig::default(),
            oidc: crate::oidc::config::OidcConfig::default(),
            saml: crate::saml::config::SamlConfig::default(),
            mail: MailConfig::default(),
            reset: ResetConfig::default(),
            federation: crate::federation::config::FederationConfig::default(),
            admin: AdminConfig::default(),
            ldap: crate::ldap::LdapConfig::default(),
        }
    }

    pub fn database_url(&self) -> String {
        self.store.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.store.data_dir.join("portcullis.db").display()
            )
        })
    }

    pub fn master_key_file(&self) -> PathBuf {
        self.secrets
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.store.data_dir.join("master.key"))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.mail
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.store.data_dir.join("outbox"))
    }

    /// Checks ranges that serde's types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.passwords;
        if p.argon2_memory_kib < 8 * 1024 {
            return Err(ConfigError::new(
                "passwords.argon2_memory_kib",
                "must be at least 8192 (8 MiB)",
            ));
        }
        if p.argon2_memory_kib > 4 * 1024 * 1024 {
            return Err(ConfigError::new(
                "passwords.argon2_memory_kib",
                "must be at most 4194304 (4 GiB)",
            ));
        }
        if !(1..=16).contains(&p.argon2_iterations) {
            return Err(ConfigError::new(
                "passwords.argon2_iterations",
                "must be between 1 and 16",
            ));
        }
        if !(1..=16).contains(&p.argon2_parallelism) {
            return Err(ConfigError::new(
                "passwords.argon2_parallelism",
                "must be between 1 and 16",
            ));
        }
        if p.hash_workers == Some(0) {
            return Err(ConfigError::new(
                "passwords.hash_workers",
                "must be at least 1",
            ));
        }
        let s = &self.sessions;
        if s.idle_timeout < Duration::from_secs(60) {
            return Err(ConfigError::new(
                "sessions.idle_timeout",
                "must be at least 1m",
            ));
        }
        if s.lifetime < s.idle_timeout {
            return Err(ConfigError::new(
                "sessions.lifetime",
                "must not be shorter than sessions.idle_timeout",
            ));
        }
        match (s.store.as_str(), &s.redis_url) {
            ("embedded", _) => {}
            ("redis", Some(u)) if u.starts_with("redis://") || u.starts_with("rediss://") => {}
            ("redis", _) => {
                return Err(ConfigError::new(
                    "sessions.redis_url",
                    "must be set to a redis:// or rediss:// URL when sessions.store = \"redis\"",
                ));
            }
            _ => {
                return Err(ConfigError::new(
                    "sessions.store",
                    "must be \"embedded\" or \"redis\"",
                ));
            }
        }
        if let Some(key) = &self.secrets.master_key {
            crate::crypto::Keys::from_base64(key)
                .map_err(|e| ConfigError::new("secrets.master_key", e.to_string()))?;
        }
        let m = &self.mfa;
        if !(15..=300).contains(&m.totp_period) {
            return Err(ConfigError::new(
                "mfa.totp_period",
                "must be between 15 and 300 seconds",
            ));
        }
        if m.passkey_reverify < Duration::from_secs(10) {
            return Err(ConfigError::new(
                "mfa.passkey_reverify",
                "must be at least 10s",
            ));
        }
        if m.totp_skew > 2 {
            return Err(ConfigError::new("mfa.totp_skew", "must be 0, 1 or 2"));
        }
        if m.issuer.trim().is_empty() || m.issuer.contains(':') || m.issuer.len() > 64 {
            return Err(ConfigError::new(
                "mfa.issuer",
                "must be 1 to 64 characters without a colon",
            ));
        }
        self.oidc.validate()?;
        self.saml.validate()?;
        self.federation.validate()?;
        self.admin.validate()?;
        self.ldap.validate()?;
        if !crate::directory::valid_email(&self.demo.email) {
            return Err(ConfigError::new("demo.email", "is not an email address"));
        }
        let mail = &self.mail;
        if mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "mail.from",
                "must be an address such as \"Portcullis <no-reply@example.com>\"",
            ));
        }
        if mail.transport == MailTransport::Smtp && mail.smtp_host.trim().is_empty() {
            return Err(ConfigError::new(
                "mail.smtp_host",
                "is required with transport = \"smtp\"",
            ));
        }
        if mail.smtp_port == 0 {
            return Err(ConfigError::new(
                "mail.smtp_port",
                "must be between 1 and 65535",
            ));
        }
        if mail.smtp_username.is_some() != mail.smtp_password.is_some() {
            return Err(ConfigError::new(
                "mail.smtp_password",
                "mail.smtp_username and mail.smtp_password go together",
            ));
        }
        if !(1..=50).contains(&mail.max_attempts) {
            return Err(ConfigError::new(
                "mail.max_attempts",
                "must be between 1 and 50",
            ));
        }
        if mail.retry_backoff < Duration::from_millis(10)
            || mail.retry_backoff > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                "mail.retry_backoff",
                "must be between 10ms and 1h",
            ));
        }
        let r = &self.reset;
        if r.token_lifetime < Duration::from_secs(60)
            || r.token_lifetime > Duration::from_secs(7 * 86_400)
        {
            return Err(ConfigError::new(
                "reset.token_lifetime",
                "must be between 1m and 7d",
            ));
        }
        if r.max_per_account == 0 {
            return Err(ConfigError::new(
                "reset.max_per_account",
                "must be at least 1",
            ));
        }
        if r.max_per_address == 0 {
            return Err(ConfigError::new(
                "reset.max_per_address",
                "must be at least 1",
            ));
        }
        if r.reminder_interval < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "reset.reminder_interval",
                "must be at least 1s",
            ));
        }
        if r.rate_window < Duration::from_secs(1) {
            return Err(ConfigError::new("reset.rate_window", "must be at least 1s"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(60))
            .contains(&self.store.acquire_timeout)
        {
            return Err(ConfigError::new(
                "store.acquire_timeout",
                "must be between 100ms and 60s",
            ));
        }
        if let Some(url) = &self.store.database_url
            && crate::store::Backend::of_url(url).is_none()
        {
            return Err(ConfigError::new(
                "store.database_url",
                "must be a sqlite: URL or a postgres:// (postgresql://) URL",
            ));
        }
        Ok(())
    }
}
