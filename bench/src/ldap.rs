//! LDAP binds and searches per second against the plain LDAP listener on
//! loopback (the engine's cost, without TLS): `bind` opens a connection per
//! worker and binds again and again (one argon2 verification each); `search`
//! binds once per worker as a service account and repeats one search, the
//! shape of an `AuthorizedKeysCommand` or `sssd` lookup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use ldap3::{LdapConnAsync, Scope};
use serde_json::json;

use super::{Output, positive_duration};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Scenario {
    Bind,
    Search,
}

#[derive(Args)]
pub struct LdapArgs {
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// e.g. ldap://127.0.0.1:3389
    #[arg(long)]
    url: String,
    #[arg(long)]
    bind_dn: String,
    #[arg(long, env = "PORTCULLIS_BENCH_PASSWORD")]
    password: String,
    #[arg(long, default_value = "dc=example,dc=com")]
    base: String,
    #[arg(long, default_value = "(&(objectClass=posixAccount)(uid=user17))")]
    filter: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn run(out: &Output, args: LdapArgs) -> Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let duration = positive_duration(args.seconds, "--seconds")?;
    let args = Arc::new(args);
    out.progress(&format!(
        "ldap: {:?} with {} workers for {:.1}s against {}",
        args.scenario, args.concurrency, args.seconds, args.url
    ));
    let deadline = tokio::time::Instant::now() + duration;
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.concurrency {
        let args = args.clone();
        handles.push(tokio::spawn(async move {
            let (conn, mut ldap) = LdapConnAsync::new(&args.url).await?;
            ldap3::drive!(conn);
            if matches!(args.scenario, Scenario::Search) {
                ldap.simple_bind(&args.bind_dn, &args.password)
                    .await?
                    .success()?;
            }
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while tokio::time::Instant::now() < deadline {
                let t = Instant::now();
                let ok = match args.scenario {
                    Scenario::Bind => ldap
                        .simple_bind(&args.bind_dn, &args.password)
                        .await
                        .is_ok_and(|r| r.rc == 0),
                    Scenario::Search => ldap
                        .search(
                            &args.base,
                            Scope::Subtree,
                            &args.filter,
                            vec!["uid", "sshPublicKey", "uidNumber"],
                        )
                        .await
                        .is_ok_and(|r| r.1.rc == 0 && !r.0.is_empty()),
                };
                if ok {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.await??;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let rate = lat.len() as f64 / elapsed;
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    out.text(&format!(
        "ldap {:?}: {:.0}/s  p50 {p50:.2} ms  p99 {p99:.2} ms  ({} ok, {errors} errors, {} workers)",
        args.scenario,
        rate,
        lat.len(),
        args.concurrency
    ));
    out.finish(&json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "per_second": rate,
        "p50_ms": p50,
        "p99_ms": p99,
        "ok": lat.len(),
        "errors": errors,
        "concurrency": args.concurrency,
    }))
}
