//! Personal API keys: `pcl_` + 256 random bits, shown once; only a SHA-256
//! of the secret is kept, looked up by that hash.

use crate::crypto;

pub const PREFIX: &str = "pcl_";

/// A fresh key: (secret to show once, short prefix to list, hash to store).
pub fn generate() -> (String, String, String) {
    let secret = format!("{PREFIX}{}", crypto::random_token());
    let shown = secret[..PREFIX.len() + 6].to_string();
    let hash = hash(&secret);
    (secret, shown, hash)
}

pub fn hash(secret: &str) -> String {
    crypto::sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hashed() {
        let (a, prefix, h) = generate();
        let (b, _, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() > 40);
        assert!(a.starts_with(&prefix));
        assert_eq!(h, hash(&a));
        assert!(!h.contains(&a[PREFIX.len()..]));
    }
}
