//! Compact JWS (RFC 7515) with the provider's signing keys: RS256 (the
//! default every relying party understands) and ES256, each with a `kid`.
//! The reader behind `id_token_hint`, the gateway's bearer checks and every
//! token the provider reads back ([`KeySet::verify`], [`kid_of`]), and the
//! signer. Where the keys are kept (sealed in the store) is
//! `idp::oidc::keys`'s business; this module only needs their DER.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::Sha256;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Base64url without padding, as JOSE (RFC 7515 section 2) and the rest of
/// Portcullis write it.
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Longer tokens are not read at all.
pub const MAX_TOKEN: usize = 16 * 1024;

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

/// Why a key could not be made, read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0} key generation failed")]
    Generate(&'static str),
    #[error("{0} key encoding failed")]
    Encode(&'static str),
    #[error("bad {0} key")]
    Decode(&'static str),
    #[error("no {0} signing key")]
    NoSigner(&'static str),
}

enum Private {
    Rsa(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
    Ec(p256::ecdsa::SigningKey),
}

enum Public {
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
    Ec(p256::ecdsa::VerifyingKey),
}

/// One key pair.
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

const RSA_BITS: usize = 2048;

/// A new key pair of `alg` named `kid`: its private half as PKCS#8 DER and
/// its public JWK.
pub fn generate(alg: Alg, kid: &str) -> Result<(Vec<u8>, Value), KeyError> {
    match alg {
        Alg::RS256 => {
            let mut rng = rsa::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS)
                .map_err(|_| KeyError::Generate("RSA"))?;
            let der = key.to_pkcs8_der().map_err(|_| KeyError::Encode("RSA"))?;
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64url(&key.n().to_bytes_be()),
                "e": b64url(&key.e().to_bytes_be()),
            });
            Ok((der.as_bytes().to_vec(), jwk))
        }
        Alg::ES256 => {
            let key = p256::ecdsa::SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
            let der = key.to_pkcs8_der().map_err(|_| KeyError::Encode("EC"))?;
            let point = key.verifying_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(KeyError::Encode("EC"));
            };
            let jwk = json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                "x": b64url(x), "y": b64url(y),
            });
            Ok((der.as_bytes().to_vec(), jwk))
        }
    }
}

impl SigningKey {
    /// A key pair from its private half (PKCS#8 DER) and its published JWK.
    pub fn from_pkcs8_der(
        kid: String,
        alg: Alg,
        der: &[u8],
        jwk: Value,
        retired_at: Option<i64>,
    ) -> Result<Self, KeyError> {
        let (private, public) = match alg {
            Alg::RS256 => {
                let key =
                    rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|_| KeyError::Decode("RSA"))?;
                let verifying = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.to_public_key());
                let signing = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
                (
                    Private::Rsa(Box::new(signing)),
                    Public::Rsa(Box::new(verifying)),
                )
            }
            Alg::ES256 => {
                let key = p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map_err(|_| KeyError::Decode("EC"))?;
                let verifying = *key.verifying_key();
                (Private::Ec(key), Public::Ec(verifying))
            }
        };
        Ok(Self {
            kid,
            alg,
            jwk,
            retired_at,
            private,
            public,
        })
    }
}

/// Every key: the current signer per algorithm and the retired ones still
/// published for verification, ordered by creation.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    pub fn new(keys: Vec<SigningKey>) -> Self {
        Self { keys }
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
    pub fn sign(&self, alg: Alg, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let key = self.signer(alg).ok_or(KeyError::NoSigner(alg.as_str()))?;
        let header = json!({ "alg": alg.as_str(), "typ": typ, "kid": key.kid });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
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
        Ok(format!("{input}.{}", b64url(&sig)))
    }

    /// Checks a compact JWS made by one of our keys and returns its header
    /// `typ` and claims. Expiry and audience are the caller's business.
    pub fn verify(&self, jwt: &str) -> Option<(String, Value)> {
        if jwt.len() > MAX_TOKEN {
            return None;
        }
        let mut parts = jwt.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&b64url_decode(h)?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let alg = Alg::parse(header.get("alg")?.as_str()?)?;
        let key = self.keys.iter().find(|k| k.kid == kid && k.alg == alg)?;
        let sig = b64url_decode(s)?;
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
        let claims: Value = serde_json::from_slice(&b64url_decode(c)?).ok()?;
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
    if jwt.len() > MAX_TOKEN {
        return None;
    }
    let h = jwt.split('.').next()?;
    let header: Value = serde_json::from_slice(&b64url_decode(h)?).ok()?;
    Some(header.get("kid")?.as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alg: Alg, kid: &str, retired_at: Option<i64>) -> SigningKey {
        let (der, jwk) = generate(alg, kid).unwrap();
        SigningKey::from_pkcs8_der(kid.into(), alg, &der, jwk, retired_at).unwrap()
    }

    #[test]
    fn our_tokens_read_back_and_nothing_else_does() {
        let keys = KeySet::new(vec![key(Alg::RS256, "r", None), key(Alg::ES256, "e", None)]);
        for alg in Alg::ALL {
            let claims = json!({"sub": "dana"});
            let jwt = keys.sign(alg, "JWT", &claims).unwrap();
            assert_eq!(keys.verify(&jwt), Some(("JWT".into(), claims)));
            let (head, sig) = jwt.rsplit_once('.').unwrap();
            let other = if sig.starts_with('A') { "B" } else { "A" };
            assert_eq!(keys.verify(&format!("{head}.{other}{}", &sig[1..])), None);
            assert_eq!(keys.verify(&format!("{jwt}.x")), None);
        }
        let kid = kid_of(&keys.sign(Alg::ES256, "JWT", &json!({})).unwrap());
        assert_eq!(kid.as_deref(), Some("e"));
        assert_eq!(kid_of("not a token"), None);
        // Another set's token, and an algorithm swapped in the header, are refused.
        let others = KeySet::new(vec![key(Alg::ES256, "e", None)]);
        let jwt = others.sign(Alg::ES256, "JWT", &json!({})).unwrap();
        assert_eq!(keys.verify(&jwt), None);
    }

    #[test]
    fn the_newest_unretired_key_signs() {
        let keys = KeySet::new(vec![
            key(Alg::ES256, "old", None),
            key(Alg::ES256, "new", None),
            key(Alg::ES256, "gone", Some(1)),
        ]);
        assert_eq!(keys.signer(Alg::ES256).unwrap().kid, "new");
        assert!(keys.knows("gone") && !keys.knows("nope"));
        assert_eq!(
            keys.sign(Alg::RS256, "JWT", &json!({})).unwrap_err(),
            KeyError::NoSigner("RS256")
        );
        assert_eq!(
            SigningKey::from_pkcs8_der("k".into(), Alg::RS256, b"junk", json!({}), None)
                .unwrap_err(),
            KeyError::Decode("RSA")
        );
    }
}
