//! `token`: the OIDC token endpoint under load, in grants per second.
//!
//! - `client-credentials`: one confidential client asking for tokens.
//! - `refresh`: each worker holds a refresh-token chain and rotates it
//!   (every grant writes the new token and marks the old one used).
//! - `code`: the full exchange a sign-in costs an application: GET the
//!   authorization endpoint with a signed-in portal session (a grant and a
//!   code are written) and redeem the code with PKCE at the token endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::{Failure, Output, Percentiles, Tally, Target, location, micros, positive_duration};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Scenario {
    ClientCredentials,
    Refresh,
    Code,
}

#[derive(Args)]
pub struct TokenArgs {
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// The portal's public URL, e.g. https://portal.localhost:8443.
    #[arg(long)]
    url: String,
    #[arg(long)]
    client_id: String,
    #[arg(long, env = "PORTCULLIS_BENCH_CLIENT_SECRET")]
    client_secret: String,
    /// A registered redirect URI of the client (refresh and code scenarios).
    #[arg(long, default_value = "http://127.0.0.1:9/cb")]
    redirect_uri: String,
    #[arg(long, default_value = "demo@example.com")]
    email: String,
    /// The user's password (refresh and code scenarios sign in once per worker).
    #[arg(long, env = "PORTCULLIS_BENCH_PASSWORD", default_value = "")]
    password: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 30.0)]
    timeout_seconds: f64,
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
// base64url(SHA-256(VERIFIER)), RFC 7636 appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Ctx {
    target: Target,
    args: TokenArgs,
}

impl Ctx {
    async fn token(&self, client: &Client, form: &[(&str, &str)]) -> Result<Value, Failure> {
        let res = client
            .post(
                self.target
                    .url("/oauth2/token")
                    .map_err(|e| Failure::new("url", e))?,
            )
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .form(form)
            .send()
            .await
            .map_err(|e| Failure::http("POST /oauth2/token", &e))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| Failure::http("POST /oauth2/token", &e))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status != StatusCode::OK {
            return Err(Failure::new(
                "POST /oauth2/token",
                format!("{status} {}", body["error"].as_str().unwrap_or("")),
            ));
        }
        Ok(body)
    }

    /// A code from the authorization endpoint for the signed-in `client`.
    async fn code(&self, client: &Client) -> Result<String, Failure> {
        let mut url = self
            .target
            .url("/oauth2/authorize")
            .map_err(|e| Failure::new("url", e))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.args.client_id)
            .append_pair("redirect_uri", &self.args.redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", "bench")
            .append_pair("nonce", "bench")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        let res = client
            .get(url)
            .send()
            .await
            .map_err(|e| Failure::http("GET /oauth2/authorize", &e))?;
        let to = location(res.headers()).to_string();
        let code = reqwest::Url::parse(&to)
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| {
                Failure::new(
                    "GET /oauth2/authorize",
                    format!("{} to {to:?}", res.status()),
                )
            })?;
        Ok(code)
    }

    async fn exchange(&self, client: &Client, code: &str) -> Result<Value, Failure> {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.args.redirect_uri),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }
}

async fn worker(ctx: Arc<Ctx>, client: Client, deadline: tokio::time::Instant) -> Tally {
    let mut tally = Tally::default();
    let mut refresh: Option<String> = None;
    if matches!(ctx.args.scenario, Scenario::Refresh) {
        let start = async {
            let code = ctx.code(&client).await?;
            let t = ctx.exchange(&client, &code).await?;
            t["refresh_token"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Failure::new("setup", "no refresh token"))
        };
        match start.await {
            Ok(rt) => refresh = Some(rt),
            Err(f) => {
                tally.fail(f);
                return tally;
            }
        }
    }
    while tokio::time::Instant::now() < deadline {
        let t0 = Instant::now();
        let attempt = async {
            match ctx.args.scenario {
                Scenario::ClientCredentials => ctx
                    .token(&client, &[("grant_type", "client_credentials")])
                    .await
                    .map(|_| None),
                Scenario::Refresh => {
                    let rt = refresh.clone().unwrap_or_default();
                    let t = ctx
                        .token(
                            &client,
                            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                        )
                        .await?;
                    Ok(t["refresh_token"].as_str().map(str::to_string))
                }
                Scenario::Code => {
                    let code = ctx.code(&client).await?;
                    ctx.exchange(&client, &code).await.map(|_| None)
                }
            }
        };
        match tokio::time::timeout_at(deadline, attempt).await {
            Err(_) => break,
            Ok(Ok(next)) => {
                if next.is_some() {
                    refresh = next;
                }
                tally.ok += 1;
                tally.micros.push(micros(t0.elapsed()));
            }
            Ok(Err(f)) => {
                tally.fail(f);
                if matches!(ctx.args.scenario, Scenario::Refresh) {
                    // The chain is broken; nothing more to measure here.
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

pub async fn run(out: &Output, args: TokenArgs) -> Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let duration = positive_duration(args.seconds, "--seconds")?;
    let target = Target::for_url(&args.url, &args.email, &args.password, args.timeout_seconds)?;
    let ctx = Arc::new(Ctx { target, args });
    let scenario = format!("{:?}", ctx.args.scenario);
    out.progress(&format!(
        "token: {scenario} with {} workers for {:.1}s against {}",
        ctx.args.concurrency, ctx.args.seconds, ctx.args.url
    ));
    // Each worker is one client with its own connection (and, for the user
    // scenarios, its own portal session).
    let mut clients = Vec::new();
    for _ in 0..ctx.args.concurrency {
        let client = ctx.target.client()?;
        if !matches!(ctx.args.scenario, Scenario::ClientCredentials) {
            if ctx.args.password.is_empty() {
                bail!("--password (or PORTCULLIS_BENCH_PASSWORD) is needed for this scenario");
            }
            super::sign_in(&ctx.target, &client)
                .await
                .map_err(|f| anyhow!("signing in: {}", f.0))?;
        }
        clients.push(client);
    }
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let handles: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(worker(ctx.clone(), c, deadline)))
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(h.await.context("a worker panicked")?);
    }
    let window = start.elapsed().as_secs_f64().max(duration.as_secs_f64());
    let per_second = tally.ok as f64 / window;
    let failed = tally.failed();
    let lat = Percentiles::of(&mut tally.micros);
    out.text(&format!(
        "\ntoken endpoint: {scenario}, {} workers, {:.1} s\n\
         {:<24}{:>10}\n{:<24}{:>10}\n{:<24}{:>10.1}\n{:<24}{:>10.2}\n{:<24}{:>10.2}",
        ctx.args.concurrency,
        window,
        "grants",
        tally.ok,
        "failures",
        failed,
        "grants/s",
        per_second,
        "ms p50",
        lat.p50_ms(),
        "ms p99",
        lat.p99_ms(),
    ));
    for (k, v) in &tally.failures {
        out.text(&format!("  failure {k}: {v}"));
    }
    out.finish(&json!({
        "scenario": format!("token-{scenario}"),
        "concurrency": ctx.args.concurrency,
        "seconds": window,
        "grants": tally.ok,
        "failures": failed,
        "failure_kinds": tally.failures,
        "grants_per_second": per_second,
        "latency_ms": lat.to_json(),
    }))
}
