//! Every query the core makes lives below this module, so that a second
//! database engine can follow without touching callers.

mod apps;
mod audit;
mod credentials;
mod federation;
mod groups;
mod keys;
mod mfa;
mod oidc;
mod resets;
mod sessions;
mod settings;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::Result;

pub use apps::NewApplication;
pub use audit::AuditRow;
pub use federation::{FederatedLink, RequestUse};
pub use keys::{ApiKeyRow, SshKeyRow};
pub use mfa::{TotpRow, WebauthnRow};
pub use oidc::{CodeRow, GrantRow, SigningKeyRow, Spend};
pub use resets::ResetRow;
pub use users::NewUser;

/// The state store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating when needed) the database and runs the migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A private in-memory database, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to :memory: is a database of its own.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// True when no user exists yet: the signal to seed demo data.
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
