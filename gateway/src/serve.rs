//! The listener: pingora, with TLS (rustls) or explicitly configured plain
//! HTTP, HTTP/1.1 and HTTP/2, serving the portal host in-process and
//! proxying every application host a policy names. Connections are served
//! by `gateway.threads` single-threaded event loops (pingora's no-steal
//! runtime), the rest of the process runs on the main tokio runtime;
//! SIGTERM or Ctrl-C stop accepting and let open requests end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::ALPN;
use pingora::server::configuration::ServerConf;

use crate::config::Config;
use crate::policy::Upstream;
use crate::proxy::{Gateway, Route, RouteTable};
use crate::tls;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let idp = idp::Idp::open(config.idp.clone()).await.with_context(|| {
        format!(
            "opening the store in {}",
            config.idp.store.data_dir.display()
        )
    })?;
    if let Some(seeded) = idp::seed::seed_if_new(&idp).await? {
        announce_demo(&seeded, &config.idp.public_url, &config.path);
    }
    bind_policy_applications(&idp, &config).await?;
    // Linked applications must exist; signing keys are generated on first start.
    idp.check_oidc_clients().await?;
    idp.oidc_keys()
        .await
        .context("loading the OIDC signing keys")?;
    idp.check_saml_sps().await?;
    idp.saml_keys()
        .await
        .context("loading the SAML signing certificate")?;

    let mut whoami = None;
    let metrics = Arc::new(crate::metrics::Metrics::new(
        config.policies.iter().map(|p| p.id.as_str()),
    ));
    let routes = Arc::new(RouteTable::new(
        build_routes(&config, &mut whoami, &metrics).await?,
    ));
    if let Some(addr) = config.gateway.metrics_listen {
        crate::metrics::serve(addr, metrics.clone()).await?;
        tracing::info!(%addr, "metrics at /metrics");
    }
    idp.handoffs.set_apps(gateway_apps(&config));
    let gateway = Gateway::new(
        idp.clone(),
        routes.clone(),
        config.gateway.session_cache_ttl,
        config.gateway.store_outage_grace,
        config.gateway.session_cache_entries,
        metrics.clone(),
    );

    let conf = Arc::new(ServerConf::default());
    let limits = config.gateway.limits();
    let app = Arc::new(crate::listener::Deadlines::new(
        pingora::proxy::http_proxy(&conf, gateway),
        limits.request_header_timeout,
    ));
    let listener = bind(config.server.listen)
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    warn_if_few_open_files(&config);
    let mut sni: Option<Arc<tls::SniResolver>> = None;
    let acceptor = if config.server.plain_http {
        tracing::warn!("serving plain HTTP: for local development only");
        None
    } else {
        let resolver = tls_resolver(&config)?;
        sni = Some(resolver.clone());
        let mut settings =
            TlsSettings::intermediate("", "").map_err(|e| anyhow::anyhow!("TLS settings: {e}"))?;
        settings.set_cert_resolver(resolver);
        settings.set_alpn(ALPN::H2H1);
        Some(Arc::new(settings.build()))
    };
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
    // Every serving instance delivers back-channel logout tokens from the
    // store's outbox, including those queued by the admin CLI, which exits
    // without sending them; a claim in the store keeps it to one sender.
    idp::oidc::backchannel::spawn_delivery(idp.clone());
    // Sign-outs recorded in the state store while the session store was
    // away end their sessions once it answers again.
    idp::session::end::spawn_pending_signouts(idp.clone());
    if config.idp.reset.expiry_reminders {
        // The store allows one reminder a day per user, however often this runs.
        idp::reset::spawn_expiry_reminders(idp.clone(), config.idp.reset.reminder_interval);
    }

    // Dropped at the end of `run`, which closes the LDAP listeners.
    let _ldap = start_ldap(&idp, &config).await?;

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    // One event loop per thread, each connection staying on the thread that
    // accepted it: no work-stealing hand-offs between threads on the proxy
    // path, which on a small machine cost more than the proxying itself.
    let threads = config.gateway.thread_count();
    let runtime = pingora_runtime::Runtime::new_no_steal(threads, "portcullis-proxy");
    let proxy = runtime.get_handle().spawn(async move {
        if let Err(e) = crate::listener::serve(listener, acceptor, app, limits, shutdown_rx).await {
            tracing::error!(error = %format!("{e:#}"), "the listener stopped");
        }
    });
    tracing::info!(
        listen = %config.server.listen,
        url = %config.server.public_url,
        applications = config.policies.len(),
        threads,
        "portcullis is ready"
    );
    for p in &config.policies {
        tracing::info!(app = %p.id, url = %p.base_url, "protecting");
    }

    let reloader = Arc::new(Reloader {
        idp: idp.clone(),
        config: config.clone(),
        routes,
        sni,
        metrics,
        state: tokio::sync::Mutex::new(ReloadState {
            whoami,
            status: served_status(&config),
        }),
    });
    // The admin console and API reload through the same path as SIGHUP.
    idp.policies.set(reloader.clone());
    #[cfg(unix)]
    tokio::spawn(reload_on_sighup(reloader));

    shutdown_signal().await;
    tracing::info!("shutting down: finishing open requests");
    let _ = shutdown_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(10), proxy)
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within 10s");
    }
    // A runtime may not be dropped on an async thread.
    let _ =
        tokio::task::spawn_blocking(move || runtime.shutdown_timeout(Duration::from_secs(1))).await;
    Ok(())
}

/// The listening socket for `server.listen` (address reuse, a deep backlog
/// as pingora's own listener has), handed to the accept loop.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)?.into_std()
}

/// A warning when the open-file limit cannot hold `gateway.max_connections`.
fn warn_if_few_open_files(config: &Config) {
    let max = config.gateway.max_connections;
    match crate::listener::open_file_limit() {
        Some(limit) => {
            if let Some(warning) = crate::listener::open_file_warning(limit, max) {
                tracing::warn!("{warning}");
            }
        }
        None => tracing::debug!("open-file limit unknown (no /proc/self/limits)"),
    }
}

fn gateway_apps(config: &Config) -> Vec<idp::handoff::GatewayApp> {
    config
        .policies
        .iter()
        .map(|p| idp::handoff::GatewayApp {
            id: p.id.clone(),
            name: p.name.clone(),
            origin: p.origin.clone(),
            path_prefix: p.path_prefix.clone(),
            idle: p.session_idle,
            path_case: p.path_case,
            path_parameters: p.path_options.parameters,
        })
        .collect()
}

/// Routes for every policy; starts the demo page the first time a policy needs it.
async fn build_routes(
    config: &Config,
    whoami: &mut Option<std::net::SocketAddr>,
    metrics: &crate::metrics::Metrics,
) -> anyhow::Result<Vec<Route>> {
    if whoami.is_none()
        && config
            .policies
            .iter()
            .any(|p| p.upstreams.contains(&Upstream::Whoami))
    {
        *whoami = Some(crate::whoami::start().await?);
    }
    let mut routes = Vec::new();
    for p in &config.policies {
        // By id, not position: a reload that adds a policy sorting before
        // others must not shift their counts onto it. Metric series are
        // fixed at start, so an application added by a reload is counted
        // from the next restart.
        let index = metrics.index_of(&p.id).unwrap_or(usize::MAX);
        routes.push(Route::new(p.clone(), index, *whoami)?);
    }
    Ok(routes)
}

/// Reloads the policy files, for SIGHUP and for the identity core's hook
/// (the admin console and API): one reload at a time, and a bad file keeps
/// the running policies.
struct Reloader {
    idp: Arc<idp::Idp>,
    config: Config,
    routes: Arc<RouteTable>,
    sni: Option<Arc<tls::SniResolver>>,
    metrics: Arc<crate::metrics::Metrics>,
    state: tokio::sync::Mutex<ReloadState>,
}

struct ReloadState {
    whoami: Option<std::net::SocketAddr>,
    status: idp::policy_hook::PolicyStatus,
}

impl Reloader {
    async fn reload(&self) -> idp::policy_hook::PolicyStatus {
        let mut state = self.state.lock().await;
        let result = async {
            let fresh = Config::load(&self.config.path)?;
            let new_routes = build_routes(&fresh, &mut state.whoami, &self.metrics).await?;
            bind_policy_applications(&self.idp, &fresh).await?;
            let certs = match &self.sni {
                Some(_) => Some(app_certs(&fresh)?),
                None => None,
            };
            self.routes.replace(new_routes);
            self.idp.handoffs.set_apps(gateway_apps(&fresh));
            if let (Some(sni), Some(certs)) = (&self.sni, certs) {
                sni.replace(certs);
            }
            anyhow::Ok(fresh)
        }
        .await;
        let status = match result {
            // Only the policies are reloaded; other settings need a restart.
            Ok(fresh) => {
                tracing::info!(applications = fresh.policies.len(), "policies reloaded");
                served_status(&fresh)
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::error!(error = %why, "reload refused; the running policies stay");
                refused_status(&self.config, &why, state.status.served)
            }
        };
        state.status = status.clone();
        status
    }
}

#[async_trait::async_trait]
impl idp::policy_hook::PolicyHook for Reloader {
    async fn status(&self) -> idp::policy_hook::PolicyStatus {
        self.state.lock().await.status.clone()
    }

    async fn reload(&self) -> idp::policy_hook::PolicyStatus {
        Reloader::reload(self).await
    }
}

/// The status of policies that loaded: every file valid and served.
fn served_status(config: &Config) -> idp::policy_hook::PolicyStatus {
    idp::policy_hook::PolicyStatus {
        files: config
            .policies
            .iter()
            .map(|p| idp::policy_hook::PolicyFile {
                file: format!("{}.toml", p.id),
                id: p.id.clone(),
                error: None,
            })
            .collect(),
        error: None,
        applied: true,
        served: config.policies.len(),
        checked_at: idp::clock::now(),
    }
}

/// The status of a refused reload: each file checked on its own, so the
/// page names every bad one, not only the first; `why` stays when no single
/// file explains it (two files protecting the same host and path, an
/// unreadable folder, a bad configuration file).
fn refused_status(config: &Config, why: &str, served: usize) -> idp::policy_hook::PolicyStatus {
    let dir = &config.gateway.policies_dir;
    let shorten = |s: String| s.replace(&format!("{}/", dir.display()), "");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let files: Vec<idp::policy_hook::PolicyFile> = files
        .iter()
        .map(|path| {
            let error = match std::fs::read_to_string(path) {
                Ok(text) => crate::policy::parse(path, &text, &config.server)
                    .err()
                    .map(|e| shorten(format!("{e:#}"))),
                Err(e) => Some(format!("cannot read: {e}")),
            };
            idp::policy_hook::PolicyFile {
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                id: path
                    .file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                error,
            }
        })
        .collect();
    let error = files
        .iter()
        .all(|f| f.error.is_none())
        .then(|| shorten(why.to_string()));
    idp::policy_hook::PolicyStatus {
        files,
        error,
        applied: false,
        served,
        checked_at: idp::clock::now(),
    }
}

/// SIGHUP: read the policies again and swap them in without dropping a
/// connection.
#[cfg(unix)]
async fn reload_on_sighup(reloader: Arc<Reloader>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        reloader.reload().await;
    }
}

/// The certificate of every protected host: the policy's, or a development
/// one. Policies sharing a host name the same one (checked at load).
fn app_certs(
    config: &Config,
) -> anyhow::Result<std::collections::HashMap<String, Arc<rustls::sign::CertifiedKey>>> {
    let mut by_host = std::collections::HashMap::new();
    for p in &config.policies {
        let key = match &p.tls {
            Some((cert, key)) => tls::certified_key(cert, key)
                .with_context(|| format!("policy {}: tls_cert", p.id))?,
            None => {
                let dev = tls::ensure_dev_certs(&config.idp.store.data_dir, &p.host)?;
                tls::certified_key(&dev.cert, &dev.key)?
            }
        };
        by_host.insert(p.host.clone(), key);
    }
    Ok(by_host)
}

/// Certificates chosen by SNI: the operator's for the portal host when
/// configured, otherwise generated development ones, one per host (portal
/// and every protected application).
fn tls_resolver(config: &Config) -> anyhow::Result<Arc<tls::SniResolver>> {
    let portal_host = config.server.public_url.host_str().unwrap_or("localhost");
    let (cert, key) = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let dev = tls::ensure_dev_certs(&config.idp.store.data_dir, portal_host)?;
            tracing::info!(ca = %dev.ca.display(), "using development certificates");
            (dev.cert, dev.key)
        }
    };
    let default = tls::certified_key(&cert, &key)?;
    Ok(Arc::new(tls::SniResolver::new(default, app_certs(config)?)))
}

/// The LDAP listeners of `[ldap]`, with the portal's certificates (the
/// operator's, or the development CA's), on the main runtime.
async fn start_ldap(
    idp: &Arc<idp::Idp>,
    config: &Config,
) -> anyhow::Result<Option<idp::ldap::listener::Running>> {
    if !config.idp.ldap.enabled() {
        return Ok(None);
    }
    let resolver = tls_resolver(config)?;
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("LDAP TLS settings")?
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    let engine = idp::ldap::Engine::new(idp.clone())?;
    let running =
        idp::ldap::listener::start(engine, Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls))))
            .await?;
    for (kind, addr) in &running.addrs {
        tracing::info!(%addr, ?kind, base_dn = %config.idp.ldap.base_dn, "LDAP is ready");
    }
    Ok(Some(running))
}

/// Every policy's application and who may open it, made true in the
/// directory, so portal tiles, OIDC clients and SAML SPs linked to it and the
/// gateway all answer alike. A new application gets a tile launching the
/// proxied URL.
async fn bind_policy_applications(idp: &idp::Idp, config: &Config) -> anyhow::Result<()> {
    for p in &config.policies {
        idp.reconcile_policy_application(
            &p.id,
            &p.name,
            &p.description,
            &p.launch_url(),
            &p.audience,
        )
        .await
        .with_context(|| format!("policy {}: name: {:?}", p.id, p.name))?;
        idp.set_policy_api_keys(&p.id, p.api.api_keys)
            .await
            .with_context(|| format!("policy {}: api", p.id))?;
    }
    Ok(())
}

fn announce_demo(seeded: &idp::seed::Seeded, url: &url::Url, config: &std::path::Path) {
    // Printed, not logged: the generated password is shown exactly once, to
    // the operator's terminal, and never reaches the log pipeline.
    let password = match &seeded.generated_password {
        Some(pw) => format!("Password (shown only now): {pw}"),
        None => "Password: the one in the configuration ([demo] password)".to_string(),
    };
    println!(
        "\n  Demo user created: {email}\n  {password}\n  Sign in at {url}login\n  \
         A new password: portcullis admin users set-password {email} --password-stdin --config {config}\n",
        email = seeded.email,
        config = config.display(),
    );
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
