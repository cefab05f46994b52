//! `portcullis-bench`: load scenarios for Portcullis.
//!
//! - `hashrate`: raw argon2id throughput on N OS threads, the ceiling for
//!   password sign-ins (each sign-in verifies exactly one hash).
//! - `signin`: password sign-ins per second through the portal's two-step
//!   form, and the latency of the applications page while they run.
//! - `ldap`: LDAP binds or searches per second (see `ldap.rs`).
//!
//! Progress and the human table go to stderr when `--json` is given, so that
//! stdout holds exactly one JSON object; without `--json` the table goes to
//! stdout.

mod ldap;
mod saml;
mod token;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use clap::{Args, Parser, Subcommand};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, Url};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "portcullis-bench",
    version,
    about = "Load scenarios for Portcullis"
)]
struct Cli {
    /// Print one JSON object on stdout (the human table goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw argon2id hash_password_with_salt throughput on N OS threads.
    Hashrate(HashrateArgs),
    /// Password sign-ins per second, with portal page latency measured alongside.
    Signin(SigninArgs),
    /// OIDC token endpoint grants per second: client credentials, refresh, code exchange.
    Token(token::TokenArgs),
    /// SAML SP-initiated SSO round trips per second for a signed-in user.
    Saml(saml::SamlArgs),
    /// LDAP binds or searches per second.
    Ldap(ldap::LdapArgs),
}

#[derive(Args)]
struct HashrateArgs {
    /// argon2 memory cost in KiB (m).
    #[arg(long, default_value_t = 19456)]
    memory_kib: u32,
    /// argon2 passes (t).
    #[arg(long, default_value_t = 2)]
    iterations: u32,
    /// argon2 lanes (p).
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// OS threads hashing at once; defaults to the number of cores.
    #[arg(long)]
    threads: Option<usize>,
    /// How long to hash.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

#[derive(Args)]
struct SigninArgs {
    /// The portal's public URL, e.g. https://portal.localhost:8443.
    #[arg(long)]
    url: String,
    /// Where to connect instead of resolving the URL's host; defaults to
    /// 127.0.0.1 on the URL's port.
    #[arg(long)]
    connect: Option<SocketAddr>,
    #[arg(long, default_value = "demo@example.com")]
    email: String,
    #[arg(long, env = "PORTCULLIS_BENCH_PASSWORD")]
    password: String,
    /// Sign-in workers; each loops over complete sign-ins with a fresh client.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Duration of the measured phase with sign-ins running.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Signed-in clients fetching /apps in a closed loop.
    #[arg(long, default_value_t = 2)]
    page_clients: usize,
    /// Duration of the page-only baseline before the sign-in load starts.
    #[arg(long, default_value_t = 5.0)]
    baseline_seconds: f64,
    /// Pause after each page fetch; 0 is a closed loop (the heaviest page load).
    #[arg(long, default_value_t = 0)]
    page_think_ms: u64,
    /// Per-request timeout.
    #[arg(long, default_value_t = 30.0)]
    timeout_seconds: f64,
    /// The server's process id, to report its CPU use per phase (Linux /proc).
    #[arg(long)]
    server_pid: Option<u32>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    match cli.command {
        Command::Hashrate(args) => hashrate(&out, &args),
        Command::Signin(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(signin(&out, &args))
        }
        Command::Token(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(token::run(&out, args))
        }
        Command::Saml(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(saml::run(&out, args))
        }
        Command::Ldap(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(ldap::run(&out, args))
        }
    }
}

/// Where the human text and the JSON go.
struct Output {
    json: bool,
}

impl Output {
    /// The human table: stdout normally, stderr when stdout carries JSON.
    fn text(&self, s: &str) {
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }

    fn progress(&self, s: &str) {
        eprintln!("{s}");
    }

    fn finish(&self, value: &Value) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(value)?);
        }
        Ok(())
    }
}

fn positive_duration(secs: f64, what: &str) -> Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 {
        bail!("{what} must be a positive number of seconds, not {secs}");
    }
    Ok(Duration::from_secs_f64(secs))
}

// ---------------------------------------------------------------------------
// hashrate

fn hashrate(out: &Output, args: &HashrateArgs) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let duration = positive_duration(args.seconds, "--seconds")?;
    let params = Params::new(args.memory_kib, args.iterations, args.parallelism, None)
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    out.progress(&format!(
        "hashrate: argon2id m={} t={} p={} on {threads} thread(s) for {:.1}s",
        args.memory_kib, args.iterations, args.parallelism, args.seconds
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let params = params.clone();
        let stop = Arc::clone(&stop);
        handles.push(
            std::thread::Builder::new()
                .name(format!("hash-{t}"))
                .spawn(move || hash_loop(t, &params, deadline, &stop))
                .context("spawning a hashing thread")?,
        );
    }
    let mut per_thread = Vec::with_capacity(threads);
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => per_thread.push(r),
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
            Err(_) => bail!("a hashing thread panicked"),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let hashes: u64 = per_thread.iter().map(|r| r.hashes).sum();
    // Hashes finished after the deadline are not counted, so the window is
    // exactly `duration`.
    let window = duration.as_secs_f64();
    let per_second = hashes as f64 / window;
    let mut lat: Vec<u64> = per_thread.into_iter().flat_map(|r| r.micros).collect();
    let lat = Percentiles::of(&mut lat);

    out.text(&format!(
        "\nargon2id hash rate (m={} KiB, t={}, p={}, {threads} thread(s), {:.1} s)\n\
         {:<28}{:>10}\n{:<28}{:>10.1}\n{:<28}{:>10.1}\n{:<28}{:>10.1}\n{:<28}{:>10.1}",
        args.memory_kib,
        args.iterations,
        args.parallelism,
        window,
        "hashes",
        hashes,
        "hashes/s",
        per_second,
        "hashes/s per thread",
        per_second / threads as f64,
        "ms per hash p50",
        lat.p50_ms(),
        "ms per hash p99",
        lat.p99_ms(),
    ));
    out.finish(&json!({
        "scenario": "hashrate",
        "algorithm": "argon2id",
        "memory_kib": args.memory_kib,
        "iterations": args.iterations,
        "parallelism": args.parallelism,
        "threads": threads,
        "seconds": window,
        "elapsed_seconds": elapsed,
        "hashes": hashes,
        "hashes_per_second": per_second,
        "hashes_per_second_per_thread": per_second / threads as f64,
        "hash_ms": lat.to_json(),
    }))
}

struct HashResult {
    hashes: u64,
    micros: Vec<u64>,
}

fn hash_loop(
    thread: usize,
    params: &Params,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<HashResult> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let password = b"correct horse battery staple";
    let mut result = HashResult {
        hashes: 0,
        micros: Vec::new(),
    };
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        // A distinct salt per hash, as the server draws a random one; the
        // cost of argon2 does not depend on its value.
        let mut salt = [0u8; 16];
        salt[..8].copy_from_slice(&(thread as u64).to_le_bytes());
        salt[8..].copy_from_slice(&n.to_le_bytes());
        n += 1;
        let t0 = Instant::now();
        let hash = argon
            .hash_password_with_salt(password, &salt)
            .map_err(|e| anyhow!("argon2: {e}"))?;
        let done = Instant::now();
        std::hint::black_box(hash);
        if done > deadline {
            break;
        }
        result.hashes += 1;
        result.micros.push(micros(done - t0));
    }
    Ok(result)
}

// ---------------------------------------------------------------------------
// signin

struct Target {
    base: Url,
    host: String,
    addr: SocketAddr,
    timeout: Duration,
    email: String,
    password: String,
}

impl Target {
    fn for_url(url: &str, email: &str, password: &str, timeout_seconds: f64) -> Result<Self> {
        let base = Url::parse(url).with_context(|| format!("--url {url}"))?;
        let host = base
            .host_str()
            .ok_or_else(|| anyhow!("--url has no host: {url}"))?
            .to_string();
        let port = base
            .port_or_known_default()
            .ok_or_else(|| anyhow!("--url has no port: {url}"))?;
        Ok(Self {
            base,
            host,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            timeout: positive_duration(timeout_seconds, "--timeout-seconds")?,
            email: email.to_string(),
            password: password.to_string(),
        })
    }

    fn from_args(args: &SigninArgs) -> Result<Self> {
        let base = Url::parse(&args.url).with_context(|| format!("--url {}", args.url))?;
        let host = base
            .host_str()
            .ok_or_else(|| anyhow!("--url has no host: {}", args.url))?
            .to_string();
        let port = base
            .port_or_known_default()
            .ok_or_else(|| anyhow!("--url has no port: {}", args.url))?;
        let addr = args
            .connect
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)));
        Ok(Self {
            base,
            host,
            addr,
            timeout: positive_duration(args.timeout_seconds, "--timeout-seconds")?,
            email: args.email.clone(),
            password: args.password.clone(),
        })
    }

    /// A new browser: its own cookie jar and connection pool, no redirects
    /// followed, the development certificate accepted.
    fn client(&self) -> Result<Client> {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .resolve(&self.host, self.addr)
            .timeout(self.timeout)
            .build()
            .context("building the HTTP client")
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .with_context(|| format!("joining {path} to {}", self.base))
    }
}

/// Why one sign-in failed; counted by kind in the report.
#[derive(Debug)]
struct Failure(String);

impl Failure {
    fn new(step: &str, what: impl std::fmt::Display) -> Self {
        Self(format!("{step}: {what}"))
    }

    fn http(step: &str, e: &reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect error"
        } else if e.is_body() || e.is_decode() {
            "body error"
        } else {
            "request error"
        };
        Self::new(step, kind)
    }
}

fn location(headers: &HeaderMap) -> &str {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The value of `name="csrf" value="TOKEN"` in a form.
fn csrf_token(html: &str) -> Option<&str> {
    const NEEDLE: &str = "name=\"csrf\" value=\"";
    let start = html.find(NEEDLE)? + NEEDLE.len();
    let len = html[start..].find('"')?;
    Some(&html[start..start + len]).filter(|t| !t.is_empty())
}

/// True when a Set-Cookie header sets a non-empty session cookie (with or
/// without the `__Host-` prefix used over HTTPS).
fn sets_session(headers: &HeaderMap) -> bool {
    headers.get_all(SET_COOKIE).iter().any(|v| {
        let Ok(v) = v.to_str() else { return false };
        let pair = v.split(';').next().unwrap_or("");
        let Some((name, value)) = pair.split_once('=') else {
            return false;
        };
        let name = name.trim();
        (name == "__Host-portcullis_session" || name == "portcullis_session")
            && !value.trim().is_empty()
    })
}

/// The three requests of a password sign-in on `client`. Success is the final
/// 303 to /apps carrying a session cookie.
async fn sign_in(target: &Target, client: &Client) -> Result<(), Failure> {
    let url = |p: &str| target.url(p).map_err(|e| Failure::new("url", e));

    let res = client
        .get(url("/login")?)
        .send()
        .await
        .map_err(|e| Failure::http("GET /login", &e))?;
    if res.status() != StatusCode::OK {
        return Err(Failure::new("GET /login", res.status()));
    }
    let html = res
        .text()
        .await
        .map_err(|e| Failure::http("GET /login", &e))?;
    let csrf = csrf_token(&html)
        .ok_or_else(|| Failure::new("GET /login", "no csrf field"))?
        .to_string();

    let res = client
        .post(url("/login")?)
        .form(&[("csrf", csrf.as_str()), ("email", target.email.as_str())])
        .send()
        .await
        .map_err(|e| Failure::http("POST /login", &e))?;
    if res.status() != StatusCode::SEE_OTHER || location(res.headers()) != "/login/password" {
        return Err(Failure::new(
            "POST /login",
            format!("{} to {:?}", res.status(), location(res.headers())),
        ));
    }

    let res = client
        .post(url("/login/password")?)
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", target.password.as_str()),
        ])
        .send()
        .await
        .map_err(|e| Failure::http("POST /login/password", &e))?;
    let status = res.status();
    let to = location(res.headers()).to_string();
    if status != StatusCode::SEE_OTHER || to != "/apps" {
        return Err(Failure::new(
            "POST /login/password",
            format!("{status} to {to:?}"),
        ));
    }
    if !sets_session(res.headers()) {
        return Err(Failure::new("POST /login/password", "no session cookie"));
    }
    Ok(())
}

/// One GET /apps; the body is read completely so the time covers rendering
/// and transfer.
async fn fetch_apps(target: &Target, client: &Client) -> Result<(), Failure> {
    let res = client
        .get(target.url("/apps").map_err(|e| Failure::new("url", e))?)
        .send()
        .await
        .map_err(|e| Failure::http("GET /apps", &e))?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| Failure::http("GET /apps", &e))?;
    if status != StatusCode::OK {
        return Err(Failure::new("GET /apps", status));
    }
    if body.is_empty() {
        return Err(Failure::new("GET /apps", "empty body"));
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    ok: u64,
    micros: Vec<u64>,
    failures: BTreeMap<String, u64>,
}

impl Tally {
    fn fail(&mut self, f: Failure) {
        *self.failures.entry(f.0).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.micros.extend(other.micros);
        for (k, v) in other.failures {
            *self.failures.entry(k).or_default() += v;
        }
    }

    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Sign-in worker: complete sign-ins, each with a fresh client, until the
/// deadline. A sign-in still in flight at the deadline is abandoned and not
/// counted either way.
async fn signin_worker(target: Arc<Target>, deadline: tokio::time::Instant) -> Tally {
    let mut tally = Tally::default();
    while tokio::time::Instant::now() < deadline {
        let t0 = Instant::now();
        let attempt = async {
            let client = target.client().map_err(|e| Failure::new("client", e))?;
            sign_in(&target, &client).await
        };
        match tokio::time::timeout_at(deadline, attempt).await {
            Err(_) => break,
            Ok(Ok(())) => {
                tally.ok += 1;
                tally.micros.push(micros(t0.elapsed()));
            }
            Ok(Err(f)) => {
                tally.fail(f);
                // Do not spin on a failing server.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

/// Page client: GET /apps back to back on one signed-in client until the
/// deadline.
async fn page_worker(
    target: Arc<Target>,
    client: Client,
    think: Duration,
    deadline: tokio::time::Instant,
) -> (Client, Tally) {
    let mut tally = Tally::default();
    while tokio::time::Instant::now() < deadline {
        let t0 = Instant::now();
        match tokio::time::timeout_at(deadline, fetch_apps(&target, &client)).await {
            Err(_) => break,
            Ok(Ok(())) => {
                tally.ok += 1;
                tally.micros.push(micros(t0.elapsed()));
                if !think.is_zero() {
                    tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + think))
                        .await;
                }
            }
            Ok(Err(f)) => {
                tally.fail(f);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    (client, tally)
}

struct PhaseResult {
    clients: Vec<Client>,
    pages: Tally,
    signins: Tally,
    cpu: Option<Value>,
}

/// Runs the page clients (and, with `signin_workers` > 0, the sign-in
/// workers) for `duration`; gives the clients back for the next phase.
async fn phase(
    target: &Arc<Target>,
    clients: Vec<Client>,
    signin_workers: usize,
    think: Duration,
    duration: Duration,
    server_pid: Option<u32>,
) -> Result<PhaseResult> {
    let cpu_before = CpuSnapshot::take(server_pid);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let signins: Vec<_> = (0..signin_workers)
        .map(|_| tokio::spawn(signin_worker(Arc::clone(target), deadline)))
        .collect();
    let pages: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(page_worker(Arc::clone(target), c, think, deadline)))
        .collect();
    let mut page_tally = Tally::default();
    let mut kept = Vec::with_capacity(pages.len());
    for h in pages {
        let (client, t) = h.await.context("a page client task failed")?;
        kept.push(client);
        page_tally.merge(t);
    }
    let mut signin_tally = Tally::default();
    for h in signins {
        signin_tally.merge(h.await.context("a sign-in task failed")?);
    }
    let cpu = match (cpu_before, CpuSnapshot::take(server_pid)) {
        (Some(a), Some(b)) => Some(a.usage(&b, started.elapsed())),
        _ => None,
    };
    Ok(PhaseResult {
        clients: kept,
        pages: page_tally,
        signins: signin_tally,
        cpu,
    })
}

async fn signin(out: &Output, args: &SigninArgs) -> Result<()> {
    let target = Arc::new(Target::from_args(args)?);
    let load = positive_duration(args.seconds, "--seconds")?;
    let baseline = positive_duration(args.baseline_seconds, "--baseline-seconds")?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let think = Duration::from_millis(args.page_think_ms);

    // Check the target and sign the page clients in before measuring.
    let probe = target.client()?;
    let health = probe
        .get(target.url("/healthz")?)
        .send()
        .await
        .with_context(|| format!("GET /healthz on {} (via {})", target.base, target.addr))?;
    if !health.status().is_success() {
        bail!("GET /healthz answered {}", health.status());
    }
    let mut clients = Vec::with_capacity(args.page_clients);
    for i in 0..args.page_clients {
        let client = target.client()?;
        sign_in(&target, &client)
            .await
            .map_err(|f| anyhow!("signing in page client {i}: {}", f.0))?;
        fetch_apps(&target, &client)
            .await
            .map_err(|f| anyhow!("page client {i}: {}", f.0))?;
        clients.push(client);
    }

    let base_tally = if args.page_clients > 0 {
        out.progress(&format!(
            "signin: baseline, {} page client(s) on /apps for {:.1}s",
            args.page_clients, args.baseline_seconds
        ));
        let r = phase(&target, clients, 0, think, baseline, args.server_pid).await?;
        clients = r.clients;
        Some((r.pages, r.cpu))
    } else {
        None
    };

    out.progress(&format!(
        "signin: {} sign-in worker(s) + {} page client(s) for {:.1}s",
        args.concurrency, args.page_clients, args.seconds
    ));
    let loaded = phase(
        &target,
        clients,
        args.concurrency,
        think,
        load,
        args.server_pid,
    )
    .await?;
    let (load_pages, signins, load_cpu) = (loaded.pages, loaded.signins, loaded.cpu);

    let window = load.as_secs_f64();
    let per_second = signins.ok as f64 / window;
    let mut signin_micros = signins.micros.clone();
    let signin_lat = Percentiles::of(&mut signin_micros);

    let mut text = format!(
        "\nsign-ins against {} as {} ({} worker(s), {:.1} s)\n\
         {:<28}{:>10}\n{:<28}{:>10}\n{:<28}{:>10.2}\n{:<28}{:>10.1}\n{:<28}{:>10.1}\n{:<28}{:>10.1}",
        target.base,
        target.email,
        args.concurrency,
        window,
        "sign-ins ok",
        signins.ok,
        "sign-ins failed",
        signins.failed(),
        "sign-ins/s",
        per_second,
        "sign-in ms p50",
        signin_lat.p50_ms(),
        "sign-in ms p99",
        signin_lat.p99_ms(),
        "sign-in ms max",
        signin_lat.max_ms(),
    );
    for (why, n) in &signins.failures {
        text.push_str(&format!("\n  failure: {why} x{n}"));
    }

    let (base_json, base_cpu) = match base_tally {
        Some((mut t, cpu)) => (Some(page_summary(&mut t, baseline)), cpu),
        None => (None, None),
    };
    let load_json = if args.page_clients > 0 {
        let mut t = load_pages;
        Some(page_summary(&mut t, load))
    } else {
        None
    };
    if let (Some(b), Some(l)) = (&base_json, &load_json) {
        text.push_str(&format!(
            "\n\nGET /apps latency, {} client(s), {}\n\
             {:<16}{:>12}{:>14}\n",
            args.page_clients,
            if think.is_zero() {
                "closed loop".to_string()
            } else {
                format!("{} ms think time", args.page_think_ms)
            },
            "",
            "baseline",
            "with sign-ins"
        ));
        for (label, key) in [
            ("pages", "pages"),
            ("errors", "errors"),
            ("pages/s", "pages_per_second"),
        ] {
            text.push_str(&format!(
                "{label:<16}{:>12}{:>14}\n",
                fmt_num(&b[key]),
                fmt_num(&l[key])
            ));
        }
        for key in ["p50", "p90", "p99", "max"] {
            text.push_str(&format!(
                "{:<16}{:>12}{:>14}\n",
                format!("ms {key}"),
                fmt_num(&b["latency_ms"][key]),
                fmt_num(&l["latency_ms"][key])
            ));
        }
        for (phase, v) in [("baseline", b), ("with sign-ins", l)] {
            if let Some(f) = v["failures"].as_object() {
                for (why, n) in f {
                    text.push_str(&format!("  {phase} page failure: {why} x{n}\n"));
                }
            }
        }
    }
    for (label, cpu) in [("baseline", &base_cpu), ("with sign-ins", &load_cpu)] {
        if let Some(c) = cpu {
            text.push_str(&format!(
                "\nCPU {label}: machine {} of {} cores busy; server {}, bench {}, other processes {}",
                fmt_num(&c["machine_busy_cores"]),
                fmt_num(&c["cores"]),
                fmt_num(&c["server_cores"]),
                fmt_num(&c["bench_cores"]),
                fmt_num(&c["other_cores"]),
            ));
        }
    }
    out.text(text.trim_end());

    out.finish(&json!({
        "scenario": "signin",
        "url": target.base.as_str(),
        "email": target.email,
        "concurrency": args.concurrency,
        "seconds": window,
        "page_clients": args.page_clients,
        "page_think_ms": args.page_think_ms,
        "signins": {
            "ok": signins.ok,
            "failed": signins.failed(),
            "per_second": per_second,
            "latency_ms": signin_lat.to_json(),
            "failures": signins.failures,
        },
        "pages_baseline": base_json,
        "pages_under_load": load_json,
        "cpu_baseline": base_cpu,
        "cpu_under_load": load_cpu,
    }))
}

fn page_summary(t: &mut Tally, window: Duration) -> Value {
    let lat = Percentiles::of(&mut t.micros);
    json!({
        "seconds": window.as_secs_f64(),
        "pages": t.ok,
        "errors": t.failed(),
        "pages_per_second": t.ok as f64 / window.as_secs_f64(),
        "latency_ms": lat.to_json(),
        "failures": t.failures,
    })
}

fn fmt_num(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::Number(n) => format!("{:.2}", n.as_f64().unwrap_or(f64::NAN)),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// CPU accounting (Linux /proc; absent elsewhere)

/// Clock ticks per second of /proc's CPU times: USER_HZ, 100 on Linux.
const TICKS_PER_SEC: f64 = 100.0;

struct CpuSnapshot {
    /// Busy and total ticks over all cores, from /proc/stat.
    busy: u64,
    total: u64,
    cores: usize,
    /// utime + stime of this process and of the server.
    bench: u64,
    server: Option<u64>,
}

impl CpuSnapshot {
    fn take(server_pid: Option<u32>) -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut cores = 0;
        let mut first = None;
        for line in stat.lines() {
            if line.starts_with("cpu ") {
                first = Some(line);
            } else if line.starts_with("cpu") {
                cores += 1;
            }
        }
        let fields: Vec<u64> = first?
            .split_whitespace()
            .skip(1)
            .map_while(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is
        // already inside user).
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        Some(Self {
            busy: total.saturating_sub(idle),
            total,
            cores,
            bench: process_ticks("self")?,
            server: server_pid.and_then(|p| process_ticks(&p.to_string())),
        })
    }

    fn usage(&self, later: &Self, wall: Duration) -> Value {
        let secs = wall.as_secs_f64().max(1e-9);
        let cores = |ticks: u64| ticks as f64 / TICKS_PER_SEC / secs;
        let busy_ticks = later.busy.saturating_sub(self.busy);
        let total_ticks = later.total.saturating_sub(self.total).max(1);
        let bench = later.bench.saturating_sub(self.bench);
        let server = match (self.server, later.server) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        // Busy share of all cores, scaled to cores, from /proc/stat's own
        // clock so it does not depend on the wall-clock window.
        let busy_cores = busy_ticks as f64 / total_ticks as f64 * self.cores as f64;
        let other = server.map(|s| (busy_cores - cores(s) - cores(bench)).max(0.0));
        json!({
            "cores": self.cores,
            "machine_busy_cores": busy_cores,
            "server_cores": server.map(cores),
            "bench_cores": cores(bench),
            "other_cores": other,
        })
    }
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

// ---------------------------------------------------------------------------
// statistics

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Nearest-rank percentiles over samples in microseconds.
struct Percentiles {
    p50: Option<u64>,
    p90: Option<u64>,
    p99: Option<u64>,
    max: Option<u64>,
    n: usize,
}

impl Percentiles {
    fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        let rank = |p: f64| -> Option<u64> {
            if samples.is_empty() {
                return None;
            }
            let idx = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            Some(samples[idx.clamp(1, samples.len()) - 1])
        };
        Self {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: samples.last().copied(),
            n: samples.len(),
        }
    }

    fn ms(v: Option<u64>) -> f64 {
        v.map_or(f64::NAN, |us| us as f64 / 1000.0)
    }

    fn p50_ms(&self) -> f64 {
        Self::ms(self.p50)
    }

    fn p99_ms(&self) -> f64 {
        Self::ms(self.p99)
    }

    fn max_ms(&self) -> f64 {
        Self::ms(self.max)
    }

    fn to_json(&self) -> Value {
        let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
        json!({
            "samples": self.n,
            "p50": ms(self.p50),
            "p90": ms(self.p90),
            "p99": ms(self.p99),
            "max": ms(self.max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn finds_the_csrf_token() {
        let html = r#"<form><input type="hidden" name="csrf" value="abc-_123"><input name="email"></form>"#;
        assert_eq!(csrf_token(html), Some("abc-_123"));
        assert_eq!(csrf_token("<form></form>"), None);
        assert_eq!(csrf_token(r#"name="csrf" value="""#), None);
        assert_eq!(csrf_token(r#"name="csrf" value="unterminated"#), None);
    }

    #[test]
    fn recognises_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("__Host-portcullis_login=; Max-Age=0; Path=/"),
        );
        assert!(!sets_session(&h));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("__Host-portcullis_session=tok; Path=/; Secure; HttpOnly"),
        );
        assert!(sets_session(&h));
        let mut cleared = HeaderMap::new();
        cleared.append(
            SET_COOKIE,
            HeaderValue::from_static("__Host-portcullis_session=; Max-Age=0"),
        );
        assert!(!sets_session(&cleared));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max, p.n),
            (Some(50), Some(90), Some(99), Some(100), 100)
        );
        let p = Percentiles::of(&mut []);
        assert!(p.p50.is_none() && p.p50_ms().is_nan());
        let mut one = [7];
        assert_eq!(Percentiles::of(&mut one).p99, Some(7));
    }
}
