//! `saml`: complete SP-initiated SSO round trips per second for a signed-in
//! user. Each round trip builds a fresh AuthnRequest (unique ID, current
//! IssueInstant), sends it over HTTP-Redirect (raw DEFLATE + base64) to
//! `/saml/sso`, and reads the auto-posting page that carries the signed
//! Response: the IdP decodes and validates the request, records its ID
//! (replay check), builds the assertion, signs Response and Assertion
//! (RSA-SHA256, exclusive c14n) and records the SAML session.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use clap::Args;
use reqwest::{Client, StatusCode};
use serde_json::json;

use super::{Failure, Output, Percentiles, Tally, Target, micros, positive_duration};

#[derive(Args)]
pub struct SamlArgs {
    /// The portal's public URL, e.g. https://portal.localhost:8443.
    #[arg(long)]
    url: String,
    /// The SP's entity ID, as registered (its default ACS receives the answer).
    #[arg(long)]
    sp: String,
    #[arg(long, default_value = "demo@example.com")]
    email: String,
    #[arg(long, env = "PORTCULLIS_BENCH_PASSWORD")]
    password: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 30.0)]
    timeout_seconds: f64,
}

struct Ctx {
    target: Target,
    args: SamlArgs,
    seq: AtomicU64,
}

fn now_instant() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Ctx {
    fn request_query(&self) -> Result<String, Failure> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let xml = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_bench{n}_{}" Version="2.0" IssueInstant="{}"><saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>"#,
            std::process::id(),
            now_instant(),
            self.args.sp
        );
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(xml.as_bytes())
            .map_err(|e| Failure::new("deflate", e))?;
        let raw = z.finish().map_err(|e| Failure::new("deflate", e))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        Ok(url::form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLRequest", &b64)
            .append_pair("RelayState", "bench")
            .finish())
    }

    async fn round_trip(&self, client: &Client) -> Result<(), Failure> {
        let mut url = self
            .target
            .url("/saml/sso")
            .map_err(|e| Failure::new("url", e))?;
        url.set_query(Some(&self.request_query()?));
        let res = client
            .get(url)
            .send()
            .await
            .map_err(|e| Failure::http("GET /saml/sso", &e))?;
        let status = res.status();
        let body = res
            .text()
            .await
            .map_err(|e| Failure::http("GET /saml/sso", &e))?;
        if status != StatusCode::OK || !body.contains("name=\"SAMLResponse\"") {
            return Err(Failure::new("GET /saml/sso", format!("{status}")));
        }
        Ok(())
    }
}

async fn worker(ctx: Arc<Ctx>, client: Client, deadline: tokio::time::Instant) -> Tally {
    let mut tally = Tally::default();
    while tokio::time::Instant::now() < deadline {
        let t0 = Instant::now();
        match tokio::time::timeout_at(deadline, ctx.round_trip(&client)).await {
            Err(_) => break,
            Ok(Ok(())) => {
                tally.ok += 1;
                tally.micros.push(micros(t0.elapsed()));
            }
            Ok(Err(f)) => {
                tally.fail(f);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

pub async fn run(out: &Output, args: SamlArgs) -> Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.password.is_empty() {
        bail!("--password (or PORTCULLIS_BENCH_PASSWORD) is needed");
    }
    let duration = positive_duration(args.seconds, "--seconds")?;
    let target = Target::for_url(&args.url, &args.email, &args.password, args.timeout_seconds)?;
    let ctx = Arc::new(Ctx {
        target,
        args,
        seq: AtomicU64::new(0),
    });
    out.progress(&format!(
        "saml: SP-initiated SSO with {} workers for {:.1}s against {}",
        ctx.args.concurrency, ctx.args.seconds, ctx.args.url
    ));
    // Each worker is one signed-in browser with its own connection.
    let mut clients = Vec::new();
    for _ in 0..ctx.args.concurrency {
        let client = ctx.target.client()?;
        super::sign_in(&ctx.target, &client)
            .await
            .map_err(|f| anyhow!("signing in: {}", f.0))?;
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
        "\nSAML SP-initiated SSO, {} workers, {:.1} s\n\
         {:<24}{:>10}\n{:<24}{:>10}\n{:<24}{:>10.1}\n{:<24}{:>10.2}\n{:<24}{:>10.2}",
        ctx.args.concurrency,
        window,
        "round trips",
        tally.ok,
        "failures",
        failed,
        "round trips/s",
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
        "scenario": "saml-sp-initiated-sso",
        "concurrency": ctx.args.concurrency,
        "seconds": window,
        "round_trips": tally.ok,
        "failures": failed,
        "failure_kinds": tally.failures,
        "round_trips_per_second": per_second,
        "latency_ms": lat.to_json(),
    }))
}
