//! Where an application's requests go: its upstream addresses behind
//! pingora's load balancer (round robin, skipping addresses that fail the
//! policy's health check), and how to reach them (plain HTTP or TLS with the
//! policy's roots, idle connections kept for reuse).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use pingora::lb::LoadBalancer;
use pingora::lb::health_check::{HttpHealthCheck, TcpHealthCheck};
use pingora::lb::selection::RoundRobin;
use pingora::prelude::HttpPeer;
use pingora::utils::tls::WrappedX509;

use super::CookieNames;
use crate::policy::{HealthProbe, Policy, Upstream};

/// An application and where its requests go.
pub struct Route {
    pub policy: Policy,
    /// This application's metric series, from 1 (0 is the portal); out of
    /// range (not counted) for one added by a reload.
    pub index: usize,
    /// This application's cookies on its host, named once here.
    pub cookies: CookieNames,
    upstreams: Arc<LoadBalancer<RoundRobin>>,
    /// The roots from `upstream_ca`, parsed once.
    ca: Option<Arc<[WrappedX509]>>,
    /// Keeps this application's pooled upstream connections to itself:
    /// pingora's reuse key leaves out the trusted roots, so two policies with
    /// the same address and name but different `upstream_ca` would otherwise
    /// share a connection one of them never verified.
    pool_key: u64,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("policy", &self.policy.id)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Tries per selection before giving up: enough to pass every address of
/// any sensible policy once.
const MAX_SELECT: usize = 256;

impl Route {
    /// Resolves the addresses and, with a health check, starts probing them
    /// in the background for as long as the route is in use.
    pub fn new(policy: Policy, index: usize, whoami: Option<SocketAddr>) -> anyhow::Result<Self> {
        use std::net::ToSocketAddrs;
        let mut peers = Vec::new();
        for u in &policy.upstreams {
            match u {
                Upstream::Whoami => peers.extend(whoami),
                Upstream::Addr(a) => {
                    let resolved = a.to_socket_addrs().map_err(|e| {
                        anyhow::anyhow!("policy {}: upstreams: cannot resolve {a}: {e}", policy.id)
                    })?;
                    peers.extend(resolved.take(1));
                }
            }
        }
        anyhow::ensure!(
            !peers.is_empty(),
            "policy {}: upstreams: no usable address",
            policy.id
        );
        let ca = match policy.upstream_tls.as_ref().and_then(|t| t.ca.as_ref()) {
            Some(path) => Some(load_ca(path).with_context(|| {
                format!("policy {}: upstream_ca: {}", policy.id, path.display())
            })?),
            None => None,
        };
        let mut lb = LoadBalancer::<RoundRobin>::try_from_iter(peers)
            .with_context(|| format!("policy {}: upstreams", policy.id))?;
        if let Some(hc) = &policy.health_check {
            let tls = policy.upstream_tls.as_ref();
            let check: Box<dyn pingora::lb::health_check::HealthCheck + Send + Sync> = match &hc
                .probe
            {
                HealthProbe::Tcp => match tls {
                    Some(t) => TcpHealthCheck::new_tls(&t.sni),
                    None => TcpHealthCheck::new(),
                },
                HealthProbe::Http { path } => {
                    let host = tls.map_or(policy.host.as_str(), |t| t.sni.as_str());
                    let mut check = HttpHealthCheck::new(host, tls.is_some());
                    check.req.set_uri(
                        path.parse()
                            .with_context(|| format!("policy {}: health_check.path", policy.id))?,
                    );
                    if let Some(t) = tls {
                        check.peer_template.options.verify_cert = t.verify;
                        check.peer_template.options.verify_hostname = t.verify;
                        check.peer_template.options.ca = ca.clone();
                    }
                    Box::new(check)
                }
            };
            lb.set_health_check(check);
            lb.health_check_frequency = Some(hc.interval);
        }
        let upstreams = Arc::new(lb);
        if let Some(hc) = &policy.health_check {
            spawn_health_checks(Arc::downgrade(&upstreams), hc.interval, policy.id.clone());
        }
        let pool_key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            policy.id.hash(&mut h);
            h.finish()
        };
        Ok(Self {
            cookies: CookieNames::for_policy(&policy),
            policy,
            index,
            upstreams,
            ca,
            pool_key,
        })
    }

    /// The next healthy address, as a pingora peer with the policy's TLS and
    /// keep-alive settings; None when every address failed its health check.
    pub fn peer(&self) -> Option<HttpPeer> {
        let backend = self.upstreams.select(b"", MAX_SELECT)?;
        let mut peer = match &self.policy.upstream_tls {
            Some(t) => {
                let mut p = HttpPeer::new(backend.addr, true, t.sni.clone());
                p.options.verify_cert = t.verify;
                p.options.verify_hostname = t.verify;
                p.options.ca = self.ca.clone();
                p
            }
            None => HttpPeer::new(backend.addr, false, String::new()),
        };
        peer.options.idle_timeout = self.policy.upstream_idle_timeout;
        peer.group_key = self.pool_key;
        Some(peer)
    }
}

/// Probes the addresses now and then every `interval`, until the route is
/// dropped (a reload replaced it).
fn spawn_health_checks(
    lb: std::sync::Weak<LoadBalancer<RoundRobin>>,
    interval: std::time::Duration,
    app: String,
) {
    tokio::spawn(async move {
        let mut down: HashMap<SocketAddr, bool> = HashMap::new();
        loop {
            let Some(lb) = lb.upgrade() else { return };
            lb.backends().run_health_check(true).await;
            for b in lb.backends().get_backend().iter() {
                let healthy = lb.backends().ready(b);
                let Some(addr) = b.addr.as_inet().copied() else {
                    continue;
                };
                let was_down = down.insert(addr, !healthy).unwrap_or(false);
                if was_down == healthy {
                    if healthy {
                        tracing::info!(%app, upstream = %addr, "upstream healthy again");
                    } else {
                        tracing::warn!(%app, upstream = %addr, "upstream failed its health check; skipped");
                    }
                }
            }
            drop(lb);
            tokio::time::sleep(interval).await;
        }
    });
}

/// Every certificate in a PEM file, for pingora's per-peer roots.
fn load_ca(path: &std::path::Path) -> anyhow::Result<Arc<[WrappedX509]>> {
    let pem = std::fs::read(path).context("cannot read")?;
    let mut certs = Vec::new();
    for item in rustls_pemfile_certs(&pem)? {
        certs.push(WrappedX509::new(item, pingora::utils::tls::parse_x509));
    }
    anyhow::ensure!(!certs.is_empty(), "no certificate in the file");
    Ok(certs.into())
}

/// The DER of each `CERTIFICATE` block.
fn rustls_pemfile_certs(pem: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .map(|c| {
            c.map(|c| c.to_vec())
                .map_err(|e| anyhow::anyhow!("bad PEM: {e}"))
        })
        .collect()
}

/// The applications on one host, longest path prefix first.
#[derive(Debug)]
pub struct HostRoutes(Vec<Arc<Route>>);

impl HostRoutes {
    fn new(mut routes: Vec<Arc<Route>>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.policy.path_prefix.len()));
        Self(routes)
    }

    /// The application a request path belongs to: the longest prefix that
    /// matches on segment boundaries. None: no application at this path.
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.0.iter().find(|r| r.policy.covers(path))
    }

    /// The application with this policy id, if it is on this host.
    pub fn app(&self, id: &str) -> Option<&Arc<Route>> {
        self.0.iter().find(|r| r.policy.id == id)
    }
}

/// The applications by host, replaceable while requests run (SIGHUP).
#[derive(Debug, Default)]
pub struct RouteTable(std::sync::RwLock<Arc<HashMap<String, Arc<HostRoutes>>>>);

impl RouteTable {
    pub fn new(routes: Vec<Route>) -> Self {
        let t = Self::default();
        t.replace(routes);
        t
    }

    /// Swaps in a new set; requests already routed keep their old route.
    pub fn replace(&self, routes: Vec<Route>) {
        let mut by_host: HashMap<String, Vec<Arc<Route>>> = HashMap::new();
        for r in routes {
            by_host
                .entry(r.policy.host.clone())
                .or_default()
                .push(Arc::new(r));
        }
        let map = by_host
            .into_iter()
            .map(|(host, routes)| (host, Arc::new(HostRoutes::new(routes))))
            .collect();
        if let Ok(mut guard) = self.0.write() {
            *guard = Arc::new(map);
        }
    }

    /// The applications on `host`; None for the portal and unknown hosts.
    pub fn get(&self, host: &str) -> Option<Arc<HostRoutes>> {
        self.0.read().ok()?.get(host).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, host: &str, prefix: Option<&str>, index: usize) -> Route {
        let prefix = prefix.map_or(String::new(), |p| format!("path_prefix = \"{p}\"\n"));
        let policy = crate::policy::parse(
            std::path::Path::new(&format!("/p/{id}.toml")),
            &format!(
                "host = \"{host}\"\nupstreams = [\"127.0.0.1:{index}\"]\neveryone = true\n{prefix}"
            ),
            &crate::config::ServerConfig::default(),
        )
        .unwrap();
        Route::new(policy, index, None).unwrap()
    }

    fn table() -> RouteTable {
        RouteTable::new(vec![
            route("root", "apps.localhost", None, 1),
            route("a", "apps.localhost", Some("/a"), 2),
            route("deep", "apps.localhost", Some("/a/deep"), 3),
            route("b", "apps.localhost", Some("/b"), 4),
            route("solo", "solo.localhost", Some("/only"), 5),
            route("wiki", "wiki.localhost", None, 6),
        ])
    }

    fn chosen(t: &RouteTable, host: &str, path: &str) -> Option<String> {
        t.get(host)?.find(path).map(|r| r.policy.id.clone())
    }

    #[test]
    fn host_first_then_the_longest_prefix_on_segments() {
        let t = table();
        for (path, app) in [
            ("/a", "a"),
            ("/a/", "a"),
            ("/a/x", "a"),
            ("/a/deep", "deep"),
            ("/a/deep/x", "deep"),
            ("/a/deeper", "a"),
            ("/ab", "root"),
            ("/b/y", "b"),
            ("/", "root"),
            ("/c", "root"),
        ] {
            assert_eq!(
                chosen(&t, "apps.localhost", path).as_deref(),
                Some(app),
                "{path}"
            );
        }
        assert_eq!(chosen(&t, "wiki.localhost", "/a").as_deref(), Some("wiki"));
        assert!(
            t.get("portal.localhost").is_none(),
            "not an application host"
        );
    }

    #[test]
    fn no_prefix_matches_no_application() {
        let t = table();
        for path in ["/", "/onlyx", "/other", "/a/only"] {
            assert_eq!(chosen(&t, "solo.localhost", path), None, "{path}");
        }
        assert_eq!(
            chosen(&t, "solo.localhost", "/only/x").as_deref(),
            Some("solo")
        );
    }

    #[test]
    fn the_callback_picks_the_application_by_id_on_its_host_only() {
        let t = table();
        let apps = t.get("apps.localhost").unwrap();
        assert_eq!(apps.app("b").unwrap().policy.id, "b");
        assert!(apps.app("wiki").is_none(), "another host's application");
        assert!(apps.app("nope").is_none());
    }

    #[test]
    fn cookie_names_per_prefix() {
        let t = table();
        let apps = t.get("apps.localhost").unwrap();
        let root = apps.app("root").unwrap();
        assert_eq!(root.cookies.app, "__Host-portcullis_app");
        assert_eq!(root.cookies.state, "__Host-portcullis_state");
        let a = apps.app("a").unwrap();
        assert_eq!(a.cookies.app, "__Host-portcullis_app_a");
        assert_eq!(a.cookies.state, "__Host-portcullis_state_a");
        let set = a.cookies.set(&a.cookies.app, "T", None);
        assert!(set.contains("; Path=/;") && set.contains("Secure"), "{set}");
        let plain = crate::config::ServerConfig {
            plain_http: true,
            ..Default::default()
        };
        let policy = crate::policy::parse(
            std::path::Path::new("/p/b.toml"),
            "host = \"apps.localhost\"\nupstreams = [\"127.0.0.1:1\"]\neveryone = true\npath_prefix = \"/b\"\n",
            &plain,
        )
        .unwrap();
        let b = Route::new(policy, 1, None).unwrap();
        assert_eq!(b.cookies.app, "portcullis_app_b");
        assert!(!b.cookies.set(&b.cookies.app, "T", None).contains("Secure"));
    }
}
