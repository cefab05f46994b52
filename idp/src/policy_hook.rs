//! The gateway's policy files as the identity core sees them. The core does
//! not read them (they are the binary's, and idp must not depend on it): the
//! binary registers a [`PolicyHook`] at start-up, and the admin console and
//! API reach the files' status and their reload through it.

use std::sync::{Arc, OnceLock};

/// One policy file and whether it passed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyFile {
    /// The file's name in the policies folder, e.g. `wiki.toml`.
    pub file: String,
    /// The application id it protects (its file stem).
    pub id: String,
    /// Why the file was refused; none when it is valid.
    pub error: Option<String>,
}

/// What the gateway serves and how the last check of its files went.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyStatus {
    /// Every `*.toml` in the policies folder at the last check.
    pub files: Vec<PolicyFile>,
    /// A refusal that is not one file's alone (the folder cannot be read,
    /// two files protect the same host and path).
    pub error: Option<String>,
    /// Whether the last check's policies are the ones being served; false
    /// after a refused reload, when the previous ones stay.
    pub applied: bool,
    /// How many policies are served.
    pub served: usize,
    /// When the files were last checked (unix seconds).
    pub checked_at: i64,
}

impl PolicyStatus {
    /// Whether every file and the set as a whole passed.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.files.iter().all(|f| f.error.is_none())
    }
}

/// Implemented by the binary that serves gateway policies.
#[async_trait::async_trait]
pub trait PolicyHook: Send + Sync {
    /// The status of the last check (start-up, SIGHUP or [`Self::reload`]).
    async fn status(&self) -> PolicyStatus;
    /// Reads and validates every policy file again; when all pass, serves
    /// them and reconciles their applications into the directory, otherwise
    /// keeps the running policies. Returns the new status.
    async fn reload(&self) -> PolicyStatus;
}

/// Where the binary registers its hook; empty in a process that serves no
/// gateway (the tests, the admin CLI).
#[derive(Default)]
pub struct Slot(OnceLock<Arc<dyn PolicyHook>>);

impl Slot {
    /// Registers the hook; a second registration is ignored (one gateway
    /// per process).
    pub fn set(&self, hook: Arc<dyn PolicyHook>) {
        let _ = self.0.set(hook);
    }

    pub fn get(&self) -> Option<&Arc<dyn PolicyHook>> {
        self.0.get()
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("registered", &self.0.get().is_some())
            .finish()
    }
}
