//! Small cryptographic building blocks shared by every module: random tokens,
//! hashes of bearer secrets, MACs, constant-time comparison, and the one
//! encryption helper for secrets at rest.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom only fails when the OS has no entropy source at all; there is
    // no safe way to continue issuing secrets then.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("operating system random source unavailable");
    buf
}

/// A URL-safe random token carrying 256 bits.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Hex SHA-256 of a high-entropy bearer secret (session ids, API keys): such
/// secrets need no slow hash, only not being stored in the clear.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SHA-256 in standard base64, as Content-Security-Policy hashes are written.
pub fn sha256_base64(data: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(data))
}

/// Base64url without padding lives with the JWS reader in `portcullis_wire`.
pub use portcullis_wire::jws::{b64url, b64url_decode};

/// Equality that takes the same time wherever the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The master key and the purpose-bound keys derived from it.
#[derive(Clone)]
pub struct Keys {
    master: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn new(master: [u8; 32]) -> Self {
        Self { master }
    }

    /// Parses a base64 (standard or URL-safe) 32-byte key.
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| Error::Invalid("master key is not base64".into()))?;
        let master: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Invalid("master key must be 32 bytes".into()))?;
        Ok(Self { master })
    }

    /// Loads the key file, creating it with a new random key (mode 0600) when absent.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, format!("{}\n", STANDARD.encode(key)).as_bytes())
                    .map_err(io)?;
                Ok(Self { master: key })
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A key for one purpose, so that a MAC made for cookies can never be
    /// replayed as, say, a CSRF token.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.master).unwrap_or_else(|_| unreachable!());
        mac.update(b"portcullis-key-v1:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let key = self.derive(purpose);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    pub fn verify_mac(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        ct_eq(&self.mac(purpose, data), tag)
    }

    /// The encryption helper for secrets at rest.
    pub fn secret_box(&self) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(&self.derive("secret-box").into()),
        }
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}

/// AES-256-GCM with a random nonce per message; the stored form is
/// `v1:` + base64url(nonce ‖ ciphertext).
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce = random_bytes::<12>();
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .unwrap_or_else(|_| unreachable!("AES-GCM encryption cannot fail for in-memory data"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", b64url(&out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>> {
        let body = sealed.strip_prefix("v1:").ok_or(Error::Decrypt)?;
        let raw = b64url_decode(body).ok_or(Error::Decrypt)?;
        if raw.len() < 12 + 16 {
            return Err(Error::Decrypt);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| Error::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_box_round_trips_and_rejects_tampering() {
        let keys = Keys::new([7; 32]);
        let sb = keys.secret_box();
        let sealed = sb.seal(b"JBSWY3DPEHPK3PXP");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(sb.open(&sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        // Same plaintext twice gives different ciphertexts (random nonce).
        assert_ne!(sealed, sb.seal(b"JBSWY3DPEHPK3PXP"));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sb.open(&tampered).is_err());
        assert!(Keys::new([8; 32]).secret_box().open(&sealed).is_err());
        assert!(sb.open("garbage").is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let keys = Keys::new([1; 32]);
        assert_ne!(keys.derive("a"), keys.derive("b"));
        let tag = keys.mac("cookie", b"x");
        assert!(keys.verify_mac("cookie", b"x", &tag));
        assert!(!keys.verify_mac("csrf", b"x", &tag));
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = Keys::load_or_create(&path).unwrap();
        let b = Keys::load_or_create(&path).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert!(Keys::from_base64("short").is_err());
    }
}
