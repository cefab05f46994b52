//! Signing keys: RS256 and ES256, each with a `kid`. Generated on first
//! start and kept in the store, private halves sealed with the master key,
//! so every instance sharing the store signs with the same keys and
//! publishes the same JWKS. The keys themselves, the signer and the compact
//! JWS reader are `portcullis_wire::jws` (re-exported here), so the fuzz
//! targets link them without the core; what is here is their storage.

pub use portcullis_wire::jws::{Alg, KeyError, KeySet, SigningKey, kid_of};

use crate::crypto::{self, SecretBox};
use crate::error::{Error, Result};
use crate::store::{SigningKeyRow, Store};

fn generate(alg: Alg, sb: &SecretBox, now: i64) -> Result<SigningKeyRow> {
    let kid = crypto::b64url(&crypto::random_bytes::<12>());
    let (der, jwk) =
        portcullis_wire::jws::generate(alg, &kid).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(SigningKeyRow {
        kid,
        alg: alg.as_str().into(),
        private_sealed: sb.seal(&der),
        public_jwk: jwk.to_string(),
        created_at: now,
        retired_at: None,
    })
}

fn load(row: &SigningKeyRow, sb: &SecretBox) -> Result<SigningKey> {
    let corrupt = |what: &str| Error::Corrupt(format!("signing key {}: {what}", row.kid));
    let alg = Alg::parse(&row.alg).ok_or_else(|| corrupt("unknown algorithm"))?;
    let der = sb.open(&row.private_sealed)?;
    let jwk = serde_json::from_str(&row.public_jwk).map_err(|_| corrupt("bad JWK"))?;
    SigningKey::from_pkcs8_der(row.kid.clone(), alg, &der, jwk, row.retired_at)
        .map_err(|e| corrupt(&e.to_string()))
}

/// Loads every key, generating a signer for each algorithm that has none
/// (first start). Two instances starting together may both generate one;
/// the newer simply becomes the signer and the other stays published.
pub async fn load_or_create(store: &Store, sb: &SecretBox, now: i64) -> Result<KeySet> {
    let mut rows = store.oidc_keys().await?;
    for alg in Alg::ALL {
        if !rows
            .iter()
            .any(|r| r.alg == alg.as_str() && r.retired_at.is_none())
        {
            let row = tokio::task::spawn_blocking({
                let sb = sb.clone();
                move || generate(alg, &sb, now)
            })
            .await
            .map_err(|e| Error::Invalid(format!("key generation task failed: {e}")))??;
            store.add_oidc_key(&row).await?;
            rows = store.oidc_keys().await?;
        }
    }
    let keys = rows.iter().map(|r| load(r, sb)).collect::<Result<_>>()?;
    Ok(KeySet::new(keys))
}

/// Adds a new key of `alg` that takes over signing; the old one stays
/// published until its tokens have expired.
pub async fn rotate(store: &Store, sb: &SecretBox, alg: Alg, now: i64) -> Result<String> {
    let row = tokio::task::spawn_blocking({
        let sb = sb.clone();
        move || generate(alg, &sb, now)
    })
    .await
    .map_err(|e| Error::Invalid(format!("key generation task failed: {e}")))??;
    store.add_oidc_key(&row).await?;
    Ok(row.kid)
}
