//! A real PostgreSQL server for the tests of this binary: started once (by
//! scripts/pg-test-server.sh, on a free port in a temporary directory) on
//! first use, stopped by the script's watchdog when the test process ends.
//! Each caller gets a database of its own.

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-test-server.sh");

/// True when the environment says to leave PostgreSQL out
/// (`PORTCULLIS_SKIP_POSTGRES=1`). Without it a missing server is a failure,
/// never a silent skip.
pub fn skipped() -> bool {
    std::env::var("PORTCULLIS_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

fn server() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let out = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(std::process::id().to_string())
            .output()
            .expect("run scripts/pg-test-server.sh");
        assert!(
            out.status.success(),
            "PostgreSQL test server did not start (set PORTCULLIS_SKIP_POSTGRES=1 to leave PostgreSQL out):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    })
}

/// The URL of a new, empty database on the test server.
pub async fn fresh_database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = server();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
    // The name is ours (digits and an underscore), not input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    format!("{}/{name}", base.trim_end_matches("/postgres"))
}
