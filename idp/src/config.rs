//! The identity core's part of the configuration file. Each section is a
//! typed struct with defaults; `validate` names the key that is wrong.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// A configuration value that is out of range, with the dotted key it belongs to.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Where the database, keys and certificates live; relative paths are
    /// resolved against the configuration file's folder.
    pub data_dir: PathBuf,
    /// Defaults to `sqlite://<data_dir>/portcullis.db`.
    pub database_url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
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
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 3600),
            remember_email: Duration::from_secs(90 * 24 * 3600),
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
    /// `[oidc]`: the OpenID Connect provider and its clients.
    pub oidc: crate::oidc::OidcConfig,
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
                database_url: None,
            },
            secrets: SecretsConfig::default(),
            sessions: SessionConfig::default(),
            passwords: PasswordConfig::default(),
            demo: DemoConfig::default(),
            oidc: crate::oidc::OidcConfig::default(),
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
        if let Some(key) = &self.secrets.master_key {
            crate::crypto::Keys::from_base64(key)
                .map_err(|e| ConfigError::new("secrets.master_key", e.to_string()))?;
        }
        self.oidc.validate()?;
        if !crate::directory::valid_email(&self.demo.email) {
            return Err(ConfigError::new("demo.email", "is not an email address"));
        }
        if let Some(url) = &self.store.database_url
            && !url.starts_with("sqlite:")
        {
            return Err(ConfigError::new(
                "store.database_url",
                "only sqlite: URLs are supported in this version",
            ));
        }
        Ok(())
    }
}
