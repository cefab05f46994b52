//! Signing keys: RS256 (the default every relying party understands) and
//! ES256, each with a `kid`. Generated on first start and kept in the store,
//! private halves sealed with the master key, so every instance sharing the
//! store signs with the same keys and publishes the same JWKS.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::crypto::{self, SecretBox};
use crate::error::{Error, Result};
use crate::store::{SigningKeyRow, Store};

/// The algorithms this provider signs with, as JOSE names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::RS256, Alg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            _ => None,
        }
    }
}

enum Private {
    Rsa(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
    Ec(p256::ecdsa::SigningKey),
}

enum Public {
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
    Ec(p256::ecdsa::VerifyingKey),
}

/// One key pair as loaded from the store.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub jwk: Value,
    pub retired_at: Option<i64>,
    private: Private,
    public: Public,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Every key in the store: the current signer per algorithm and the retired
/// ones still published for verification.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

const RSA_BITS: usize = 2048;

fn generate(alg: Alg, sb: &SecretBox, now: i64) -> Result<SigningKeyRow> {
    let kid = crypto::b64url(&crypto::random_bytes::<12>());
    let (der, jwk) = match alg {
        Alg::RS256 => {
            let mut rng = rsa::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS)
                .map_err(|e| Error::Invalid(format!("RSA key generation failed: {e}")))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| Error::Invalid(format!("RSA key encoding failed: {e}")))?;
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": crypto::b64url(&key.n().to_bytes_be()),
                "e": crypto::b64url(&key.e().to_bytes_be()),
            });
            (der.as_bytes().to_vec(), jwk)
        }
        Alg::ES256 => {
            let key = p256::ecdsa::SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
            let der = key
                .to_pkcs8_der()
                .map_err(|e| Error::Invalid(format!("EC key encoding failed: {e}")))?;
            let point = key.verifying_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(Error::Invalid("EC public key has no coordinates".into()));
            };
            let jwk = json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                "x": crypto::b64url(x), "y": crypto::b64url(y),
            });
            (der.as_bytes().to_vec(), jwk)
        }
    };
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
    let jwk: Value = serde_json::from_str(&row.public_jwk).map_err(|_| corrupt("bad JWK"))?;
    let (private, public) = match alg {
        Alg::RS256 => {
            let key =
                rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|_| corrupt("bad RSA key"))?;
            let verifying = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.to_public_key());
            let signing = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
            (
                Private::Rsa(Box::new(signing)),
                Public::Rsa(Box::new(verifying)),
            )
        }
        Alg::ES256 => {
            let key =
                p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|_| corrupt("bad EC key"))?;
            let verifying = *key.verifying_key();
            (Private::Ec(key), Public::Ec(verifying))
        }
    };
    Ok(SigningKey {
        kid: row.kid.clone(),
        alg,
        jwk,
        retired_at: row.retired_at,
        private,
        public,
    })
}

impl KeySet {
    /// Loads every key, generating a signer for each algorithm that has none
    /// (first start). Two instances starting together may both generate one;
    /// the newer simply becomes the signer and the other stays published.
    pub async fn load_or_create(store: &Store, sb: &SecretBox, now: i64) -> Result<Self> {
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
        Ok(Self { keys })
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

    /// The current signer for `alg`: the newest unretired key.
    pub fn signer(&self, alg: Alg) -> Option<&SigningKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.retired_at.is_none())
        // Keys are ordered by creation: searching from the end finds the newest.
    }

    /// Whether a key with this id is in the set.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    /// The JWKS document: every key still published.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Signs `claims` as a compact JWS with header `typ`.
    pub fn sign(&self, alg: Alg, typ: &str, claims: &Value) -> Result<String> {
        let key = self
            .signer(alg)
            .ok_or_else(|| Error::Invalid(format!("no {} signing key", alg.as_str())))?;
        let header = json!({ "alg": alg.as_str(), "typ": typ, "kid": key.kid });
        let input = format!(
            "{}.{}",
            crypto::b64url(header.to_string().as_bytes()),
            crypto::b64url(claims.to_string().as_bytes())
        );
        let sig = match &key.private {
            Private::Rsa(k) => {
                let s: rsa::pkcs1v15::Signature = k.sign(input.as_bytes());
                rsa::signature::SignatureEncoding::to_vec(&s)
            }
            Private::Ec(k) => {
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
        };
        Ok(format!("{input}.{}", crypto::b64url(&sig)))
    }

    /// Checks a compact JWS made by one of our keys and returns its header
    /// `typ` and claims. Expiry and audience are the caller's business.
    pub fn verify(&self, jwt: &str) -> Option<(String, Value)> {
        if jwt.len() > 16 * 1024 {
            return None;
        }
        let mut parts = jwt.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&crypto::b64url_decode(h)?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let alg = Alg::parse(header.get("alg")?.as_str()?)?;
        let key = self.keys.iter().find(|k| k.kid == kid && k.alg == alg)?;
        let sig = crypto::b64url_decode(s)?;
        let input = &jwt[..h.len() + 1 + c.len()];
        let ok = match &key.public {
            Public::Rsa(k) => rsa::pkcs1v15::Signature::try_from(sig.as_slice())
                .is_ok_and(|s| k.verify(input.as_bytes(), &s).is_ok()),
            Public::Ec(k) => p256::ecdsa::Signature::from_slice(&sig)
                .is_ok_and(|s| k.verify(input.as_bytes(), &s).is_ok()),
        };
        if !ok {
            return None;
        }
        let claims: Value = serde_json::from_slice(&crypto::b64url_decode(c)?).ok()?;
        let typ = header
            .get("typ")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Some((typ, claims))
    }
}

/// The `kid` in a compact JWS header, unverified (to decide whether to reload keys).
pub fn kid_of(jwt: &str) -> Option<String> {
    if jwt.len() > 16 * 1024 {
        return None;
    }
    let h = jwt.split('.').next()?;
    let header: Value = serde_json::from_slice(&crypto::b64url_decode(h)?).ok()?;
    Some(header.get("kid")?.as_str()?.to_string())
}
