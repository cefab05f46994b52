//! The configuration file: typed, with defaults, validated at start-up. Every
//! error names the file and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use idp::config::{
    ConfigError, DemoConfig, MailConfig, MfaConfig, PasswordConfig, ResetConfig, SecretsConfig,
    SessionConfig, StoreConfig,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    store: StoreConfig,
    #[serde(default)]
    secrets: SecretsConfig,
    #[serde(default)]
    sessions: SessionConfig,
    #[serde(default)]
    passwords: PasswordConfig,
    #[serde(default)]
    demo: DemoConfig,
    #[serde(default)]
    mfa: MfaConfig,
    #[serde(default)]
    mail: MailConfig,
    #[serde(default)]
    reset: ResetConfig,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    gateway: GatewayConfig,
    #[serde(default)]
    oidc: idp::oidc::OidcConfig,
    #[serde(default)]
    saml: idp::saml::SamlConfig,
    #[serde(default)]
    federation: idp::federation::FederationConfig,
    #[serde(default)]
    admin: idp::config::AdminConfig,
    #[serde(default)]
    ldap: idp::ldap::LdapConfig,
}

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// One TOML file per protected application; relative to the config file.
    pub policies_dir: PathBuf,
    /// How long the proxy trusts a cached session check before asking the
    /// session store again: the bound on how late a revocation takes effect.
    #[serde(with = "humantime_serde")]
    pub session_cache_ttl: std::time::Duration,
    /// While the state store does not answer, a session check confirmed
    /// earlier is still trusted for this long past its TTL (one background
    /// task per session retries meanwhile); a refusal still takes effect at
    /// once. Zero: never (requests wait for the store).
    #[serde(with = "humantime_serde")]
    pub store_outage_grace: std::time::Duration,
    /// Cached session checks kept at most.
    pub session_cache_entries: usize,
    /// Where Prometheus scrapes `/metrics`; off when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// Threads serving connections, each with its own event loop; 0 means
    /// one per CPU core.
    pub threads: usize,
    /// The TLS handshake must be done this long after a connection is accepted.
    #[serde(with = "humantime_serde")]
    pub tls_handshake_timeout: std::time::Duration,
    /// An HTTP/1.1 request header must be complete this long after the
    /// connection is ready for it (handshake done, or previous answer sent);
    /// also how long a connection may sit idle without a request.
    #[serde(with = "humantime_serde")]
    pub request_header_timeout: std::time::Duration,
    /// Open client connections at most; past it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections from one client IP address at most.
    pub max_connections_per_address: usize,
}

impl GatewayConfig {
    /// The number of connection threads `threads` asks for.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The accept loop's limits.
    pub fn limits(&self) -> crate::listener::Limits {
        crate::listener::Limits {
            tls_handshake_timeout: self.tls_handshake_timeout,
            request_header_timeout: self.request_header_timeout,
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            policies_dir: PathBuf::from("policies"),
            session_cache_ttl: std::time::Duration::from_secs(1),
            store_outage_grace: std::time::Duration::from_secs(300),
            session_cache_entries: 100_000,
            metrics_listen: None,
            threads: 0,
            tls_handshake_timeout: std::time::Duration::from_secs(10),
            request_header_timeout: std::time::Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_address: 256,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The portal's external URL; its host names the development certificate.
    pub public_url: url::Url,
    /// Serve plain HTTP instead of HTTPS. For local development only: cookies
    /// lose `Secure` and the `__Host-` prefix.
    pub plain_http: bool,
    /// PEM certificate chain and key; generated development ones when absent.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: url::Url::parse("https://portal.localhost:8443")
                .unwrap_or_else(|_| unreachable!()),
            plain_http: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `info,idp=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerConfig,
    pub log: LogConfig,
    pub gateway: GatewayConfig,
    /// The validated policies from `gateway.policies_dir`.
    pub policies: Vec<crate::policy::Policy>,
    pub idp: idp::IdpConfig,
}

/// Whether the file sets `gateway.policies_dir` itself.
fn text_names_policies_dir(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("gateway")?.as_table()?.get("policies_dir").cloned())
        .is_some()
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the configuration file", path.display()))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let file: FileConfig = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => bail!("{}: {}", path.display(), e.to_string().trim_end()),
        };
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut store = file.store;
        store.data_dir = resolve(base, &store.data_dir);
        let mut secrets = file.secrets;
        secrets.master_key_file = secrets.master_key_file.map(|p| resolve(base, &p));
        let mut server = file.server;
        server.tls_cert = server.tls_cert.map(|p| resolve(base, &p));
        server.tls_key = server.tls_key.map(|p| resolve(base, &p));
        let mut gateway = file.gateway;
        // The default directory may be absent (no protected application);
        // one the operator names must exist.
        let policies_named = text_names_policies_dir(text);
        gateway.policies_dir = resolve(base, &gateway.policies_dir);
        if policies_named && !gateway.policies_dir.is_dir() {
            bail!(
                "{}: gateway.policies_dir: {} is not a readable directory",
                path.display(),
                gateway.policies_dir.display()
            );
        }
        let policies = if gateway.policies_dir.is_dir() {
            crate::policy::load_dir(&gateway.policies_dir, &server)?
        } else {
            Vec::new()
        };
        let config = Self {
            path: path.to_path_buf(),
            gateway,
            policies,
            idp: idp::IdpConfig {
                public_url: server.public_url.clone(),
                secure_cookies: !server.plain_http,
                store,
                secrets,
                sessions: file.sessions,
                passwords: file.passwords,
                demo: file.demo,
                mfa: file.mfa,
                oidc: file.oidc,
                saml: file.saml,
                mail: MailConfig {
                    outbox_dir: file.mail.outbox_dir.as_ref().map(|p| resolve(base, p)),
                    smtp_ca_file: file.mail.smtp_ca_file.as_ref().map(|p| resolve(base, p)),
                    ..file.mail
                },
                reset: file.reset,
                federation: {
                    let mut f = file.federation;
                    for p in &mut f.saml {
                        p.metadata_file = p.metadata_file.as_ref().map(|m| resolve(base, m));
                    }
                    f
                },
                admin: file.admin,
                ldap: file.ldap,
            },
            server,
            log: file.log,
        };
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        let url = &s.public_url;
        if url.host_str().is_none() || url.path() != "/" || url.query().is_some() {
            return Err(ConfigError::new(
                "server.public_url",
                "must be an origin such as https://portal.example.com (no path or query)",
            ));
        }
        match (s.plain_http, url.scheme()) {
            (false, "https") | (true, "http") => {}
            (false, _) => {
                return Err(ConfigError::new(
                    "server.public_url",
                    "must start with https:// (set server.plain_http = true to serve plain HTTP for local development)",
                ));
            }
            (true, _) => {
                return Err(ConfigError::new(
                    "server.public_url",
                    "must start with http:// when server.plain_http = true",
                ));
            }
        }
        if s.tls_cert.is_some() != s.tls_key.is_some() {
            return Err(ConfigError::new(
                "server.tls_cert",
                "tls_cert and tls_key must be set together",
            ));
        }
        for (key, p) in [
            ("server.tls_cert", &s.tls_cert),
            ("server.tls_key", &s.tls_key),
        ] {
            if let Some(p) = p
                && !p.is_file()
            {
                return Err(ConfigError::new(
                    key,
                    format!("{} is not a readable file", p.display()),
                ));
            }
        }
        if self.gateway.session_cache_ttl > std::time::Duration::from_secs(60) {
            return Err(ConfigError::new(
                "gateway.session_cache_ttl",
                "must be at most 60s: it is how late a sign-out reaches the proxy",
            ));
        }
        if self.gateway.store_outage_grace > std::time::Duration::from_secs(3600) {
            return Err(ConfigError::new(
                "gateway.store_outage_grace",
                "must be at most 1h: it is how long a session may outlive a revocation nobody could record",
            ));
        }
        if self.gateway.session_cache_entries == 0 {
            return Err(ConfigError::new(
                "gateway.session_cache_entries",
                "must be at least 1",
            ));
        }
        if self.gateway.threads > 1024 {
            return Err(ConfigError::new(
                "gateway.threads",
                "must be at most 1024 (0 means one per CPU core)",
            ));
        }
        for (key, d) in [
            (
                "gateway.tls_handshake_timeout",
                self.gateway.tls_handshake_timeout,
            ),
            (
                "gateway.request_header_timeout",
                self.gateway.request_header_timeout,
            ),
        ] {
            if d < std::time::Duration::from_millis(100) || d > std::time::Duration::from_secs(300)
            {
                return Err(ConfigError::new(key, "must be between 100ms and 5m"));
            }
        }
        if self.gateway.max_connections == 0 || self.gateway.max_connections > 1_000_000 {
            return Err(ConfigError::new(
                "gateway.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        if self.gateway.max_connections_per_address == 0
            || self.gateway.max_connections_per_address > self.gateway.max_connections
        {
            return Err(ConfigError::new(
                "gateway.max_connections_per_address",
                "must be at least 1 and at most gateway.max_connections",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::new(
                "log.format",
                "must be \"text\" or \"json\"",
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::new(
                "log.level",
                "is not a valid filter such as \"info\"",
            ));
        }
        self.idp.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse(Path::new("/etc/portcullis/config.toml"), text)
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = parse("").unwrap();
        assert_eq!(c.server.listen.port(), 8443);
        let limits = c.gateway.limits();
        assert_eq!(limits.tls_handshake_timeout.as_secs(), 10);
        assert_eq!(limits.request_header_timeout.as_secs(), 10);
        assert_eq!(limits.max_connections, 10_000);
        assert_eq!(limits.max_connections_per_address, 256);
        for url in [
            "postgres://app:pw@db:5432/portcullis",
            "postgresql://db/p",
            "sqlite://x.db",
        ] {
            let c = parse(&format!("[store]\ndatabase_url = \"{url}\"")).unwrap();
            assert_eq!(c.idp.database_url(), url);
        }
        assert_eq!(c.idp.store.data_dir, PathBuf::from("/etc/portcullis/data"));
        assert!(c.idp.secure_cookies);
        assert_eq!(c.idp.mfa.policy, idp::config::MfaPolicy::Optional);
        assert_eq!(c.idp.mfa.totp_period, 30);
        let m = parse("[mfa]\npolicy = \"required\"\nrequired_groups = [\"admins\"]\npasskey_reverify = \"1h\"")
            .unwrap()
            .idp
            .mfa;
        assert_eq!(m.policy, idp::config::MfaPolicy::Required);
        assert_eq!(m.required_groups, vec!["admins".to_string()]);
        assert_eq!(m.passkey_reverify.as_secs(), 3600);
        assert!(
            c.policies.is_empty(),
            "the default policies directory may be absent"
        );
        assert_eq!(c.idp.reset.token_lifetime.as_secs(), 3600);
        assert_eq!(
            c.idp.outbox_dir(),
            PathBuf::from("/etc/portcullis/data/outbox")
        );
        let mail = parse("[mail]\ntransport = \"smtp\"\nsmtp_tls = \"implicit\"\nsmtp_port = 465\noutbox_dir = \"out\"")
            .unwrap()
            .idp
            .mail;
        assert_eq!(mail.smtp_tls, idp::config::SmtpTls::Implicit);
        assert_eq!(mail.outbox_dir, Some(PathBuf::from("/etc/portcullis/out")));
    }

    #[test]
    fn federation_paths_are_relative_to_the_file() {
        let e = format!(
            "{:#}",
            parse("[[federation.saml]]\nid = \"s\"\nname = \"S\"\ndomains = [\"s.example\"]\nmetadata_file = \"idp.xml\"")
                .unwrap_err()
        );
        assert!(e.contains("/etc/portcullis/idp.xml"), "{e}");
        let c = parse("[[federation.oidc]]\nid = \"p\"\nname = \"P\"\ndomains = [\"p.example\"]\nissuer = \"https://p.example\"\nclient_id = \"c\"\nclient_secret = \"topsecret-value\"").unwrap();
        assert_eq!(c.idp.federation.oidc[0].domains, ["p.example"]);
        assert!(!format!("{c:?}").contains("topsecret-value"));
    }

    #[test]
    fn the_smtp_password_is_not_printed() {
        let c = parse("[mail]\nsmtp_username = \"u\"\nsmtp_password = \"hunter2-secret\"").unwrap();
        assert!(!format!("{c:?}").contains("hunter2-secret"));
    }

    #[test]
    fn the_shipped_example_and_its_policy_are_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.policies.len(), 1);
        let whoami = &c.policies[0];
        assert_eq!(whoami.origin, "https://whoami.localhost:8443");
        assert_eq!(whoami.path_prefix, "/", "the whole host by default");
        assert_eq!(whoami.base_url, whoami.origin);
        assert_eq!(whoami.access_for("/mfa/x"), crate::policy::Access::Mfa);
        assert_eq!(
            whoami.second_factor.max_age,
            Some(std::time::Duration::from_secs(300))
        );
    }

    #[test]
    fn policies_sharing_a_host_load_and_clashes_stop_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let pol = dir.path().join("policies");
        std::fs::create_dir(&pol).unwrap();
        let write = |name: &str, prefix: &str| {
            std::fs::write(
                pol.join(name),
                format!("host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\npath_prefix = \"{prefix}\"\n"),
            )
            .unwrap();
        };
        write("a.toml", "/a");
        write("b.toml", "/b");
        let file = dir.path().join("portcullis.toml");
        let text = "[gateway]\npolicies_dir = \"policies\"\n";
        let c = Config::parse(&file, text).unwrap();
        let bases: Vec<_> = c.policies.iter().map(|p| p.base_url.as_str()).collect();
        assert_eq!(
            bases,
            [
                "https://apps.localhost:8443/a",
                "https://apps.localhost:8443/b"
            ]
        );
        write("b.toml", "/a/");
        let e = format!("{:#}", Config::parse(&file, text).unwrap_err());
        assert!(
            e.contains("a.toml") && e.contains("b.toml") && e.contains("path_prefix"),
            "{e}"
        );
    }

    #[test]
    fn the_ldap_section_is_off_by_default_and_parses_when_set() {
        assert!(!parse("").unwrap().idp.ldap.enabled());
        let c = parse(
            "[ldap]\nlisten = \"127.0.0.1:6360\"\nplain_listen = \"127.0.0.1:3389\"\nallow_plain = true\nbase_dn = \"dc=example, DC=com\"\nposix = true\nidle_timeout = \"30s\"",
        )
        .unwrap();
        let l = &c.idp.ldap;
        assert!(l.enabled() && l.posix && l.allow_plain);
        assert_eq!(l.idle_timeout.as_secs(), 30);
        assert!(!l.allow_anonymous && !l.require_mfa, "off unless said");
    }

    #[test]
    fn errors_name_file_and_key() {
        for (text, key) in [
            ("[server]\nlisten = \"nope\"", "listen"),
            ("[server]\nbogus = 1", "bogus"),
            (
                "[server]\npublic_url = \"http://portal.localhost\"",
                "server.public_url",
            ),
            (
                "[server]\nplain_http = true\npublic_url = \"https://x.localhost\"",
                "server.public_url",
            ),
            (
                "[passwords]\nargon2_memory_kib = 10",
                "passwords.argon2_memory_kib",
            ),
            ("[sessions]\nidle_timeout = \"10 parsecs\"", "idle_timeout"),
            (
                "[sessions]\nidle_timeout = \"2h\"\nlifetime = \"1h\"",
                "sessions.lifetime",
            ),
            ("[secrets]\nmaster_key = \"abc\"", "secrets.master_key"),
            ("[demo]\nemail = \"nobody\"", "demo.email"),
            ("[mfa]\npolicy = \"sometimes\"", "policy"),
            ("[mfa]\ntotp_skew = 5", "mfa.totp_skew"),
            ("[mfa]\ntotp_period = 1", "mfa.totp_period"),
            ("[mfa]\nissuer = \"a:b\"", "mfa.issuer"),
            (
                "[ldap]\nplain_listen = \"127.0.0.1:3389\"",
                "ldap.plain_listen",
            ),
            ("[ldap]\nbase_dn = \"nonsense\"", "ldap.base_dn"),
            ("[ldap]\nbase_dn = \"\"", "ldap.base_dn"),
            (
                "[ldap]\nlisten = \"127.0.0.1:6360\"\nstarttls = \"127.0.0.1:6360\"",
                "ldap.starttls",
            ),
            ("[ldap]\nmax_message_bytes = 10", "ldap.max_message_bytes"),
            ("[ldap]\nidle_timeout = \"0s\"", "ldap.idle_timeout"),
            ("[ldap]\nhome_prefix = \"home\"", "ldap.home_prefix"),
            ("[ldap]\nlisten = \"nowhere\"", "listen"),
            ("[ldap]\nallow_everything = true", "allow_everything"),
            ("[mfa]\npasskey_reverify = \"1s\"", "mfa.passkey_reverify"),
            ("[log]\nformat = \"xml\"", "log.format"),
            (
                "[gateway]\nstore_outage_grace = \"2h\"",
                "gateway.store_outage_grace",
            ),
            (
                "[store]\nacquire_timeout = \"10ms\"",
                "store.acquire_timeout",
            ),
            ("[sessions]\nstore = \"memcached\"", "sessions.store"),
            ("[sessions]\nstore = \"redis\"", "sessions.redis_url"),
            (
                "[gateway]\nsession_cache_ttl = \"2m\"",
                "gateway.session_cache_ttl",
            ),
            (
                "[gateway]\nsession_cache_entries = 0",
                "gateway.session_cache_entries",
            ),
            ("[gateway]\nthreads = 5000", "gateway.threads"),
            (
                "[gateway]\ntls_handshake_timeout = \"0s\"",
                "gateway.tls_handshake_timeout",
            ),
            (
                "[gateway]\ntls_handshake_timeout = \"1h\"",
                "gateway.tls_handshake_timeout",
            ),
            (
                "[gateway]\nrequest_header_timeout = \"10ms\"",
                "gateway.request_header_timeout",
            ),
            (
                "[gateway]\nrequest_header_timeout = \"soon\"",
                "request_header_timeout",
            ),
            ("[gateway]\nmax_connections = 0", "gateway.max_connections"),
            (
                "[gateway]\nmax_connections_per_address = 0",
                "gateway.max_connections_per_address",
            ),
            (
                "[gateway]\nmax_connections = 10\nmax_connections_per_address = 11",
                "gateway.max_connections_per_address",
            ),
            (
                "[gateway]\npolicies_dir = \"missing\"",
                "gateway.policies_dir",
            ),
            ("[mail]\nfrom = \"not an address\"", "mail.from"),
            ("[mail]\ntransport = \"pigeon\"", "transport"),
            ("[mail]\nsmtp_tls = \"maybe\"", "smtp_tls"),
            ("[mail]\nsmtp_username = \"u\"", "mail.smtp_password"),
            ("[mail]\nmax_attempts = 0", "mail.max_attempts"),
            ("[reset]\ntoken_lifetime = \"1s\"", "reset.token_lifetime"),
            (
                "[store]\ndatabase_url = \"mysql://db/portcullis\"",
                "store.database_url",
            ),
            ("[reset]\nmax_per_account = 0", "reset.max_per_account"),
            ("[saml]\nclock_skew = \"1h\"", "saml.clock_skew"),
            (
                "[[saml.service_providers]]\nentity_id = \"x\"\nacs = []\napplication = \"A\"",
                "saml.service_providers[0].entity_id",
            ),
            (
                "[server]\ntls_cert = \"missing.pem\"\ntls_key = \"missing.pem\"",
                "server.tls_cert",
            ),
            (
                "[[federation.oidc]]\nid = \"x\"\nname = \"X\"\ndomains = []\nissuer = \"https://x.example\"\nclient_id = \"c\"",
                "federation.oidc[0].domains",
            ),
            (
                "[[federation.saml]]\nid = \"s\"\nname = \"S\"\ndomains = [\"s.example\"]\nmetadata_file = \"idp.xml\"",
                "federation.saml[0].metadata_file",
            ),
            (
                "[federation]\nlogin_timeout = \"1s\"",
                "federation.login_timeout",
            ),
        ] {
            let e = format!("{:#}", parse(text).unwrap_err());
            assert!(e.contains("/etc/portcullis/config.toml"), "{e}");
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
