//! The accept loop, with the limits that keep slow or greedy clients from
//! holding every connection (issue 14, defect 4):
//!
//! - `gateway.max_connections` open connections in all, and
//!   `gateway.max_connections_per_address` from one client address; a
//!   connection past either is closed at once, before its TLS handshake;
//! - `gateway.tls_handshake_timeout`: the TLS handshake must be done this
//!   long after the connection was accepted (pingora's own bound is 60 s);
//! - `gateway.request_header_timeout`: an HTTP/1.1 request's header must be
//!   complete this long after the connection was ready for it (the handshake
//!   done, or the previous answer sent). pingora's read timer restarts with
//!   every byte, so a header sent one line every few seconds held the
//!   connection forever. The same bound ends a keep-alive connection idle
//!   that long; an HTTP/2 connection without a stream open closes after it
//!   too (pingora's `h2_idle_timeout`).
//!
//! This is pingora's own accept loop (`Service::run_endpoint`) with those
//! checks added: accept on one event loop, serve each connection on a
//! randomly chosen one of `gateway.threads`, the TLS handshake by pingora's
//! rustls acceptor and the HTTP by pingora's proxy.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::listeners::tls::Acceptor;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest, Stream};
use pingora::server::ShutdownWatch;
use tokio::sync::oneshot;

/// The connection limits, from `[gateway]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub tls_handshake_timeout: Duration,
    pub request_header_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

/// Open connections, in all and by client address.
#[derive(Debug)]
struct Counts {
    max_total: usize,
    max_per_address: usize,
    inner: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Counts {
    fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections,
            max_per_address: limits.max_connections_per_address,
            inner: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for a connection from `ip`, or why there is none.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_ip) = &mut *guard;
        if *total >= self.max_total {
            return Err("gateway.max_connections");
        }
        let n = by_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_address {
            return Err("gateway.max_connections_per_address");
        }
        *n += 1;
        *total += 1;
        Ok(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.counts.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_ip) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

/// Handed to the proxy with each HTTP/1.1 request before its header is read;
/// the proxy's `on_connection_reuse` hook (called once the header is in)
/// fires it. See [`header_arrived`].
pub struct HeaderArrived(oneshot::Sender<()>);

/// Called by the proxy for the context it was handed before the request
/// header was read: ends that request's header deadline. Other values are
/// none of ours and are ignored.
pub fn header_arrived(ctx: Box<dyn Any + Send + Sync>) {
    if let Ok(arrived) = ctx.downcast::<HeaderArrived>() {
        let _ = arrived.0.send(());
    }
}

/// pingora's HTTP application (the proxy) with a deadline for each HTTP/1.1
/// request header.
pub struct Deadlines<A> {
    inner: Arc<A>,
    header_timeout: Duration,
    options: HttpServerOptions,
}

impl<A: HttpServerApp> Deadlines<A> {
    pub fn new(inner: A, header_timeout: Duration) -> Self {
        let mut options = inner.server_options().cloned().unwrap_or_default();
        options.h2_idle_timeout = Some(header_timeout);
        Self {
            inner: Arc::new(inner),
            header_timeout,
            options,
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for Deadlines<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if session.is_http2() {
            // The stream's header is complete before it gets here.
            return self.inner.process_new_http(session, shutdown).await;
        }
        let (tx, rx) = oneshot::channel();
        session.set_connection_user_context(Some(Box::new(HeaderArrived(tx))));
        let serve = self.inner.process_new_http(session, shutdown);
        tokio::pin!(serve);
        tokio::select! {
            biased;
            done = &mut serve => done,
            arrived = tokio::time::timeout(self.header_timeout, rx) => match arrived {
                // In time (or the request ended without a header: the
                // sender is gone): the request is served without a deadline.
                Ok(_) => serve.await,
                Err(_) => {
                    // Dropping the request closes the connection, unanswered.
                    tracing::debug!("request header not complete within gateway.request_header_timeout; connection closed");
                    None
                }
            },
        }
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }

    async fn http_cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

/// Accepts on `listener` until `shutdown`, serving each admitted connection
/// with `app` (over TLS when `tls` is given) on one of pingora's event loops.
pub async fn serve<A: ServerApp + Send + Sync + 'static>(
    listener: std::net::TcpListener,
    tls: Option<Arc<Acceptor>>,
    app: Arc<A>,
    limits: Limits,
    mut shutdown: ShutdownWatch,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let counts = Counts::new(&limits);
    let mut refused_logged = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                if e.raw_os_error() == Some(24) {
                    // Out of file descriptors: accept would fail again at
                    // once; give open connections a moment to end.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let slot = match counts.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(key) => {
                // Once at warn (an operator should know the cap is hit),
                // then at debug (one client must not flood the log).
                if refused_logged {
                    tracing::debug!(client = %peer.ip(), limit = key, "connection refused");
                } else {
                    tracing::warn!(client = %peer.ip(), limit = key, "connection refused (further refusals are logged at debug)");
                    refused_logged = true;
                }
                drop(tcp);
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        pingora_runtime::current_handle().spawn(async move {
            let _slot = slot;
            let Some(stream) = handshake(tcp, peer, tls, limits.tls_handshake_timeout).await else {
                return;
            };
            let mut next = app.process_new(stream, &shutdown).await;
            while let Some(stream) = next {
                next = app.process_new(stream, &shutdown).await;
            }
        });
    }
    // As pingora's service does: wake keep-alive connections waiting for a
    // next request so they end now.
    app.cleanup().await;
    Ok(())
}

/// The connection as pingora's `Stream`, after the TLS handshake when there
/// is one; `None` when that fails or takes too long.
async fn handshake(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<Acceptor>>,
    deadline: Duration,
) -> Option<Stream> {
    let mut l4: L4Stream = tcp.into();
    // What pingora's listener records, so `client_addr()` is known.
    let digest = SocketDigest::from_raw_fd(l4.as_raw_fd());
    let _ = digest.peer_addr.set(Some(peer.into()));
    l4.set_socket_digest(digest);
    if let Err(e) = l4.set_nodelay() {
        tracing::debug!(error = %e, "TCP_NODELAY");
    }
    let Some(tls) = tls else {
        return Some(Box::new(l4));
    };
    match tokio::time::timeout(deadline, tls.tls_handshake(l4)).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(e)) => {
            tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(client = %peer, "TLS handshake not done within gateway.tls_handshake_timeout; connection closed");
            None
        }
    }
}

/// The open-file limit (soft) of this process, from /proc/self/limits.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// File descriptors the process needs for `max_connections` proxied
/// connections (each one to the client and, while proxying, one upstream)
/// plus a margin for the stores, logs and listeners.
pub fn descriptors_needed(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(256)
}

/// The warning to log at start-up when the open-file limit is too low for
/// `max_connections`: past it, accept fails and every application is
/// unreachable, which the connection cap is there to prevent.
pub fn open_file_warning(limit: u64, max_connections: usize) -> Option<String> {
    let needed = descriptors_needed(max_connections);
    (limit < needed).then(|| {
        format!(
            "the open-file limit ({limit}) is low for gateway.max_connections = {max_connections}: \
             it needs about {needed} (a client and an upstream socket per connection). \
             Raise it (LimitNOFILE= in the systemd unit, ulimit -n) or lower gateway.max_connections"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> Limits {
        Limits {
            tls_handshake_timeout: Duration::from_secs(10),
            request_header_timeout: Duration::from_secs(10),
            max_connections: total,
            max_connections_per_address: per,
        }
    }

    #[test]
    fn per_address_and_total_caps() {
        let counts = Counts::new(&limits(4, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = counts.admit(a).unwrap();
        let a2 = counts.admit(a).unwrap();
        assert_eq!(
            counts.admit(a).err(),
            Some("gateway.max_connections_per_address")
        );
        let _b1 = counts.admit(b).unwrap();
        drop(a1);
        let _a3 = counts.admit(a).expect("a place given back is free again");
        let _b2 = counts.admit(b).unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(counts.admit(c).err(), Some("gateway.max_connections"));
        drop(a2);
        let _c1 = counts.admit(c).unwrap();
        drop(_c1);
        drop(_a3);
        drop(_b1);
        drop(_b2);
        assert_eq!(
            *counts.inner.lock().unwrap(),
            (0, HashMap::new()),
            "nothing left behind"
        );
    }

    #[test]
    fn open_file_limit_warning() {
        assert_eq!(descriptors_needed(10_000), 20_256);
        let w = open_file_warning(1024, 10_000).unwrap();
        assert!(
            w.contains("1024")
                && w.contains("gateway.max_connections")
                && w.contains("LimitNOFILE"),
            "{w}"
        );
        assert_eq!(open_file_warning(65_536, 10_000), None);
        assert!(
            open_file_limit().is_some_and(|n| n > 0),
            "read from /proc/self/limits"
        );
    }

    #[test]
    fn only_our_context_ends_the_deadline() {
        let (tx, mut rx) = oneshot::channel();
        header_arrived(Box::new(HeaderArrived(tx)));
        assert_eq!(rx.try_recv(), Ok(()));
        header_arrived(Box::new(5u32)); // someone else's: ignored
    }
}
