//! `[ldap]`: the read-only LDAP interface. Off unless a listener is named.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigError;

/// `[ldap]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// LDAPS (TLS from the first byte), with the portal's certificate.
    pub listen: Option<SocketAddr>,
    /// Plain LDAP on which only the rootDSE and the StartTLS operation are
    /// answered until TLS is up.
    pub starttls: Option<SocketAddr>,
    /// Plain LDAP with no TLS at all; refused unless `allow_plain = true`.
    pub plain_listen: Option<SocketAddr>,
    pub allow_plain: bool,
    /// The suffix every entry lives under: `ou=users,<base_dn>`,
    /// `ou=groups,<base_dn>`, `ou=services,<base_dn>`.
    pub base_dn: String,
    /// Anonymous binds (and searches without a bind) read the directory
    /// basics. Off: only the rootDSE is answered before a bind.
    pub allow_anonymous: bool,
    /// Users who have an authenticator app bind with their password followed
    /// by the current 6-digit code.
    pub require_mfa: bool,
    /// Adds `posixAccount`/`posixGroup` with allocated uidNumber/gidNumber.
    pub posix: bool,
    /// `homeDirectory` is this followed by the uid.
    pub home_prefix: String,
    pub login_shell: String,
    /// The largest LDAP message accepted once bound; a larger one closes the
    /// connection. Before a bind the bound is 4 KiB.
    pub max_message_bytes: usize,
    /// Open LDAP connections at most (all listeners together); past it new
    /// ones are closed at once.
    pub max_connections: usize,
    /// A connection with no request for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Entries one search returns at most (a client's smaller size limit wins).
    pub max_entries: usize,
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            listen: None,
            starttls: None,
            plain_listen: None,
            allow_plain: false,
            base_dn: "dc=portcullis,dc=localhost".into(),
            allow_anonymous: false,
            require_mfa: false,
            posix: false,
            home_prefix: "/home/".into(),
            login_shell: "/bin/bash".into(),
            max_message_bytes: 64 * 1024,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            max_entries: 10_000,
        }
    }
}

impl LdapConfig {
    /// Whether any listener is configured.
    pub fn enabled(&self) -> bool {
        self.listen.is_some() || self.starttls.is_some() || self.plain_listen.is_some()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.plain_listen.is_some() && !self.allow_plain {
            return Err(ConfigError::new(
                "ldap.plain_listen",
                "serves passwords in clear text; set ldap.allow_plain = true to mean it",
            ));
        }
        let base = super::dn::Dn::parse(&self.base_dn).map_err(|e| {
            ConfigError::new("ldap.base_dn", format!("is not a distinguished name: {e}"))
        })?;
        if base.rdns.is_empty() {
            return Err(ConfigError::new(
                "ldap.base_dn",
                "must not be empty (e.g. \"dc=example,dc=com\")",
            ));
        }
        let addrs: Vec<(&str, SocketAddr)> = [
            ("ldap.listen", self.listen),
            ("ldap.starttls", self.starttls),
            ("ldap.plain_listen", self.plain_listen),
        ]
        .into_iter()
        .filter_map(|(k, a)| a.map(|a| (k, a)))
        .collect();
        for (i, (k, a)) in addrs.iter().enumerate() {
            if addrs[..i].iter().any(|(_, b)| b == a) {
                return Err(ConfigError::new(
                    *k,
                    format!("{a} is already used by another LDAP listener"),
                ));
            }
        }
        if !self.home_prefix.starts_with('/') {
            return Err(ConfigError::new(
                "ldap.home_prefix",
                "must be an absolute path",
            ));
        }
        if !self.login_shell.starts_with('/') {
            return Err(ConfigError::new(
                "ldap.login_shell",
                "must be an absolute path",
            ));
        }
        if !(4096..=16 * 1024 * 1024).contains(&self.max_message_bytes) {
            return Err(ConfigError::new(
                "ldap.max_message_bytes",
                "must be between 4096 and 16777216",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new(
                "ldap.max_connections",
                "must be at least 1",
            ));
        }
        if self.idle_timeout < Duration::from_secs(1) {
            return Err(ConfigError::new("ldap.idle_timeout", "must be at least 1s"));
        }
        if self.max_entries == 0 {
            return Err(ConfigError::new("ldap.max_entries", "must be at least 1"));
        }
        Ok(())
    }
}
