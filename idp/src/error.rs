//! The one error type of the identity core. The portal maps it to pages and
//! status codes at the edge; nothing here knows about HTTP.

/// Everything that can go wrong in an identity operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("database error: {0}")]
    Database(sqlx::Error),
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

/// What kind of fault an error is, for the people it reaches: the store is
/// not there (try again soon), or it is there and cannot take more data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The state store or the session store does not answer (down, no free
    /// connection within the acquire timeout, connection lost).
    Unavailable,
    /// The database is out of space: SQLite's SQLITE_FULL, PostgreSQL's
    /// 53100 disk_full, or ENOSPC on a file the core writes.
    StorageFull,
}

impl Error {
    /// The fault behind this error, when it is one; `None` for refusals,
    /// bad input and bugs.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::SessionStore(_) => Some(Fault::Unavailable),
            Self::Database(e) => database_fault(e),
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                Some(Fault::StorageFull)
            }
            _ => None,
        }
    }
}

/// The fault a database error is, if any.
pub fn database_fault(e: &sqlx::Error) -> Option<Fault> {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Some(Fault::Unavailable),
        sqlx::Error::Database(d) => {
            let code = d.code()?;
            match code.as_ref() {
                "53100" => Some(Fault::StorageFull),
                // Connection exceptions, and the server shutting down or starting.
                c if c.starts_with("08") => Some(Fault::Unavailable),
                "57P01" | "57P02" | "57P03" => Some(Fault::Unavailable),
                // SQLite reports extended result codes (at most four digits;
                // SQLSTATEs have five); the primary is the low byte.
                c if c.len() < 5 => match c.parse::<i32>() {
                    Ok(n) if n & 0xff == SQLITE_FULL => Some(Fault::StorageFull),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// SQLite's "database or disk is full".
const SQLITE_FULL: i32 = 13;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if database_fault(&e) == Some(Fault::StorageFull) {
            crate::store::note_storage_full();
        }
        Self::Database(e)
    }
}

impl From<portcullis_wire::jws::KeyError> for Error {
    fn from(e: portcullis_wire::jws::KeyError) -> Self {
        Self::Invalid(e.to_string())
    }
}
