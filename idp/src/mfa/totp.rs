//! Time-based one-time passwords (RFC 6238): SHA-1, 6 digits, the period and
//! skew from `[mfa]`. Only the arithmetic lives here; storage, replay
//! refusal and lockout are in [`super`].

use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::MfaError;
use crate::config::MfaConfig;

/// 160 bits, the size RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    crate::crypto::random_bytes::<20>().to_vec()
}

/// The secret as authenticator apps want it typed.
pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

fn build(secret: &[u8], cfg: &MfaConfig, account: &str) -> Result<Totp, MfaError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(cfg.totp_skew)
        .with_step_duration(cfg.totp_period)
        .with_secret(secret.to_vec())
        .with_issuer(Some(cfg.issuer.as_str()))
        // A colon would split issuer and account in the URI's label.
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(|e| MfaError::Totp(e.to_string()))
}

/// What the enrolment page shows: the `otpauth://` URI as a PNG QR code
/// (base64, for a `data:` URL) and the base32 key.
pub struct Enrolment {
    pub qr_png_base64: String,
    pub key_base32: String,
    pub uri: String,
}

pub fn enrolment(secret: &[u8], cfg: &MfaConfig, account: &str) -> Result<Enrolment, MfaError> {
    let totp = build(secret, cfg, account)?;
    Ok(Enrolment {
        qr_png_base64: totp
            .to_qr_base64()
            .map_err(|e| MfaError::Totp(e.to_string()))?,
        key_base32: base32(secret),
        uri: totp.to_url().map_err(|e| MfaError::Totp(e.to_string()))?,
    })
}

/// The time step `code` belongs to, within the allowed skew around `now`, or
/// None. The comparison inside totp-rs is constant-time.
pub fn matching_step(
    secret: &[u8],
    cfg: &MfaConfig,
    code: &str,
    now: i64,
) -> Result<Option<i64>, MfaError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = build(secret, cfg, "")?;
    let now = u64::try_from(now).unwrap_or(0);
    Ok(totp.check(&code, now).and_then(|s| i64::try_from(s).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8-digit codes
    // truncated here to the 6 low digits.
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        let cfg = MfaConfig {
            totp_skew: 0,
            ..MfaConfig::default()
        };
        for (t, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1234567890, "005924"),
        ] {
            assert_eq!(
                matching_step(secret, &cfg, code, t).unwrap(),
                Some(t / 30),
                "{t}"
            );
        }
        assert_eq!(matching_step(secret, &cfg, "287083", 59).unwrap(), None);
        assert_eq!(matching_step(secret, &cfg, "28708", 59).unwrap(), None);
        assert_eq!(matching_step(secret, &cfg, "+28708", 59).unwrap(), None);
    }

    #[test]
    fn enrolment_uri_names_issuer_and_account() {
        let cfg = MfaConfig::default();
        let e = enrolment(&new_secret(), &cfg, "a@example.com").unwrap();
        assert!(
            e.uri
                .starts_with("otpauth://totp/Portcullis:a%40example.com?"),
            "{}",
            e.uri
        );
        assert!(e.uri.contains(&format!("secret={}", e.key_base32)));
        assert!(!e.qr_png_base64.is_empty());
    }
}
