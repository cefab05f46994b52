//! SSH public keys users register: the strength rules, and the user's own
//! adding and deleting.

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey};

use super::{AccountError, key_name};
use crate::audit::{self, Event, Outcome};
use crate::directory::User;
use crate::error::Result;
use crate::idp::Idp;

/// A key that passed validation, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub algorithm: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `algorithm base64 [comment]` with normalised whitespace.
    pub openssh: String,
}

/// Parses one `authorized_keys`-style line and applies our strength rules:
/// Ed25519, ECDSA on NIST curves, RSA of 2048 bits or more, and their FIDO
/// (`sk-`) variants. DSA is refused.
pub fn parse(text: &str) -> Result<ParsedKey, String> {
    let line = text.trim();
    if line.is_empty() {
        return Err("Paste a public key.".into());
    }
    if line.lines().count() > 1 {
        return Err("Paste a single public key on one line.".into());
    }
    if line.contains("PRIVATE KEY") {
        return Err("That is a private key. Paste the public key (the .pub file) instead.".into());
    }
    let key = PublicKey::from_openssh(line)
        .map_err(|_| "This is not a valid OpenSSH public key.".to_string())?;
    match key.key_data() {
        KeyData::Dsa(_) => return Err("DSA keys are too weak and are not accepted.".into()),
        KeyData::Rsa(rsa) => {
            let bits = mpint_bits(rsa.n.as_positive_bytes().unwrap_or(&[]));
            if bits < 2048 {
                return Err(format!(
                    "RSA keys must have at least 2048 bits; this one has {bits}."
                ));
            }
        }
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => {}
        KeyData::Ecdsa(_) | KeyData::SkEcdsaSha2NistP256(_) => {}
        _ => return Err("This key type is not supported.".into()),
    }
    let algorithm = match key.algorithm() {
        Algorithm::Ecdsa { curve } => match curve {
            EcdsaCurve::NistP256 => "ecdsa-sha2-nistp256".to_string(),
            EcdsaCurve::NistP384 => "ecdsa-sha2-nistp384".to_string(),
            EcdsaCurve::NistP521 => "ecdsa-sha2-nistp521".to_string(),
        },
        other => other.as_str().to_string(),
    };
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let openssh = key
        .to_openssh()
        .map_err(|_| "This key could not be encoded.".to_string())?;
    Ok(ParsedKey {
        algorithm,
        fingerprint,
        openssh,
    })
}

fn mpint_bits(bytes: &[u8]) -> usize {
    let first = bytes.iter().position(|b| *b != 0);
    match first {
        None => 0,
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
    }
}

impl Idp {
    /// Adds a key the user pasted, once it passes [`parse`]; returns its id.
    pub async fn add_ssh_key(
        &self,
        user: &User,
        name: &str,
        public_key: &str,
        ip: Option<&str>,
        now: i64,
    ) -> std::result::Result<String, AccountError> {
        let name = key_name(name)?;
        let key = parse(public_key).map_err(AccountError::Refused)?;
        let id = match self
            .store
            .add_ssh_key(
                &user.id,
                &name,
                &key.algorithm,
                &key.fingerprint,
                &key.openssh,
                now,
            )
            .await
        {
            Ok(id) => id,
            Err(crate::Error::Conflict(_)) => {
                return Err(AccountError::Refused(
                    "You have already added this key.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        audit::record(
            &self.store,
            now,
            Event::new("ssh_key.add", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(key.fingerprint),
        )
        .await;
        Ok(id)
    }

    /// Deletes one of the user's keys; false when they have no such key.
    pub async fn delete_ssh_key(
        &self,
        user: &User,
        key_id: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let Some(fingerprint) = self.store.delete_ssh_key(&user.id, key_id).await? else {
            return Ok(false);
        };
        audit::record(
            &self.store,
            now,
            Event::new("ssh_key.delete", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(fingerprint),
        )
        .await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = include_str!("../../tests/fixtures/ed25519.pub");
    const ECDSA256: &str = include_str!("../../tests/fixtures/ecdsa-p256.pub");
    const RSA1024: &str = include_str!("../../tests/fixtures/rsa-1024.pub");
    const RSA3072: &str = include_str!("../../tests/fixtures/rsa-3072.pub");
    const DSA: &str = include_str!("../../tests/fixtures/dsa.pub");

    #[test]
    fn accepts_strong_keys_with_fingerprint() {
        let k = parse(ED25519).unwrap();
        assert_eq!(k.algorithm, "ssh-ed25519");
        // The same fingerprint `ssh-keygen -lf` prints for the fixture.
        assert_eq!(
            k.fingerprint,
            "SHA256:QwaSbwGAKRAZ75VYpcSN9I+djubjMg5MpPFSC0O/nXM"
        );
        let k = parse(&format!("  {ECDSA256}  \n")).unwrap();
        assert_eq!(k.algorithm, "ecdsa-sha2-nistp256");
        assert_eq!(parse(RSA3072).unwrap().algorithm, "ssh-rsa");
    }

    #[test]
    fn refuses_weak_and_malformed_keys() {
        assert!(parse(DSA).unwrap_err().contains("DSA"));
        let short = parse(RSA1024).unwrap_err();
        assert!(short.contains("2048") && short.contains("1024"), "{short}");
        assert!(parse("ssh-ed25519 AAAAnotbase64!!").is_err());
        assert!(parse("").is_err());
        assert!(parse("hello world").is_err());
        assert!(
            parse("-----BEGIN OPENSSH PRIVATE KEY-----")
                .unwrap_err()
                .contains("private")
        );
        assert!(parse(&format!("{ED25519}\n{ED25519}")).is_err());
    }

    #[test]
    fn bit_counting() {
        assert_eq!(mpint_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(mpint_bits(&[0x01]), 1);
        assert_eq!(mpint_bits(&[]), 0);
    }
}
