//! The identity core's hub: the parts every operation shares (configuration,
//! store, hasher, sessions, keys, protocol runtime state, mailer, upstream
//! providers), opened once. The operations live beside it: sign-in in
//! [`crate::sign_in`], passwords in [`crate::password`], administration in
//! [`crate::admin`]. No HTTP here.

use std::sync::Arc;

use crate::clock;
use crate::config::IdpConfig;
use crate::credentials::Hasher;
use crate::crypto::Keys;
use crate::directory::{User, normalize_email};
use crate::error::{Error, Result};
use crate::session::{EmbeddedStore, Sessions};
use crate::settings::Settings;
use crate::store::Store;

/// The identity core: store, password hasher, sessions and keys.
#[derive(Debug)]
pub struct Idp {
    pub config: IdpConfig,
    pub store: Store,
    pub hasher: Hasher,
    pub sessions: Sessions,
    pub keys: Keys,
    /// The OpenID Connect provider's runtime state (cached signing keys).
    pub oidc: crate::oidc::provider::Provider,
    /// The SAML identity provider's runtime state (cached certificates).
    pub saml: crate::saml::provider::Provider,
    pub mailer: crate::mail::Mailer,
    /// Upstream identity providers, by email domain.
    pub federation: std::sync::Arc<crate::federation::Federation>,
    /// The gateway's protected applications and its handshake codes, shared
    /// by the portal's handshake page and the proxy in the same process.
    pub handoffs: crate::handoff::Handoffs,
    /// The binary's gateway policies, when it serves any.
    pub policies: crate::policy_hook::Slot,
}

impl Idp {
    /// Opens the data directory, the store and the session store.
    pub async fn open(config: IdpConfig) -> Result<Arc<Self>> {
        let dir = &config.store.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let store = Store::open_configured(
            &config.database_url(),
            crate::store::ConnectRetry::default(),
            config.store.acquire_timeout,
        )
        .await?;
        Self::with_store(config, store).await
    }

    /// Builds the core over an already opened store (tests use in-memory ones).
    pub async fn with_store(config: IdpConfig, store: Store) -> Result<Arc<Self>> {
        let keys = match &config.secrets.master_key {
            Some(k) => Keys::from_base64(k)?,
            None => Keys::load_or_create(&config.master_key_file())?,
        };
        let hasher = Hasher::new(&config.passwords)?;
        if store.backend() == crate::store::Backend::Postgres && config.sessions.store != "redis" {
            // Legitimate for one instance on PostgreSQL; a mistake for several.
            tracing::warn!(
                "the state store is PostgreSQL but sessions.store is \"embedded\": sessions live in this process only; \
                 instances sharing the database need sessions.store = \"redis\""
            );
        }
        let session_store: Arc<dyn crate::session::Store> =
            match (config.sessions.store.as_str(), &config.sessions.redis_url) {
                ("redis", Some(url)) => Arc::new(
                    crate::redis_store::RedisStore::connect(url, &config.sessions.redis_prefix)
                        .await?,
                ),
                _ => Arc::new(EmbeddedStore::load(store.clone(), clock::now()).await?),
            };
        let sessions = Sessions::new(session_store, &config.sessions);
        let federation = std::sync::Arc::new(crate::federation::Federation::new(
            &config.federation,
            &config.public_url,
        )?);
        if !federation.is_empty() {
            federation.start_background();
        }
        let mailer = crate::mail::Mailer::start(&config, store.clone())
            .map_err(|e| Error::Invalid(format!("mail: {e}")))?;
        let handoffs = crate::handoff::Handoffs::new(store.clone());
        Ok(Arc::new(Self {
            config,
            store,
            hasher,
            sessions,
            keys,
            oidc: crate::oidc::provider::Provider::default(),
            saml: crate::saml::provider::Provider::default(),
            mailer,
            federation,
            handoffs,
            policies: crate::policy_hook::Slot::default(),
        }))
    }

    pub async fn settings(&self) -> Result<Settings> {
        Settings::load(&self.store).await
    }

    /// The user with this email (any case).
    pub async fn user_by_email(&self, email: &str) -> Result<User> {
        self.store
            .user_by_email(&normalize_email(email))
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user with email {email}")))
    }
}
