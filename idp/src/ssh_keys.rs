//! Validation of SSH public keys users register.

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey};

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

#[cfg(test)]
mod tests {
    use super::*;

    pub const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl dana@laptop";
    pub const ECDSA256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGiDbGC/5Q3a5Ctpb8j8sLuHW0wlzf2ARJRT2TfYBsNOV2FJSb1hsh4j+iOqtNydi6S8ItYEGUrYmMQF7wUWqwk=";
    pub const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAPXj7pWJVrGHFsLZaYP1ZXmvD+3U7brEJiC23JxOuvhmBQ9+dp4jgYaM8pQhgB4FhqtqjL+d8WMoNu6tT8V0UuhSUsJQHTxtn5wSt6GWMYgmLhRpLDgxMwrwAWdVgpJ9c0NWxoZpY3VOWiLDMWq47EcmiK9oFp7dEPrnkVaw6KOnAAAAFQDtTewmt3ApWvUjgjTV95ZnbM/ZtwAAAIEAkdxBz3hKvGiCTQ8WPkB9XDZuBiHBsL40vB8gk0cLaVzQPgC/Ua97+dlm87P4Y2BnmBU9lFwdmdeWKW8aSbLVQQ5UppX2Fn8uOuYIjMpzgMkNV0aTkjXzK+rhyvlOT/8gNkpPG1GLi8xqNzeg2UCAyQT+kSeBfp2CWIhOFHc4FWQAAACAMEDsYrZ+bA6s4EbyNWeE/x7csGIJn7yGdNS9lHrLKeH6KjtUrpQXaQFTd4KBbzN0NRaoX14gpHPqD4WdyWhIAX0ywtRtLvo7LGVnmM+FPt8EUPY6UQFJqqNVSzNwGRCcwQBKIXrS4Y0/5NE7AP4JF0LAhRRE5m3KIlnFxmIGShE= old@box";

    #[test]
    fn accepts_strong_keys_with_fingerprint() {
        let k = parse(ED25519).unwrap();
        assert_eq!(k.algorithm, "ssh-ed25519");
        assert!(k.fingerprint.starts_with("SHA256:"), "{}", k.fingerprint);
        let k = parse(&format!("  {ECDSA256}  \n")).unwrap();
        assert_eq!(k.algorithm, "ecdsa-sha2-nistp256");
    }

    #[test]
    fn refuses_weak_and_malformed_keys() {
        assert!(parse(DSA).unwrap_err().contains("DSA"));
        assert!(parse("ssh-ed25519 AAAAnotbase64!!").is_err());
        assert!(parse("").is_err());
        assert!(parse("hello world").is_err());
        assert!(parse("-----BEGIN OPENSSH PRIVATE KEY-----").unwrap_err().contains("private"));
        assert!(parse(&format!("{ED25519}\n{ED25519}")).is_err());
    }

    #[test]
    fn bit_counting() {
        assert_eq!(mpint_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(mpint_bits(&[0x01]), 1);
        assert_eq!(mpint_bits(&[]), 0);
    }
}
