//! The IdP's signing certificates: self-signed RSA-2048, generated on first
//! use and kept in the store with the private half sealed by the master key,
//! like the OIDC keys. Every instance sharing the store then signs with the
//! same key and publishes the same metadata; a key kept only in one
//! instance's data directory would make the others' assertions fail at the
//! SP. The public certificates are also written to `<data_dir>/saml/` for
//! operators who hand them to SPs by file.

use base64::Engine;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::crypto::{self, SecretBox};
use crate::error::{Error, Result};
use crate::store::{SamlCertRow, Store};

/// One certificate with its key, as loaded from the store.
pub struct SamlCert {
    pub id: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#1 DER, as xmlsec loads it for signing.
    pub private_der: Vec<u8>,
    pub private: PKey<Private>,
    /// Signs until then (it may lie ahead: a standby takes over at that instant).
    pub retired_at: Option<i64>,
    /// Signs from then; None: from creation. Until then it is a standby,
    /// published so SPs can trust it before it is used.
    pub activates_at: Option<i64>,
}

impl std::fmt::Debug for SamlCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlCert")
            .field("id", &self.id)
            .field("retired_at", &self.retired_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

impl SamlCert {
    /// The certificate body as metadata and KeyInfo carry it.
    pub fn cert_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    /// Whether it signs at `now`: activated and not yet retired.
    pub fn signs_at(&self, now: i64) -> bool {
        signs_at(self.activates_at, self.retired_at, now)
    }
}

fn signs_at(activates_at: Option<i64>, retired_at: Option<i64>, now: i64) -> bool {
    activates_at.is_none_or(|a| a <= now) && retired_at.is_none_or(|r| r > now)
}

/// Every published certificate, newest last.
#[derive(Debug, Default)]
pub struct SamlKeys {
    certs: Vec<SamlCert>,
}

const RSA_BITS: u32 = 2048;

fn ossl(e: openssl::error::ErrorStack) -> Error {
    Error::Invalid(format!("openssl: {e}"))
}

fn generate(sb: &SecretBox, common_name: &str, days: u32, now: i64) -> Result<SamlCertRow> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::hash::MessageDigest;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let rsa = openssl::rsa::Rsa::generate(RSA_BITS).map_err(ossl)?;
    let private_der = rsa.private_key_to_der().map_err(ossl)?;
    let key = PKey::from_rsa(rsa).map_err(ossl)?;
    let mut name = X509NameBuilder::new().map_err(ossl)?;
    // CN is at most 64 characters (RFC 5280 upper bound).
    let cn: String = common_name.chars().take(64).collect();
    name.append_entry_by_text("CN", &cn).map_err(ossl)?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(ossl)?;
    b.set_version(2).map_err(ossl)?;
    let mut serial = BigNum::new().map_err(ossl)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ossl)?;
    let serial = serial.to_asn1_integer().map_err(ossl)?;
    b.set_serial_number(&serial).map_err(ossl)?;
    b.set_subject_name(&name).map_err(ossl)?;
    b.set_issuer_name(&name).map_err(ossl)?;
    b.set_pubkey(&key).map_err(ossl)?;
    // Backdated a day so an SP with a slow clock accepts it at once.
    let not_before = Asn1Time::from_unix(now - 86_400).map_err(ossl)?;
    b.set_not_before(&not_before).map_err(ossl)?;
    let not_after = Asn1Time::days_from_now(days).map_err(ossl)?;
    b.set_not_after(&not_after).map_err(ossl)?;
    b.sign(&key, MessageDigest::sha256()).map_err(ossl)?;
    let cert = b.build();
    let pem = String::from_utf8(cert.to_pem().map_err(ossl)?)
        .map_err(|_| Error::Invalid("certificate PEM is not UTF-8".into()))?;
    Ok(SamlCertRow {
        id: crypto::b64url(&crypto::random_bytes::<12>()),
        private_sealed: sb.seal(&private_der),
        cert_pem: pem,
        created_at: now,
        retired_at: None,
        activates_at: None,
    })
}

fn load(row: &SamlCertRow, sb: &SecretBox) -> Result<SamlCert> {
    let corrupt = |what: &str| Error::Corrupt(format!("SAML certificate {}: {what}", row.id));
    let private_der = sb.open(&row.private_sealed)?;
    let rsa =
        openssl::rsa::Rsa::private_key_from_der(&private_der).map_err(|_| corrupt("bad key"))?;
    let private = PKey::from_rsa(rsa).map_err(|_| corrupt("bad key"))?;
    let cert = X509::from_pem(row.cert_pem.as_bytes()).map_err(|_| corrupt("bad certificate"))?;
    let cert_der = cert.to_der().map_err(|_| corrupt("bad certificate"))?;
    Ok(SamlCert {
        id: row.id.clone(),
        cert_pem: row.cert_pem.clone(),
        cert_der,
        private_der,
        private,
        retired_at: row.retired_at,
        activates_at: row.activates_at,
    })
}

async fn generate_blocking(
    sb: &SecretBox,
    common_name: &str,
    days: u32,
    now: i64,
) -> Result<SamlCertRow> {
    let (sb, cn) = (sb.clone(), common_name.to_string());
    tokio::task::spawn_blocking(move || generate(&sb, &cn, days, now))
        .await
        .map_err(|e| Error::Invalid(format!("key generation task failed: {e}")))?
}

impl SamlKeys {
    /// Loads every certificate, generating the first one when none signs.
    /// Two instances starting together may both generate one; the newer
    /// signs and the other stays published through the overlap.
    pub async fn load_or_create(
        store: &Store,
        sb: &SecretBox,
        common_name: &str,
        days: u32,
        now: i64,
    ) -> Result<Self> {
        let mut rows = store.saml_certs().await?;
        if !rows
            .iter()
            .any(|r| signs_at(r.activates_at, r.retired_at, now))
        {
            let row = generate_blocking(sb, common_name, days, now).await?;
            store.add_saml_cert(&row).await?;
            rows = store.saml_certs().await?;
        }
        let certs = rows.iter().map(|r| load(r, sb)).collect::<Result<_>>()?;
        Ok(Self { certs })
    }

    /// Adds a certificate that takes over signing at `activates_at` (None:
    /// at once); until then the current signer goes on signing and the new
    /// one is published beside it. The previous one stays in the metadata
    /// for `saml.cert_overlap` after the switch.
    pub async fn rotate(
        store: &Store,
        sb: &SecretBox,
        common_name: &str,
        days: u32,
        now: i64,
        activates_at: Option<i64>,
    ) -> Result<String> {
        let mut row = generate_blocking(sb, common_name, days, now).await?;
        row.activates_at = activates_at.filter(|a| *a > now);
        store.add_saml_cert(&row).await?;
        Ok(row.id)
    }

    /// The signing certificate now.
    pub fn signer(&self) -> Result<&SamlCert> {
        self.signer_at(crate::clock::now())
    }

    /// The signing certificate at `now`: the newest one activated and not
    /// retired. Every instance computes the switch from the same stored
    /// instant, so they change signer together, whenever they last loaded.
    pub fn signer_at(&self, now: i64) -> Result<&SamlCert> {
        self.certs
            .iter()
            .rev()
            .find(|c| c.signs_at(now))
            .ok_or_else(|| Error::Invalid("no SAML signing certificate".into()))
    }

    /// The certificate waiting to take over, if a rotation is under way.
    pub fn standby(&self) -> Option<&SamlCert> {
        let now = crate::clock::now();
        self.certs
            .iter()
            .rev()
            .find(|c| c.activates_at.is_some_and(|a| a > now) && c.retired_at.is_none())
    }

    /// Every certificate in the metadata, signer first, then a standby,
    /// then those retired within the overlap.
    pub fn published(&self) -> impl Iterator<Item = &SamlCert> {
        let signer = self.signer().ok();
        signer.into_iter().chain(
            self.certs
                .iter()
                .rev()
                .filter(move |c| signer.is_none_or(|s| s.id != c.id)),
        )
    }

    /// Writes each published certificate to `dir/<id>.pem` and the signer to
    /// `dir/signing.pem`, for operators; failures are logged, not fatal.
    pub fn write_pems(&self, dir: &std::path::Path) {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            for c in &self.certs {
                std::fs::write(dir.join(format!("{}.pem", c.id)), &c.cert_pem)?;
            }
            if let Ok(s) = self.signer() {
                std::fs::write(dir.join("signing.pem"), &s.cert_pem)?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(dir = %dir.display(), error = %e, "could not write the SAML certificates");
        }
    }
}

/// An X.509 certificate given as PEM or as bare base64 DER (as metadata
/// carries it); its DER bytes.
pub fn parse_certificate(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        return X509::from_pem(t.as_bytes()).ok()?.to_der().ok();
    }
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    X509::from_der(&der).ok()?;
    Some(der)
}

/// PEM text for DER bytes.
pub fn der_to_pem(der: &[u8]) -> Option<String> {
    let cert = X509::from_der(der).ok()?;
    String::from_utf8(cert.to_pem().ok()?).ok()
}

/// What an administrator wants to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertFacts {
    /// The subject's distinguished name, e.g. `CN=sp.example.com`.
    pub subject: String,
    /// NotAfter, in unix seconds.
    pub not_after: i64,
}

/// The subject and expiry of a DER certificate.
pub fn certificate_facts(der: &[u8]) -> Option<CertFacts> {
    let cert = X509::from_der(der).ok()?;
    let subject = cert
        .subject_name()
        .entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(cert.not_after()).ok()?;
    Some(CertFacts {
        subject,
        not_after: i64::from(d.days) * 86_400 + i64::from(d.secs),
    })
}
