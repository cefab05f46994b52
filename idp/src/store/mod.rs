//! Every query the core makes lives below this module. One set of queries
//! runs on SQLite (the default) and on PostgreSQL (several instances): the
//! pool is sqlx's `Any` driver, chosen by the database URL, and the SQL is
//! the portable subset both engines accept (`$N` placeholders, TEXT ids,
//! BIGINT unix times, `ON CONFLICT`, `RETURNING`).
//!
//! Rules for queries (the `Any` driver decodes by the value's type):
//! - columns are read as `String`, `i64`, `Option` of those; a boolean
//!   expression is read as an integer (`CASE WHEN ... THEN 1 ELSE 0 END`),
//!   because SQLite has no boolean values. Binding a `bool` works on both.
//! - no `rowid`, no `SUM` (NUMERIC on PostgreSQL): order ties by `seq`
//!   ([`next_seq`]), count with `COUNT(*)`.
//! - a row is [`Row`] (`sqlx::any::AnyRow`), never `SqliteRow`.
//! - PostgreSQL types parameters strictly: bind what the column holds
//!   (`i64` for BIGINT, `&str` for TEXT, `bool` for a condition).

mod apps;
mod audit;
mod backchannel;
mod credentials;
mod federation;
mod groups;
mod handoffs;
mod keys;
mod ldap;
mod mfa;
mod oidc;
mod pending_signouts;
mod rate_limits;
mod resets;
mod saml;
mod scim;
mod seed;
mod sessions;
mod settings;
mod users;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::error::{Error, Result};

pub use apps::{NewApplication, PolicyApplication};
pub use audit::{AuditFilter, AuditRow};
pub use backchannel::{GrantsOf, LogoutRow, NewLogout, RevokedGrant};
pub use federation::{FederatedLink, RequestState, RequestUse};
pub use keys::{ApiKeyGrantRow, ApiKeyRow, NewApiKey, SshKeyRow};
pub use ldap::{LdapAccountRow, Membership, PosixKind};
pub use mfa::{TotpRow, WebauthnRow};
pub use oidc::{CodeRow, GrantRow, Lookup, NewRefresh, RefreshRow, SigningKeyRow, Spend};
pub use resets::ResetRow;
pub use saml::{SamlCertRow, SamlRequestRow, SamlSessionRow};
pub use scim::{MemberRow, ScimClientRow, ScimGroupRow, USERS_WHERE_LIMIT, UserKey};
pub use seed::DemoSeed;
use users::unique_violation;
pub use users::{NewUser, UserFilter};

/// The rows a query returns, whatever the engine.
pub type Row = sqlx::any::AnyRow;

/// Which engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine of a database URL, or `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// How long start-up waits for the database and how often it asks.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRetry {
    pub attempts: u32,
    /// The pause between two attempts.
    pub delay: Duration,
    /// How long one attempt may take (a server that accepts nothing).
    pub attempt_timeout: Duration,
}

impl Default for ConnectRetry {
    fn default() -> Self {
        // About a minute at most: long enough for a database container or a
        // failover to come up, short enough that a wrong URL fails the start
        // visibly.
        Self {
            attempts: 12,
            delay: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(4),
        }
    }
}

/// How long a query waits for a free PostgreSQL connection (or for a new
/// one to a server that went away) before it fails as unavailable, when the
/// configuration does not say (`store.acquire_timeout`).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after a write failed for want of space the store still counts
/// as not writable (readiness reports it): long enough for a load balancer
/// to notice, short enough that a freed disk brings the instance back soon.
pub const STORAGE_FULL_WINDOW: Duration = Duration::from_secs(30);

/// When (unix milliseconds) a write last failed for want of space, in this
/// process; 0 = never. Set from the one conversion of database errors, so
/// every query reports it without each call site knowing.
static STORAGE_FULL_AT: AtomicI64 = AtomicI64::new(0);

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Records that a write just failed because the database is full.
pub(crate) fn note_storage_full() {
    STORAGE_FULL_AT.store(unix_millis(), Ordering::Relaxed);
}

/// Whether a write failed for want of space within [`STORAGE_FULL_WINDOW`].
pub fn storage_full_recently() -> bool {
    let at = STORAGE_FULL_AT.load(Ordering::Relaxed);
    at != 0 && unix_millis() - at < STORAGE_FULL_WINDOW.as_millis() as i64
}

/// The state store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating a SQLite file when needed) the database named by
    /// `url`, waiting for it with the default bounded retry, and runs the
    /// migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, ConnectRetry::default()).await
    }

    /// [`Store::open`] with an explicit retry budget.
    pub async fn open_with(url: &str, retry: ConnectRetry) -> Result<Self> {
        Self::open_configured(url, retry, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// [`Store::open_with`] with the PostgreSQL pool's acquire timeout: how
    /// long a query waits for a connection before it fails as unavailable.
    pub async fn open_configured(
        url: &str,
        retry: ConnectRetry,
        acquire_timeout: Duration,
    ) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            Error::Invalid(
                "database URL must start with sqlite:, postgres:// or postgresql://".into(),
            )
        })?;
        let options: AnyConnectOptions = url.parse()?;
        let shown = redact_url(url);
        let mut attempt = 1;
        let pool = loop {
            let attempt_result = tokio::time::timeout(
                retry.attempt_timeout,
                pool_options(backend, acquire_timeout).connect_with(options.clone()),
            )
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut));
            match attempt_result {
                Ok(pool) => break pool,
                Err(e) if attempt < retry.attempts && retryable(&e) => {
                    tracing::warn!(
                        database = %shown,
                        attempt,
                        of = retry.attempts,
                        error = %e,
                        "database not reachable yet; retrying in {:?}",
                        retry.delay
                    );
                    attempt += 1;
                    tokio::time::sleep(retry.delay).await;
                }
                Err(e) => {
                    tracing::error!(database = %shown, attempts = attempt, error = %e, "database unreachable; giving up");
                    return Err(e.into());
                }
            }
        };
        tracing::info!(database = %shown, ?backend, "state store connected");
        // PostgreSQL: sqlx takes an advisory lock around the migrations, so
        // instances starting together apply each migration once.
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// A private in-memory SQLite database, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        sqlx::any::install_default_drivers();
        // One connection: every connection to :memory: is a database of its own.
        let pool = pool_options(Backend::Sqlite, DEFAULT_ACQUIRE_TIMEOUT)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            backend: Backend::Sqlite,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when no user exists yet: the signal to seed demo data.
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }

    /// Closes the pool: every later query fails as unavailable (shutdown;
    /// fault tests use it as a database that went away).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// SQLite only, for fault tests: the database may not grow past its
    /// current size, so a write that needs a new page fails with SQLITE_FULL,
    /// as on a full disk. A no-op on PostgreSQL.
    #[doc(hidden)]
    pub async fn cap_size_for_tests(&self) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.pool)
            .await?;
        // PRAGMA takes no bound parameters; `pages` is a number we read.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One round trip to the database, for readiness checks, given at most
    /// `within` (a pool that waits for a dead server must not hold a load
    /// balancer's probe for its whole acquire timeout).
    pub async fn ping(&self, within: Duration) -> Result<()> {
        let ping = sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&self.pool);
        match tokio::time::timeout(within, ping).await {
            Ok(r) => r.map(|_| ()).map_err(Error::from),
            Err(_) => Err(Error::Database(sqlx::Error::PoolTimedOut)),
        }
    }
}

fn pool_options(backend: Backend, acquire_timeout: Duration) -> AnyPoolOptions {
    match backend {
        Backend::Sqlite => AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // The URL cannot carry these; WAL lets readers work beside
                    // the writer, and waits replace "database is locked" errors.
                    conn.execute(
                        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                         PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            }),
        Backend::Postgres => AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(acquire_timeout),
    }
}

/// Connection failures worth waiting out (the server is starting or
/// unreachable); a refused password or a missing database is not.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // 57P03: "the database system is starting up".
        sqlx::Error::Database(d) => d.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// The URL without its password, for log lines.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A number that grows with every call in this process (microseconds, bumped
/// on ties): orders rows written in the same second, which `rowid` did on
/// SQLite alone. Instances' clocks interleave their rows by time.
pub(crate) fn next_seq() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    now.max(prev + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_scheme() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://h/db"), Some(Backend::Postgres));
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        let shown = redact_url("postgres://app:s3cret@db:5432/portcullis");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432/portcullis"));
    }

    #[test]
    fn seq_grows() {
        let a = next_seq();
        let b = next_seq();
        assert!(b > a);
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_after_the_retries() {
        let err = Store::open_with(
            "postgres://nobody@127.0.0.1:1/none",
            ConnectRetry {
                attempts: 2,
                delay: Duration::from_millis(10),
                attempt_timeout: Duration::from_millis(300),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Database(_)), "{err}");
    }
}
