//! Recovery codes: ten random codes shown once, stored as keyed hashes.

use crate::crypto::{self, Keys};

pub const COUNT: usize = 10;
/// Letters and digits without look-alikes (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// One new code, `XXXXX-XXXXX`: 10 symbols of 31, about 49 bits.
pub fn generate() -> String {
    let bytes = crypto::random_bytes::<10>();
    let mut s = String::with_capacity(11);
    for (i, b) in bytes.iter().enumerate() {
        if i == 5 {
            s.push('-');
        }
        // 256 is not a multiple of 31; the bias (< 1 %) costs well under a bit.
        s.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
    }
    s
}

/// The canonical form of what a user typed: upper case, no dashes or spaces.
pub fn normalize(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A keyed hash, so a leaked table cannot be brute-forced without the master
/// key; the codes' entropy makes a slow hash unnecessary.
pub fn hash(keys: &Keys, user_id: &str, code: &str) -> String {
    let mut data = user_id.as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(normalize(code).as_bytes());
    hex::encode(keys.mac("recovery-code", &data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_hash_by_canonical_form() {
        let a = generate();
        assert_eq!(a.len(), 11);
        assert_ne!(a, generate());
        let keys = Keys::new([3; 32]);
        assert_eq!(
            hash(&keys, "u", &a),
            hash(&keys, "u", &a.to_lowercase().replace('-', " "))
        );
        assert_ne!(hash(&keys, "u", &a), hash(&keys, "v", &a));
    }
}
