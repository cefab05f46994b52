//! The one error type of the identity core. The portal maps it to pages and
//! status codes at the edge; nothing here knows about HTTP.

/// Everything that can go wrong in an identity operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("secret could not be decrypted")]
    Decrypt,
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("session store unavailable: {0}")]
    SessionStore(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
