use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;
use crate::error::{Error, Result};

/// Hashes and verifies passwords with argon2id. At most `workers` hashes run
/// at once, each on tokio's blocking pool; further callers wait on a
/// semaphore without occupying a runtime thread, so a burst of sign-ins
/// cannot stall page requests.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does
    /// not exist, so that unknown emails cost the same time as wrong passwords.
    dummy: Arc<String>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .finish()
    }
}

impl Hasher {
    pub fn new(cfg: &PasswordConfig) -> Result<Self> {
        let params = Params::new(
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            cfg.argon2_parallelism,
            None,
        )
        .map_err(|e| Error::Hashing(e.to_string()))?;
        let workers = cfg.hash_workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let dummy_password = crate::crypto::random_token();
        let dummy = hash_blocking(&params, &dummy_password)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(workers)),
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move || hash_blocking(&params, &password)).await
    }

    /// True when `password` matches `phc`. Without a stored hash the dummy is
    /// verified instead and the answer is always false.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        let real = phc.is_some();
        let phc = phc
            .map(str::to_owned)
            .unwrap_or_else(|| (*self.dummy).clone());
        let password = password.to_owned();
        let ok = self.run(move || verify_blocking(&password, &phc)).await?;
        Ok(ok && real)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Hashing("hasher closed".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Hashing(format!("hash task failed: {e}")))?
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> Result<String> {
    let salt = crate::crypto::random_bytes::<16>();
    argon(params)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hashing(e.to_string()))
}

/// Verifies with the parameters recorded in the hash itself, so hashes made
/// under older settings keep working.
fn verify_blocking(password: &str, phc: &str) -> Result<bool> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| Error::Corrupt(format!("password hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordConfig {
        PasswordConfig {
            argon2_memory_kib: 8192,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            hash_workers: Some(2),
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = Hasher::new(&cheap()).unwrap();
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{phc}");
        assert!(h.verify("correct horse", Some(&phc)).await.unwrap());
        assert!(!h.verify("wrong horse", Some(&phc)).await.unwrap());
        assert!(!h.verify("correct horse", None).await.unwrap());
        assert_ne!(phc, h.hash("correct horse").await.unwrap(), "salted");
        assert!(h.verify("x", Some("not a hash")).await.is_err());
    }
}
