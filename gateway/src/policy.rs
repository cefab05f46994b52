//! Per-application access policies: one TOML file per protected application
//! in `gateway.policies_dir`. Loaded and validated at start-up (and by
//! `check-config`); an error names the file, the key and the reason.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use idp::access::{Audience, SecondFactor};
use idp::request_path::{self, PathCase, PathOptions};

use crate::config::ServerConfig;

/// What a path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone; identity headers are still stripped.
    Public,
    /// A signed-in user in one of the allowed groups.
    Session,
    /// As `Session`, plus a second factor within `mfa.max_age`.
    Mfa,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    name: Option<String>,
    description: Option<String>,
    host: String,
    path_prefix: Option<String>,
    upstreams: Vec<String>,
    groups: Option<Vec<String>>,
    #[serde(default)]
    everyone: bool,
    #[serde(default = "default_access")]
    access: Access,
    #[serde(default)]
    paths: Vec<FilePath>,
    mfa: Option<FileMfa>,
    tls_cert: Option<std::path::PathBuf>,
    tls_key: Option<std::path::PathBuf>,
    headers: Option<Vec<String>>,
    health_check: Option<FileHealth>,
    #[serde(default)]
    upstream_tls: bool,
    upstream_ca: Option<std::path::PathBuf>,
    upstream_verify: Option<bool>,
    upstream_sni: Option<String>,
    #[serde(default, with = "humantime_serde::option")]
    upstream_idle_timeout: Option<Duration>,
    session: Option<FileSession>,
    path_case: Option<String>,
    #[serde(default)]
    path_parameters: bool,
    api: Option<FileApi>,
}

/// `api = { api_keys = true }`: machine access. `bearer` and `dpop` are
/// named so a policy asking for them fails at start-up instead of being
/// silently weaker than it reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApi {
    #[serde(default)]
    api_keys: bool,
    bearer: Option<bool>,
    dpop: Option<toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSession {
    #[serde(with = "humantime_serde")]
    idle: Duration,
}

/// Bounds of `session.idle`: under a minute the gateway's write-back and
/// cache lifetimes would blur the rule; beyond a day it is no override.
pub const SESSION_IDLE_MIN: Duration = Duration::from_secs(60);
pub const SESSION_IDLE_MAX: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHealth {
    kind: String,
    path: Option<String>,
    #[serde(default, with = "humantime_serde::option")]
    interval: Option<Duration>,
}

fn default_access() -> Access {
    Access::Session
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePath {
    prefix: String,
    access: Access,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMfa {
    #[serde(with = "humantime_serde")]
    max_age: Duration,
    #[serde(default)]
    methods: Vec<String>,
}

/// Where requests for an application go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `host:port` over plain HTTP.
    Addr(String),
    /// The demo `whoami` page the binary serves itself on loopback.
    Whoami,
}

/// Which identity headers the application receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user: bool,
    pub email: bool,
    pub groups: bool,
    pub assertion: bool,
}

impl IdentityHeaders {
    const NAMES: &[&str] = &["user", "email", "groups", "assertion"];
    pub const ALL: Self = Self {
        user: true,
        email: true,
        groups: true,
        assertion: true,
    };
}

/// How the gateway checks that an upstream address is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthProbe {
    /// A TCP connection (a TLS handshake with `upstream_tls`) succeeds.
    Tcp,
    /// `GET path` answers 200.
    Http { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: HealthProbe,
    pub interval: Duration,
}

/// HTTPS to the upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The name sent in SNI and checked against the certificate.
    pub sni: String,
    /// Check the certificate (chain and name). Off only for development.
    pub verify: bool,
    /// PEM roots to trust instead of the system's (a private CA).
    pub ca: Option<std::path::PathBuf>,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file name without `.toml`: the application's identifier.
    pub id: String,
    pub name: String,
    pub description: String,
    /// Lower-case host name, without port.
    pub host: String,
    /// `scheme://host[:port]` as browsers reach the application.
    pub origin: String,
    /// The path the application lives under: `/` for the whole host, else
    /// without a trailing slash. Several policies may share a host when
    /// their prefixes differ; the longest matching prefix wins.
    pub path_prefix: String,
    /// Where the application starts as a URL: the origin for prefix `/`,
    /// else origin + prefix. The assertion audience, and what `return_to`
    /// must lie inside.
    pub base_url: String,
    pub upstreams: Vec<Upstream>,
    /// Who may enter: the application's binding in the directory, which
    /// this policy owns (reconciled at start-up and reload).
    pub audience: Audience,
    /// For paths no rule matches.
    pub access: Access,
    /// Longest prefix first.
    pub paths: Vec<(String, Access)>,
    /// What `"mfa"` paths need: a second factor within `mfa.max_age`, by
    /// one of `mfa.methods` (empty: any).
    pub second_factor: SecondFactor,
    /// The operator's certificate for `host` (PEM chain and key); a
    /// generated development one when absent.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub headers: IdentityHeaders,
    /// Unhealthy addresses are skipped; none configured means always tried.
    pub health_check: Option<HealthCheck>,
    pub upstream_tls: Option<UpstreamTls>,
    /// How long an idle upstream connection is kept for reuse.
    pub upstream_idle_timeout: Option<Duration>,
    /// `session.idle`: the application cookie admits nobody after this long
    /// without a request to the application, and entering it needs a sign-in
    /// (or second factor) at most this old. None: the portal's rules only.
    pub session_idle: Option<Duration>,
    /// How the upstream compares paths; rules and prefixes match the same way.
    pub path_case: PathCase,
    /// What the application allows in paths beyond the safe default.
    pub path_options: PathOptions,
    /// Machine access the application accepts besides the cookie.
    pub api: ApiAccess,
}

/// `api`: which credentials other than the browser cookie a policy accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiAccess {
    /// Personal API keys (`Authorization: Bearer pcl_...`, or Basic with the
    /// key as password).
    pub api_keys: bool,
}

/// Second-factor methods a policy may name (RFC 8176 `amr` values).
const MFA_METHODS: &[&str] = &["otp", "hwk", "swk", "sms", "pop"];

impl Policy {
    /// The rule for a request path (normalised by [`request_path::normalize`]):
    /// the longest matching prefix, on segment boundaries, so `/admin`
    /// covers `/admin/x` but not `/administrator`.
    pub fn access_for(&self, path: &str) -> Access {
        for (prefix, access) in &self.paths {
            if request_path::in_prefix(prefix, path, self.path_case) {
                return *access;
            }
        }
        self.access
    }

    /// The second factor a path needs, if any.
    pub fn required_proof(&self, access: Access) -> Option<&SecondFactor> {
        (access == Access::Mfa).then_some(&self.second_factor)
    }

    /// Whether a request path (normalised) belongs to this application on
    /// its host.
    pub fn covers(&self, path: &str) -> bool {
        request_path::in_prefix(&self.path_prefix, path, self.path_case)
    }

    /// What the portal tile opens: the application's own start page.
    pub fn launch_url(&self) -> String {
        if self.path_prefix == "/" {
            format!("{}/", self.origin)
        } else {
            self.base_url.clone()
        }
    }
}

/// A `path_prefix` value, normalised (no trailing slash but for `/`).
fn parse_path_prefix(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err("must be a path starting with '/', such as \"/grafana\"".into());
    }
    if let Some(bad) = ["?", "#", "..", "//"].iter().find(|b| raw.contains(*b)) {
        return Err(format!("must not contain {bad:?}"));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let raw = &normal_rule(raw)?;
    let trimmed = raw.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

/// A prefix in a policy in the form requests are matched in: a rule written
/// `/%6dfa` or `/a//b` means `/mfa` or `/a/b`. One that has no normal form
/// (`/a/../b`, `/a%2fb`) is refused: no request could ever match it.
fn normal_rule(raw: &str) -> Result<String, String> {
    let opts = PathOptions { parameters: true };
    match request_path::normalize(raw, opts) {
        Ok(n) => Ok(n.into_owned()),
        Err(why) => Err(format!("is not a usable path: {why}")),
    }
}

/// Loads every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path, server: &ServerConfig) -> anyhow::Result<Vec<Policy>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => bail!("gateway.policies_dir: cannot read {}: {e}", dir.display()),
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut policies: Vec<Policy> = Vec::new();
    let mut loaded: Vec<std::path::PathBuf> = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => bail!("{}: cannot read: {e}", file.display()),
        };
        let policy = parse(&file, &text, server)?;
        for (other, other_file) in policies.iter().zip(&loaded) {
            if other.host != policy.host {
                continue;
            }
            if other.path_prefix == policy.path_prefix {
                bail!(
                    "{}: host: {} with path_prefix {:?} is already protected by {}",
                    file.display(),
                    policy.host,
                    policy.path_prefix,
                    other_file.display()
                );
            }
            // One certificate per host: SNI knows the host, not the path.
            if other.tls != policy.tls {
                bail!(
                    "{}: tls_cert: the host {} is shared with {}, which names a different \
                     certificate (policies sharing a host must name the same tls_cert and tls_key, or none)",
                    file.display(),
                    policy.host,
                    other_file.display()
                );
            }
        }
        policies.push(policy);
        loaded.push(file);
    }
    Ok(policies)
}

/// Parses and validates one policy file.
pub fn parse(file: &Path, text: &str, server: &ServerConfig) -> anyhow::Result<Policy> {
    let f: FilePolicy = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => bail!("{}: {}", file.display(), e.to_string().trim_end()),
    };
    let err = |key: &str, reason: String| anyhow::anyhow!("{}: {key}: {reason}", file.display());
    let id = file
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| {
            err(
                "(file name)",
                "must be letters, digits, '-' or '_' followed by .toml".into(),
            )
        })?
        .to_string();
    let host = f.host.trim().to_ascii_lowercase();
    let portal_host = server.public_url.host_str().unwrap_or_default();
    if host.is_empty() || host.contains([':', '/', '@', ' ']) || url::Host::parse(&host).is_err() {
        return Err(err(
            "host",
            "must be a host name such as wiki.example.com (no scheme or port)".into(),
        ));
    }
    if host == portal_host {
        return Err(err(
            "host",
            "is the portal's own host (server.public_url)".into(),
        ));
    }
    if f.upstreams.is_empty() {
        return Err(err("upstreams", "must name at least one address".into()));
    }
    let mut upstreams = Vec::new();
    for u in &f.upstreams {
        if u == "builtin:whoami" {
            upstreams.push(Upstream::Whoami);
            continue;
        }
        let ok = u
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(err(
                "upstreams",
                format!("{u:?} is not host:port (or \"builtin:whoami\")"),
            ));
        }
        upstreams.push(Upstream::Addr(u.clone()));
    }
    let path_prefix = match &f.path_prefix {
        None => "/".to_string(),
        Some(raw) => parse_path_prefix(raw).map_err(|reason| err("path_prefix", reason))?,
    };
    let path_case = match f.path_case.as_deref() {
        None | Some("sensitive") => PathCase::Sensitive,
        Some("insensitive") => PathCase::Insensitive,
        Some(other) => {
            return Err(err(
                "path_case",
                format!("{other:?} is not \"sensitive\" or \"insensitive\""),
            ));
        }
    };
    let mut paths = Vec::new();
    for (i, p) in f.paths.iter().enumerate() {
        if !p.prefix.starts_with('/') || p.prefix.contains(['?', '#']) {
            return Err(err(
                &format!("paths[{i}].prefix"),
                "must be a path starting with '/'".into(),
            ));
        }
        let prefix =
            normal_rule(&p.prefix).map_err(|reason| err(&format!("paths[{i}].prefix"), reason))?;
        // Rules stay absolute paths; one outside the application could
        // never apply, which is surely a mistake worth stopping for.
        if !request_path::in_prefix(&path_prefix, &prefix, path_case) {
            return Err(err(
                &format!("paths[{i}].prefix"),
                format!("{:?} is outside path_prefix {path_prefix:?}", p.prefix),
            ));
        }
        paths.push((prefix, p.access));
    }
    paths.sort_by_key(|(p, _)| std::cmp::Reverse(p.trim_end_matches('/').len()));
    let audience = match (f.everyone, f.groups) {
        (true, None) => Audience::Everyone,
        (true, Some(_)) => {
            return Err(err(
                "everyone",
                "lets every signed-in user in; remove groups, or remove everyone to admit only those groups".into(),
            ));
        }
        (false, Some(g)) if !g.is_empty() => {
            if let Some(bad) = g
                .iter()
                .find(|g| g.trim().is_empty() || g.trim() != g.as_str())
            {
                return Err(err("groups", format!("{bad:?} is not a group name")));
            }
            Audience::Groups(g)
        }
        (false, _) => {
            return Err(err(
                "groups",
                "names nobody who may enter: list the groups (groups = [\"Staff\"]), \
                 or let every signed-in user in with everyone = true"
                    .into(),
            ));
        }
    };
    let needs_mfa = f.access == Access::Mfa || paths.iter().any(|(_, a)| *a == Access::Mfa);
    let (mfa_max_age, mfa_methods) = match &f.mfa {
        Some(m) => {
            if m.max_age < Duration::from_secs(30) {
                return Err(err("mfa.max_age", "must be at least 30s".into()));
            }
            if let Some(bad) = m
                .methods
                .iter()
                .find(|x| !MFA_METHODS.contains(&x.as_str()))
            {
                return Err(err(
                    "mfa.methods",
                    format!("{bad:?} is not one of {}", MFA_METHODS.join(", ")),
                ));
            }
            (m.max_age, m.methods.clone())
        }
        None if needs_mfa => {
            return Err(err(
                "mfa",
                "is required when a path has access = \"mfa\" (mfa = { max_age = \"10m\" })".into(),
            ));
        }
        None => (Duration::from_secs(600), Vec::new()),
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let tls = match (&f.tls_cert, &f.tls_key) {
        (None, None) => None,
        (Some(c), Some(k)) => {
            let (c, k) = (base.join(c), base.join(k));
            for (key, p) in [("tls_cert", &c), ("tls_key", &k)] {
                if !p.is_file() {
                    return Err(err(key, format!("{} is not a readable file", p.display())));
                }
            }
            Some((c, k))
        }
        _ => {
            return Err(err(
                "tls_cert",
                "tls_cert and tls_key must be set together".into(),
            ));
        }
    };
    let headers = match &f.headers {
        None => IdentityHeaders::ALL,
        Some(list) => {
            if let Some(bad) = list
                .iter()
                .find(|h| !IdentityHeaders::NAMES.contains(&h.as_str()))
            {
                return Err(err(
                    "headers",
                    format!(
                        "{bad:?} is not one of {}",
                        IdentityHeaders::NAMES.join(", ")
                    ),
                ));
            }
            let has = |n: &str| list.iter().any(|h| h == n);
            IdentityHeaders {
                user: has("user"),
                email: has("email"),
                groups: has("groups"),
                assertion: has("assertion"),
            }
        }
    };
    let health_check = match &f.health_check {
        None => None,
        Some(h) => {
            let probe = match (h.kind.as_str(), &h.path) {
                ("tcp", None) => HealthProbe::Tcp,
                ("tcp", Some(_)) => {
                    return Err(err(
                        "health_check.path",
                        "only applies to kind = \"http\"".into(),
                    ));
                }
                ("http", path) => {
                    let path = path.clone().unwrap_or_else(|| "/".into());
                    if !path.starts_with('/')
                        || path.chars().any(|c| c.is_whitespace() || c.is_control())
                    {
                        return Err(err(
                            "health_check.path",
                            "must be a path starting with '/'".into(),
                        ));
                    }
                    HealthProbe::Http { path }
                }
                (other, _) => {
                    return Err(err(
                        "health_check.kind",
                        format!("{other:?} is not \"tcp\" or \"http\""),
                    ));
                }
            };
            let interval = h.interval.unwrap_or(Duration::from_secs(5));
            if interval < Duration::from_secs(1) || interval > Duration::from_secs(3600) {
                return Err(err(
                    "health_check.interval",
                    "must be between 1s and 1h".into(),
                ));
            }
            Some(HealthCheck { probe, interval })
        }
    };
    let upstream_tls = if f.upstream_tls {
        if upstreams.contains(&Upstream::Whoami) {
            return Err(err(
                "upstream_tls",
                "the built-in whoami page speaks plain HTTP".into(),
            ));
        }
        let sni = match &f.upstream_sni {
            Some(n) => n.trim().to_ascii_lowercase(),
            // The first address's host: what its certificate most likely names.
            None => f.upstreams[0]
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']).to_ascii_lowercase())
                .unwrap_or_default(),
        };
        if sni.is_empty() || url::Host::parse(&sni).is_err() {
            return Err(err("upstream_sni", format!("{sni:?} is not a host name")));
        }
        let ca = match &f.upstream_ca {
            None => None,
            Some(c) => {
                let c = base.join(c);
                if !c.is_file() {
                    return Err(err(
                        "upstream_ca",
                        format!("{} is not a readable file", c.display()),
                    ));
                }
                Some(c)
            }
        };
        Some(UpstreamTls {
            sni,
            verify: f.upstream_verify.unwrap_or(true),
            ca,
        })
    } else {
        for (set, key) in [
            (f.upstream_ca.is_some(), "upstream_ca"),
            (f.upstream_verify.is_some(), "upstream_verify"),
            (f.upstream_sni.is_some(), "upstream_sni"),
        ] {
            if set {
                return Err(err(key, "only applies with upstream_tls = true".into()));
            }
        }
        None
    };
    if let Some(t) = f.upstream_idle_timeout
        && (t < Duration::from_secs(1) || t > Duration::from_secs(3600))
    {
        return Err(err(
            "upstream_idle_timeout",
            "must be between 1s and 1h".into(),
        ));
    }
    let session_idle = f.session.as_ref().map(|s| s.idle);
    if let Some(idle) = session_idle
        && !(SESSION_IDLE_MIN..=SESSION_IDLE_MAX).contains(&idle)
    {
        return Err(err("session.idle", "must be between 1m and 24h".into()));
    }
    let api = match &f.api {
        None => ApiAccess::default(),
        Some(a) => {
            if a.bearer == Some(true) {
                return Err(err(
                    "api.bearer",
                    "is not supported yet: only api_keys = true is (remove bearer)".into(),
                ));
            }
            if a.dpop.is_some() {
                return Err(err(
                    "api.dpop",
                    "is not supported yet: only api_keys = true is (remove dpop)".into(),
                ));
            }
            ApiAccess {
                api_keys: a.api_keys,
            }
        }
    };
    let scheme = if server.plain_http { "http" } else { "https" };
    let origin = match server.public_url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    let base_url = if path_prefix == "/" {
        origin.clone()
    } else {
        format!("{origin}{path_prefix}")
    };
    Ok(Policy {
        name: f.name.unwrap_or_else(|| id.clone()),
        description: f.description.unwrap_or_default(),
        id,
        host,
        origin,
        path_prefix,
        base_url,
        upstreams,
        audience,
        access: f.access,
        paths,
        second_factor: SecondFactor {
            max_age: Some(mfa_max_age),
            methods: mfa_methods,
        },
        tls,
        headers,
        health_check,
        upstream_tls,
        upstream_idle_timeout: f.upstream_idle_timeout,
        session_idle,
        path_case,
        path_options: PathOptions {
            parameters: f.path_parameters,
        },
        api,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerConfig {
        ServerConfig::default()
    }

    fn parse_ok(text: &str) -> Policy {
        parse(Path::new("/p/wiki.toml"), text, &server()).unwrap()
    }

    #[test]
    fn paths_match_longest_prefix_on_segments() {
        let p = parse_ok(
            r#"
host = "Wiki.Localhost"
upstreams = ["127.0.0.1:9000"]
groups = ["Staff"]
mfa = { max_age = "5m", methods = ["otp"] }
paths = [
  { prefix = "/public", access = "public" },
  { prefix = "/admin", access = "mfa" },
  { prefix = "/admin/help", access = "public" },
]
"#,
        );
        assert_eq!(p.host, "wiki.localhost");
        assert_eq!(p.origin, "https://wiki.localhost:8443");
        assert_eq!(p.access_for("/"), Access::Session);
        assert_eq!(p.access_for("/public"), Access::Public);
        assert_eq!(p.access_for("/public/x.css"), Access::Public);
        assert_eq!(p.access_for("/publicity"), Access::Session);
        assert_eq!(p.access_for("/admin/users"), Access::Mfa);
        assert_eq!(p.access_for("/admin/help/x"), Access::Public);
        assert_eq!(p.audience, Audience::Groups(vec!["Staff".into()]));
        assert_eq!(p.second_factor.max_age, Some(Duration::from_secs(300)));
    }

    #[test]
    fn who_may_enter_is_said_explicitly() {
        let text = |extra: &str| {
            format!("host = \"wiki.localhost\"\nupstreams = [\"127.0.0.1:9000\"]\n{extra}\n")
        };
        let every = parse(
            Path::new("/p/wiki.toml"),
            &text("everyone = true"),
            &server(),
        )
        .unwrap();
        assert_eq!(every.audience, Audience::Everyone);
        let staff = parse(
            Path::new("/p/wiki.toml"),
            &text("groups = [\"Staff\"]"),
            &server(),
        )
        .unwrap();
        assert_eq!(staff.audience, Audience::Groups(vec!["Staff".into()]));
        for (extra, key) in [
            ("", "groups"),
            ("groups = []", "groups"),
            ("groups = [\" \"]", "groups"),
            ("everyone = true\ngroups = [\"Staff\"]", "everyone"),
            ("everyone = false", "groups"),
        ] {
            let e = parse(Path::new("/p/wiki.toml"), &text(extra), &server())
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("wiki.toml: {key}:")), "{extra:?}: {e}");
        }
    }

    #[test]
    fn case_insensitive_upstreams_get_rules_without_case() {
        let text = |case: &str| {
            format!(
                "host = \"wiki.localhost\"\nupstreams = [\"127.0.0.1:9000\"]\neveryone = true\n{case}\
                 mfa = {{ max_age = \"5m\" }}\npaths = [{{ prefix = \"/Admin\", access = \"mfa\" }}]\n"
            )
        };
        let strict = parse_ok(&text(""));
        assert_eq!(strict.path_case, PathCase::Sensitive, "the default");
        assert_eq!(strict.access_for("/Admin/x"), Access::Mfa);
        assert_eq!(strict.access_for("/admin/x"), Access::Session);
        let loose = parse_ok(&text("path_case = \"insensitive\"\n"));
        for p in ["/admin/x", "/ADMIN", "/aDmIn/y"] {
            assert_eq!(loose.access_for(p), Access::Mfa, "{p}");
        }
        assert_eq!(loose.access_for("/admins"), Access::Session);
        let err = parse(
            Path::new("/p/wiki.toml"),
            &text("path_case = \"maybe\"\n"),
            &server(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("path_case") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn rules_are_kept_in_the_form_requests_are_matched_in() {
        let p = parse_ok(
            "host = \"wiki.localhost\"\nupstreams = [\"127.0.0.1:9000\"]\neveryone = true\npath_prefix = \"/%61pp\"\n\
             paths = [{ prefix = \"/app//%6dfa\", access = \"public\" }, { prefix = \"/app/a%20b\", access = \"public\" }]\n",
        );
        assert_eq!(p.path_prefix, "/app");
        assert_eq!(p.access_for("/app/mfa/x"), Access::Public);
        assert_eq!(p.access_for("/app/a%20b"), Access::Public);
        for (rule, key) in [
            (
                "paths = [{ prefix = \"/a%2fb\", access = \"public\" }]",
                "paths[0].prefix",
            ),
            (
                "paths = [{ prefix = \"/a/./b\", access = \"public\" }]",
                "paths[0].prefix",
            ),
            (
                "paths = [{ prefix = \"/a\\\\b\", access = \"public\" }]",
                "paths[0].prefix",
            ),
            ("path_prefix = \"/a%2fb\"", "path_prefix"),
        ] {
            let text = format!(
                "host = \"wiki.localhost\"\nupstreams = [\"127.0.0.1:9000\"]\neveryone = true\n{rule}\n"
            );
            let e = parse(Path::new("/p/wiki.toml"), &text, &server())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(key) && e.contains("not a usable path"),
                "{rule}: {e}"
            );
        }
        let params = parse_ok(
            "host = \"wiki.localhost\"\nupstreams = [\"127.0.0.1:9000\"]\neveryone = true\npath_parameters = true\n",
        );
        assert!(params.path_options.parameters);
        assert!(!p.path_options.parameters, "off unless asked for");
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        for (text, key) in [
            ("host = \"wiki.localhost\"", "upstreams"),
            ("host = \"wiki.localhost\"\nupstreams = []", "upstreams"),
            (
                "host = \"wiki.localhost\"\nupstreams = [\"nope\"]\neveryone = true",
                "upstreams",
            ),
            (
                "host = \"https://wiki\"\nupstreams = [\"a:1\"]\neveryone = true",
                "host",
            ),
            (
                "host = \"portal.localhost\"\nupstreams = [\"a:1\"]\neveryone = true",
                "host",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nbogus = 1",
                "bogus",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\naccess = \"mfa\"",
                "mfa",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nmfa = { max_age = \"5m\", methods = [\"carrier-pigeon\"] }",
                "mfa.methods",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nmfa = { max_age = \"soon\" }",
                "max_age",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npaths = [{ prefix = \"x\", access = \"public\" }]",
                "paths[0].prefix",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npaths = [{ prefix = \"/x\", access = \"open\" }]",
                "access",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\ntls_cert = \"w.pem\"",
                "tls_cert",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\ntls_cert = \"w.pem\"\ntls_key = \"w-key.pem\"",
                "tls_cert",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nheaders = [\"user\", \"password\"]",
                "headers",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nhealth_check = { kind = \"ping\" }",
                "health_check.kind",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nhealth_check = { kind = \"http\", path = \"healthz\" }",
                "health_check.path",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nhealth_check = { kind = \"tcp\", path = \"/\" }",
                "health_check.path",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nhealth_check = { kind = \"tcp\", interval = \"10ms\" }",
                "health_check.interval",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nhealth_check = { kind = \"tcp\", every = \"1s\" }",
                "every",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nupstream_ca = \"ca.pem\"",
                "upstream_ca",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nupstream_verify = false",
                "upstream_verify",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nupstream_tls = true\nupstream_ca = \"missing.pem\"",
                "upstream_ca",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"builtin:whoami\"]\neveryone = true\nupstream_tls = true",
                "upstream_tls",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nupstream_tls = true\nupstream_sni = \"bad name\"",
                "upstream_sni",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nupstream_idle_timeout = \"2h\"",
                "upstream_idle_timeout",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = { idle = \"30s\" }",
                "session.idle",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = { idle = \"25h\" }",
                "session.idle",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = { idle = \"15m\", absolute = \"1h\" }",
                "absolute",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = { idle = \"a while\" }",
                "idle",
            ),
            (
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = {}",
                "idle",
            ),
        ] {
            let e = format!(
                "{:#}",
                parse(Path::new("/p/wiki.toml"), text, &server()).unwrap_err()
            );
            assert!(e.contains("/p/wiki.toml"), "{e}");
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn operator_certificates_resolve_beside_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let dev = crate::tls::ensure_dev_certs(dir.path(), "w.localhost").unwrap();
        let file = dir.path().join("w.toml");
        let text = format!(
            "host = \"w.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\ntls_cert = \"certs/{}\"\ntls_key = \"certs/{}\"\n",
            dev.cert.file_name().unwrap().to_str().unwrap(),
            dev.key.file_name().unwrap().to_str().unwrap(),
        );
        let p = parse(&file, &text, &server()).unwrap();
        let (cert, key) = p.tls.clone().unwrap();
        assert_eq!(cert, dev.cert);
        crate::tls::certified_key(&cert, &key).unwrap();
    }

    #[test]
    fn upstream_settings_have_safe_defaults() {
        let p = parse_ok(
            "host = \"w.localhost\"\nupstreams = [\"App.Internal:8443\"]\neveryone = true\n",
        );
        assert_eq!(p.headers, IdentityHeaders::ALL);
        assert_eq!(p.health_check, None);
        assert_eq!(p.upstream_tls, None);
        let p = parse_ok(
            "host = \"w.localhost\"\nupstreams = [\"App.Internal:8443\"]\neveryone = true\nupstream_tls = true\n\
             headers = [\"email\", \"assertion\"]\nhealth_check = { kind = \"http\", path = \"/healthz\" }\n\
             upstream_idle_timeout = \"30s\"\n",
        );
        assert_eq!(
            p.upstream_tls,
            Some(UpstreamTls {
                sni: "app.internal".into(),
                verify: true,
                ca: None
            })
        );
        assert!(!p.headers.user && p.headers.email && !p.headers.groups && p.headers.assertion);
        assert_eq!(
            p.health_check,
            Some(HealthCheck {
                probe: HealthProbe::Http {
                    path: "/healthz".into()
                },
                interval: Duration::from_secs(5)
            })
        );
        assert_eq!(p.upstream_idle_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn api_keys_are_opt_in_and_the_rest_is_refused_by_name() {
        let base = "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\n";
        assert!(!parse_ok(base).api.api_keys);
        assert!(
            parse_ok(&format!("{base}api = {{ api_keys = true }}"))
                .api
                .api_keys
        );
        assert!(
            !parse_ok(&format!("{base}api = {{ bearer = false }}"))
                .api
                .api_keys
        );
        for (extra, key) in [
            ("api = { api_keys = true, bearer = true }", "api.bearer"),
            ("api = { dpop = \"required\" }", "api.dpop"),
            ("api = { api_key = true }", "api_key"),
        ] {
            let e = parse(
                Path::new("/p/wiki.toml"),
                &format!("{base}{extra}"),
                &server(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("/p/wiki.toml") && e.contains(key),
                "{extra}: {e}"
            );
        }
    }

    #[test]
    fn session_idle_override() {
        let p = parse_ok(
            "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = { idle = \"15m\" }\n",
        );
        assert_eq!(p.session_idle, Some(Duration::from_secs(900)));
        for edge in ["1m", "24h"] {
            let p = parse_ok(&format!(
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\nsession = {{ idle = \"{edge}\" }}\n"
            ));
            assert!(p.session_idle.is_some(), "{edge} is allowed");
        }
        let p = parse_ok("host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\n");
        assert_eq!(p.session_idle, None, "none unless asked for");
    }

    #[test]
    fn duplicate_hosts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.toml", "b.toml"] {
            std::fs::write(
                dir.path().join(name),
                "host = \"w.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\n",
            )
            .unwrap();
        }
        let e = format!("{:#}", load_dir(dir.path(), &server()).unwrap_err());
        assert!(
            e.contains("b.toml") && e.contains("a.toml") && e.contains("host"),
            "{e}"
        );
    }

    #[test]
    fn path_prefix_defaults_to_the_whole_host_and_is_normalised() {
        let p = parse_ok("host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\n");
        assert_eq!(p.path_prefix, "/");
        assert_eq!(p.base_url, "https://w.localhost:8443");
        assert_eq!(p.launch_url(), "https://w.localhost:8443/");
        for (raw, want) in [
            ("/", "/"),
            ("/grafana", "/grafana"),
            ("/grafana/", "/grafana"),
            ("/tools/wiki/", "/tools/wiki"),
        ] {
            let p = parse_ok(&format!(
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npath_prefix = \"{raw}\"\n"
            ));
            assert_eq!(p.path_prefix, want, "{raw}");
        }
        let p = parse_ok(
            "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npath_prefix = \"/grafana/\"\n",
        );
        assert_eq!(p.base_url, "https://w.localhost:8443/grafana");
        assert_eq!(p.launch_url(), "https://w.localhost:8443/grafana");
        assert!(p.covers("/grafana") && p.covers("/grafana/") && p.covers("/grafana/d/1"));
        assert!(!p.covers("/grafana2") && !p.covers("/") && !p.covers("/wiki"));
    }

    #[test]
    fn bad_path_prefixes_are_refused_by_name() {
        for bad in [
            "grafana", "", "/a?b", "/a#b", "/a/../b", "/..", "//a", "/a//b", "/a\\tb", "/a b",
        ] {
            let text = format!(
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npath_prefix = \"{bad}\"\n"
            );
            let e = format!(
                "{:#}",
                parse(Path::new("/p/wiki.toml"), &text, &server()).unwrap_err()
            );
            assert!(
                e.contains("/p/wiki.toml") && e.contains("path_prefix"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn path_rules_must_lie_inside_the_prefix() {
        let p = parse_ok(
            "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npath_prefix = \"/wiki\"\n\
             paths = [{ prefix = \"/wiki/public\", access = \"public\" }, { prefix = \"/wiki\", access = \"session\" }]\n",
        );
        assert_eq!(p.access_for("/wiki/public/x"), Access::Public);
        assert_eq!(p.access_for("/wiki/page"), Access::Session);
        for outside in ["/public", "/", "/wikipedia", "/other/wiki"] {
            let text = format!(
                "host = \"w.localhost\"\nupstreams = [\"a:1\"]\neveryone = true\npath_prefix = \"/wiki\"\n\
                 paths = [{{ prefix = \"/wiki/x\", access = \"public\" }}, {{ prefix = \"{outside}\", access = \"public\" }}]\n"
            );
            let e = format!(
                "{:#}",
                parse(Path::new("/p/wiki.toml"), &text, &server()).unwrap_err()
            );
            assert!(
                e.contains("paths[1].prefix") && e.contains("outside path_prefix"),
                "{outside}: {e}"
            );
        }
    }

    fn write_policies(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_host_is_shared_by_prefix_but_not_twice_with_one_prefix() {
        let dir = write_policies(&[
            (
                "a.toml",
                "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\npath_prefix = \"/a\"\n",
            ),
            (
                "b.toml",
                "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:2\"]\neveryone = true\npath_prefix = \"/b\"\n",
            ),
            (
                "root.toml",
                "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:3\"]\neveryone = true\n",
            ),
        ]);
        let ps = load_dir(dir.path(), &server()).unwrap();
        let prefixes: Vec<_> = ps.iter().map(|p| p.path_prefix.as_str()).collect();
        assert_eq!(prefixes, ["/a", "/b", "/"]);

        let dir = write_policies(&[
            (
                "a.toml",
                "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\npath_prefix = \"/a\"\n",
            ),
            (
                "b.toml",
                "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:2\"]\neveryone = true\npath_prefix = \"/a/\"\n",
            ),
        ]);
        let e = format!("{:#}", load_dir(dir.path(), &server()).unwrap_err());
        assert!(
            e.contains("a.toml") && e.contains("b.toml") && e.contains("path_prefix"),
            "{e}"
        );
    }

    #[test]
    fn a_shared_host_has_one_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let dev = crate::tls::ensure_dev_certs(dir.path(), "apps.localhost").unwrap();
        let cert = format!(
            "tls_cert = \"certs/{}\"\ntls_key = \"certs/{}\"\n",
            dev.cert.file_name().unwrap().to_str().unwrap(),
            dev.key.file_name().unwrap().to_str().unwrap(),
        );
        let a = format!(
            "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\npath_prefix = \"/a\"\n{cert}"
        );
        let b = |extra: &str| {
            format!(
                "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:2\"]\neveryone = true\npath_prefix = \"/b\"\n{extra}"
            )
        };
        std::fs::write(dir.path().join("a.toml"), &a).unwrap();
        std::fs::write(dir.path().join("b.toml"), b(&cert)).unwrap();
        assert_eq!(
            load_dir(dir.path(), &server()).unwrap().len(),
            2,
            "the same one"
        );

        let other = crate::tls::ensure_dev_certs(dir.path(), "other.localhost").unwrap();
        for extra in [
            String::new(),
            format!(
                "tls_cert = \"certs/{}\"\ntls_key = \"certs/{}\"\n",
                other.cert.file_name().unwrap().to_str().unwrap(),
                other.key.file_name().unwrap().to_str().unwrap(),
            ),
        ] {
            std::fs::write(dir.path().join("b.toml"), b(&extra)).unwrap();
            let e = format!("{:#}", load_dir(dir.path(), &server()).unwrap_err());
            assert!(
                e.contains("b.toml") && e.contains("a.toml") && e.contains("tls_cert"),
                "{e}"
            );
        }
    }
}
