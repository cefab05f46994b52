//! The LDAP listeners: LDAPS, plain LDAP that requires StartTLS, and (only
//! when explicitly allowed) plain LDAP. Every connection is bounded: a cap
//! on open connections, a TLS handshake deadline, an idle timeout, and a
//! message size of 4 KiB until a bind succeeds (`max_message_bytes` after).
//! A message over the bound, or one that does not decode, gets a notice of
//! disconnection and the connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::LdapResultCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

use super::{Connection, Engine, Identity, Next, disconnect};

/// The message bound before a bind: a bind or a rootDSE search fits easily.
pub const UNBOUND_MESSAGE_BYTES: usize = 4096;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ldaps,
    StartTls,
    Plain,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{key}: cannot listen on {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}: needs a TLS certificate")]
    NoTls(&'static str),
}

/// The running listeners and the addresses they got (port 0 picks one).
#[derive(Debug)]
pub struct Running {
    pub addrs: Vec<(Kind, SocketAddr)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn addr(&self, kind: Kind) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds every configured listener and serves them until the returned
/// value is dropped. `tls` is required for `listen` and `starttls`.
pub async fn start(engine: Engine, tls: Option<TlsAcceptor>) -> Result<Running, ListenError> {
    let cfg = engine.config().clone();
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for (key, kind, addr) in [
        ("ldap.listen", Kind::Ldaps, cfg.listen),
        ("ldap.starttls", Kind::StartTls, cfg.starttls),
        (
            "ldap.plain_listen",
            Kind::Plain,
            cfg.plain_listen.filter(|_| cfg.allow_plain),
        ),
    ] {
        let Some(addr) = addr else { continue };
        if kind != Kind::Plain && tls.is_none() {
            return Err(ListenError::NoTls(key));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ListenError::Bind { key, addr, source })?;
        let local =
            listener
                .local_addr()
                .map_err(|source| ListenError::Bind { key, addr, source })?;
        addrs.push((kind, local));
        tracing::debug!(%local, ?kind, "LDAP listening");
        tasks.push(tokio::spawn(accept_loop(
            listener,
            kind,
            engine.clone(),
            tls.clone(),
            slots.clone(),
        )));
    }
    Ok(Running { addrs, tasks })
}

async fn accept_loop(
    listener: TcpListener,
    kind: Kind,
    engine: Engine,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: pause, keep serving.
                tracing::warn!(error = %e, "LDAP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "LDAP connection refused: ldap.max_connections reached");
            drop(socket);
            continue;
        };
        let engine = engine.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = socket.set_nodelay(true);
            serve_connection(engine, socket, peer, kind, tls).await;
        });
    }
}

async fn serve_connection(
    engine: Engine,
    socket: TcpStream,
    peer: SocketAddr,
    kind: Kind,
    tls: Option<TlsAcceptor>,
) {
    let ip = Some(peer.ip().to_canonical().to_string());
    match (kind, tls) {
        (Kind::Ldaps, Some(tls)) => {
            let Some(stream) = handshake(&tls, socket).await else {
                return;
            };
            let mut conn = Connection::new(true, false, false, ip);
            session(&engine, stream, &mut conn).await;
        }
        (Kind::StartTls | Kind::Plain, tls) => {
            let mut conn = Connection::new(false, kind == Kind::StartTls, tls.is_some(), ip);
            if let Some(socket) = session(&engine, socket, &mut conn).await
                && let Some(tls) = tls
                && let Some(stream) = handshake(&tls, socket).await
            {
                // RFC 4513 §3.1.1: what was bound in clear is not carried over.
                conn.identity = Identity::Nobody;
                conn.tls = true;
                session(&engine, stream, &mut conn).await;
            }
        }
        (Kind::Ldaps, None) => {}
    }
}

async fn handshake(
    tls: &TlsAcceptor,
    socket: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(socket)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "LDAP TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

fn codec_for(engine: &Engine, who: &Identity) -> LdapCodec {
    let size = match who {
        Identity::Nobody => UNBOUND_MESSAGE_BYTES,
        _ => engine.config().max_message_bytes,
    };
    LdapCodec::new(Some(size), None)
}

/// Serves requests until the client leaves or the connection must close.
/// Returns the stream when the client asked for StartTLS and the response
/// went out, with nothing read past the request.
async fn session<S>(engine: &Engine, stream: S, conn: &mut Connection) -> Option<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = Framed::new(stream, codec_for(engine, &conn.identity));
    let idle = engine.config().idle_timeout;
    loop {
        let msg = match tokio::time::timeout(idle, framed.next()).await {
            Err(_) => {
                let _ = framed
                    .send(disconnect(LdapResultCode::Unavailable, "idle timeout"))
                    .await;
                return None;
            }
            Ok(None) => return None,
            Ok(Some(Err(e))) => {
                let message = if e.kind() == std::io::ErrorKind::OutOfMemory {
                    "message too large"
                } else {
                    "malformed message"
                };
                tracing::debug!(peer = ?conn.peer, message, "LDAP connection closed");
                let _ = framed
                    .send(disconnect(LdapResultCode::ProtocolError, message))
                    .await;
                return None;
            }
            Ok(Some(Ok(msg))) => msg,
        };
        let reply = engine.handle(conn, msg).await;
        for m in reply.messages {
            if framed.feed(m).await.is_err() {
                return None;
            }
        }
        if framed.flush().await.is_err() {
            return None;
        }
        *framed.codec_mut() = codec_for(engine, &conn.identity);
        match reply.next {
            Next::Continue => {}
            Next::Close => return None,
            Next::StartTls => {
                let parts = framed.into_parts();
                // Bytes sent after the request but before TLS would be
                // taken as protected: refuse the connection instead.
                if !parts.read_buf.is_empty() {
                    return None;
                }
                return Some(parts.io);
            }
        }
    }
}
