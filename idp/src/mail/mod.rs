//! Outgoing mail: messages rendered from templates (plain text and HTML) and
//! handed to a background sender, so no request waits on a mail server.
//!
//! Two transports, chosen by `[mail] transport`: an outbox folder where each
//! message becomes an `.eml` file (the embedded default, so the demo needs
//! nothing installed) and SMTP through `lettre`. Temporary SMTP failures are
//! retried with a doubling back-off; a message that finally fails is logged
//! and audited. Neither the log nor the audit ever carries a message body:
//! bodies hold reset links.

mod templates;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;

use crate::audit::{self, Event, Outcome};
use crate::config::{IdpConfig, MailConfig, MailTransport, SmtpTls};
use crate::store::Store;

pub use templates::render;

/// Messages waiting for the sender; beyond this, new ones are refused (and
/// audited) rather than letting memory grow without bound.
const QUEUE: usize = 1024;

/// Why a message could not be built or queued.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("message could not be built: {0}")]
    Build(String),
    #[error("template {name}: {reason}")]
    Template { name: String, reason: String },
    #[error("the mail queue is full")]
    QueueFull,
    #[error("SMTP configuration: {0}")]
    Smtp(String),
}

/// A message ready to go, with what the audit needs to know about it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// What kind of message, e.g. `password_reset`, for logs and audit.
    pub kind: &'static str,
    pub user_id: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(Arc<AsyncSmtpTransport<Tokio1Executor>>),
}

/// The handle the rest of the core uses to send mail.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    queue: mpsc::Sender<Queued>,
    store: Store,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// A built message and its bookkeeping, as queued.
struct Queued {
    kind: &'static str,
    user_id: Option<String>,
    message: Message,
}

impl Mailer {
    /// Builds the transport and starts the sender task (needs a Tokio runtime).
    pub fn start(config: &IdpConfig, store: Store) -> Result<Self, MailError> {
        let mail = &config.mail;
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|_| MailError::Address(mail.from.clone()))?;
        let transport = match mail.transport {
            MailTransport::Outbox => Transport::Outbox(config.outbox_dir()),
            MailTransport::Smtp => Transport::Smtp(Arc::new(smtp(mail)?)),
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(
            rx,
            transport,
            store.clone(),
            mail.max_attempts,
            mail.retry_backoff,
        ));
        Ok(Self {
            from,
            queue: tx,
            store,
        })
    }

    /// Queues a message; it is sent in the background. An invalid recipient
    /// or a full queue is an error here; delivery problems are handled (and
    /// audited) by the sender.
    pub async fn send(&self, out: Outgoing) -> Result<(), MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(out.subject)
            .message_id(None);
        for to in &out.to {
            let mb: Mailbox = to.parse().map_err(|_| MailError::Address(to.clone()))?;
            builder = builder.to(mb);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(out.text, out.html))
            .map_err(|e| MailError::Build(e.to_string()))?;
        let queued = Queued {
            kind: out.kind,
            user_id: out.user_id,
            message,
        };
        if let Err(e) = self.queue.try_send(queued) {
            let (user_id, kind) = match &e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => {
                    (m.user_id.clone(), m.kind)
                }
            };
            tracing::error!(kind, "mail queue full or closed; message dropped");
            let mut ev =
                Event::new("mail.send", Outcome::Failure).detail(format!("{kind}: queue full"));
            if let Some(u) = user_id.as_deref() {
                ev = ev.user(u);
            }
            audit::record(&self.store, crate::clock::now(), ev).await;
            return Err(MailError::QueueFull);
        }
        Ok(())
    }
}

fn smtp(mail: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = mail.smtp_host.as_str();
    let ca = match &mail.smtp_ca_file {
        Some(path) => {
            let bad =
                |e: String| MailError::Smtp(format!("mail.smtp_ca_file {}: {e}", path.display()));
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            Some(Certificate::from_pem(&pem).map_err(|e| bad(e.to_string()))?)
        }
        None => None,
    };
    let tls = || {
        let mut b = TlsParameters::builder(host.to_string());
        if let Some(ca) = &ca {
            b = b.add_root_certificate(ca.clone());
        }
        b.build().map_err(|e| MailError::Smtp(e.to_string()))
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(mail.smtp_port)
        .timeout(Some(Duration::from_secs(30)));
    b = match mail.smtp_tls {
        SmtpTls::None => b.tls(Tls::None),
        SmtpTls::Starttls => b.tls(Tls::Required(tls()?)),
        SmtpTls::Implicit => b.tls(Tls::Wrapper(tls()?)),
    };
    if let (Some(u), Some(p)) = (&mail.smtp_username, &mail.smtp_password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.build())
}

/// The sender: each message gets its own task so that one waiting out a
/// back-off does not hold up the others.
async fn run(
    mut rx: mpsc::Receiver<Queued>,
    transport: Transport,
    store: Store,
    max_attempts: u32,
    backoff: Duration,
) {
    while let Some(m) = rx.recv().await {
        let transport = transport.clone();
        let store = store.clone();
        tokio::spawn(async move {
            deliver(m, transport, store, max_attempts, backoff).await;
        });
    }
}

/// Whether a failure may go away by itself (server down, 4xx reply).
enum Failure {
    Temporary(String),
    Permanent(String),
}

async fn deliver(
    m: Queued,
    transport: Transport,
    store: Store,
    max_attempts: u32,
    backoff: Duration,
) {
    let mut wait = backoff;
    let mut attempt = 1;
    loop {
        let result = match &transport {
            Transport::Outbox(dir) => write_outbox(dir, &m.message).await,
            Transport::Smtp(smtp) => match smtp.send(m.message.clone()).await {
                Ok(_) => Ok(None),
                // A 5xx reply will not change on retry; everything else
                // (refused connection, timeout, 4xx) may.
                Err(e) if e.is_permanent() => Err(Failure::Permanent(e.to_string())),
                Err(e) => Err(Failure::Temporary(e.to_string())),
            },
        };
        let error = match result {
            Ok(path) => {
                match path {
                    Some(p) => {
                        tracing::info!(kind = m.kind, path = %p.display(), "mail written to the outbox")
                    }
                    None => tracing::info!(kind = m.kind, attempt, "mail sent"),
                }
                return;
            }
            Err(Failure::Temporary(e)) if attempt < max_attempts => {
                tracing::warn!(kind = m.kind, attempt, retry_in = ?wait, error = %e, "mail not sent yet; will retry");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(3600));
                attempt += 1;
                continue;
            }
            Err(Failure::Temporary(e) | Failure::Permanent(e)) => e,
        };
        tracing::error!(kind = m.kind, attempt, error = %error, "mail could not be sent; giving up");
        let detail = format!("{} not sent after {attempt} attempt(s): {error}", m.kind);
        let mut ev = Event::new("mail.send", Outcome::Failure).detail(detail);
        if let Some(u) = m.user_id.as_deref() {
            ev = ev.user(u);
        }
        audit::record(&store, crate::clock::now(), ev).await;
        return;
    }
}

/// Writes the message as `<dir>/<unix nanoseconds>-<uuid>.eml`, readable by the
/// owner only: it may hold a reset link.
async fn write_outbox(
    dir: &std::path::Path,
    message: &Message,
) -> Result<Option<PathBuf>, Failure> {
    let dir = dir.to_path_buf();
    let bytes = message.formatted();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::Temporary(format!("{}: {e}", dir.display())))?;
        // Nanoseconds first, so that listing the folder by name lists the
        // messages in the order they were written.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{nanos:020}-{}.eml", uuid::Uuid::new_v4());
        let path = dir.join(&name);
        // Written under another name and renamed, so a reader of the folder
        // never sees half a message.
        let tmp = dir.join(format!(".{name}.tmp"));
        crate::crypto::write_private(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Failure::Temporary(format!("{}: {e}", path.display())))?;
        Ok(Some(path))
    })
    .await
    .map_err(|e| Failure::Temporary(e.to_string()))?
}
