//! TLS for the listener: the operator's certificate, or development
//! certificates generated on first start into the data directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Paths of the development CA and of the portal certificate.
pub struct DevCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes sure a development CA and a certificate for `host` exist in
/// `<data_dir>/certs`, creating what is missing. Browsers can be told to
/// trust `ca.pem`; private keys are written mode 0600 and never leave the
/// data directory.
pub fn ensure_dev_certs(data_dir: &Path, host: &str) -> anyhow::Result<DevCerts> {
    let dir = data_dir.join("certs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");
    let safe_host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cert_path = dir.join(format!("{safe_host}.pem"));
    let key_path = dir.join(format!("{safe_host}-key.pem"));

    if !ca_path.exists() || !ca_key_path.exists() {
        let key = KeyPair::generate().context("generating the development CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis development CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        write_private(&ca_key_path, &key.serialize_pem())?;
        std::fs::write(&ca_path, cert.pem())
            .with_context(|| format!("writing {}", ca_path.display()))?;
        // A new CA invalidates every leaf signed by the old one.
        let _ = std::fs::remove_file(&cert_path);
    }
    if !cert_path.exists() || !key_path.exists() {
        let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key_path)?)?;
        let issuer = Issuer::from_ca_cert_pem(&std::fs::read_to_string(&ca_path)?, ca_key)?;
        let key = KeyPair::generate()?;
        let mut names = vec![host.to_string(), "localhost".to_string()];
        names.dedup();
        let mut params = CertificateParams::new(names)?;
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        params.distinguished_name.push(DnType::CommonName, host);
        let cert = params.signed_by(&key, &issuer)?;
        write_private(&key_path, &key.serialize_pem())?;
        std::fs::write(&cert_path, cert.pem())
            .with_context(|| format!("writing {}", cert_path.display()))?;
    }
    Ok(DevCerts {
        ca: ca_path,
        cert: cert_path,
        key: key_path,
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    idp::crypto::write_private(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// A certificate chain and its key, ready for rustls.
pub fn certified_key(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{}: cannot read certificates", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: holds no certificate",
        cert.display()
    );
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: not a PEM private key", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let ck = CertifiedKey::from_der(certs, key_der, &provider).with_context(|| {
        format!(
            "{}: the TLS certificate and key do not match",
            cert.display()
        )
    })?;
    Ok(Arc::new(ck))
}

/// Picks the certificate by the name the client asked for (SNI), falling
/// back to the portal's.
#[derive(Debug)]
pub struct SniResolver {
    default: Arc<CertifiedKey>,
    /// Replaced when policies are reloaded.
    by_host: std::sync::RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl SniResolver {
    pub fn new(default: Arc<CertifiedKey>, by_host: HashMap<String, Arc<CertifiedKey>>) -> Self {
        Self {
            default,
            by_host: std::sync::RwLock::new(by_host),
        }
    }

    pub fn replace(&self, by_host: HashMap<String, Arc<CertifiedKey>>) {
        if let Ok(mut guard) = self.by_host.write() {
            *guard = by_host;
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = hello.server_name().and_then(|n| {
            self.by_host
                .read()
                .ok()?
                .get(&n.to_ascii_lowercase())
                .cloned()
        });
        Some(found.unwrap_or_else(|| self.default.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_certs_are_made_once_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure_dev_certs(dir.path(), "portal.localhost").unwrap();
        let first = std::fs::read(&a.cert).unwrap();
        let b = ensure_dev_certs(dir.path(), "portal.localhost").unwrap();
        assert_eq!(first, std::fs::read(&b.cert).unwrap());
        certified_key(&b.cert, &b.key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&b.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "private key readable by others");
        }
    }
}
