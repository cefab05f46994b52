//! The listener: TLS (or explicitly configured plain HTTP), HTTP/1.1 and
//! HTTP/2, serving the portal, with graceful shutdown.

use std::time::Duration;

use anyhow::Context;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::Config;
use crate::tls;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let idp = idp::Idp::open(config.idp.clone()).await.with_context(|| {
        format!(
            "opening the store in {}",
            config.idp.store.data_dir.display()
        )
    })?;
    if let Some(seeded) = idp::seed::seed_if_new(&idp).await? {
        announce_demo(&seeded);
    }
    match config.idp.mail.transport {
        idp::config::MailTransport::Outbox => tracing::info!(
            outbox = %config.idp.outbox_dir().display(),
            "mail is written to the outbox folder ([mail] transport = \"smtp\" to send it)"
        ),
        idp::config::MailTransport::Smtp => tracing::info!(
            host = %config.idp.mail.smtp_host,
            port = config.idp.mail.smtp_port,
            "mail is sent by SMTP"
        ),
    }
    if config.idp.reset.expiry_reminders {
        // The store allows one reminder a day per user, however often this runs.
        idp::reset::spawn_expiry_reminders(idp.clone(), config.idp.reset.reminder_interval);
    }

    let acceptor = if config.server.plain_http {
        tracing::warn!("serving plain HTTP: for local development only");
        None
    } else {
        let (cert, key) = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                let host = config.server.public_url.host_str().unwrap_or("localhost");
                let dev = tls::ensure_dev_certs(&config.idp.store.data_dir, host)?;
                tracing::info!(ca = %dev.ca.display(), "using development certificates");
                (dev.cert, dev.key)
            }
        };
        Some(TlsAcceptor::from(tls::server_config(&cert, &key)?))
    };

    let app = idp::portal::router(idp.clone());
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    tracing::info!(
        listen = %config.server.listen,
        url = %config.server.public_url,
        "portcullis is ready"
    );

    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let mut req = req.map(axum::body::Body::new);
                        req.extensions_mut().insert(ConnectInfo(peer));
                        app.clone().oneshot(req)
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let result = match acceptor {
                        Some(acceptor) => {
                            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => return,
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                            watcher.watch(conn.into_owned()).await
                        }
                        None => {
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(conn.into_owned()).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing open requests");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within 10s");
    }
    Ok(())
}

fn announce_demo(seeded: &idp::seed::Seeded) {
    // Printed, not logged: the generated password is shown exactly once, to
    // the operator's terminal, and never reaches the log pipeline.
    match &seeded.generated_password {
        Some(pw) => println!(
            "\n  Demo user created: {}\n  Password (shown only now): {pw}\n",
            seeded.email
        ),
        None => println!(
            "\n  Demo user created: {} (password from the configuration)\n",
            seeded.email
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
