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

use crate::policy::{HealthProbe, Policy, Upstream};

/// An application and where its requests go.
pub struct Route {
    pub policy: Policy,
    /// Position among the applications, from 1 (0 is the portal), for metrics.
    pub index: usize,
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

/// The applications by host, replaceable while requests run (SIGHUP).
#[derive(Debug, Default)]
pub struct RouteTable(std::sync::RwLock<Arc<HashMap<String, Arc<Route>>>>);

impl RouteTable {
    pub fn new(routes: Vec<Route>) -> Self {
        let t = Self::default();
        t.replace(routes);
        t
    }

    /// Swaps in a new set; requests already routed keep their old route.
    pub fn replace(&self, routes: Vec<Route>) {
        let map: HashMap<_, _> = routes
            .into_iter()
            .map(|r| (r.policy.host.clone(), Arc::new(r)))
            .collect();
        if let Ok(mut guard) = self.0.write() {
            *guard = Arc::new(map);
        }
    }

    pub fn get(&self, host: &str) -> Option<Arc<Route>> {
        self.0.read().ok()?.get(host).cloned()
    }
}
