//! Signatures: enveloped XML signatures through `samael`'s xmlsec binding
//! (RSA-SHA256, SHA-256 digests, exclusive canonicalisation), and the
//! HTTP-Redirect binding's detached signature over the query string.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};
use tokio::sync::Semaphore;

use super::wire::SIG_RSA_SHA256;

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("the message is not signed")]
    Missing,
    #[error("the signature does not verify")]
    Invalid,
    #[error("the signature algorithm is not accepted (RSA with SHA-256/384/512 only)")]
    Algorithm,
    #[error("a signature parameter is repeated or malformed")]
    Malformed,
    #[error("the service provider's certificate is not usable")]
    Certificate,
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("the signature could not be checked in time")]
    Busy,
}

/// How long a verification may wait for the pool and then run. The
/// transforms are allow-listed ([`super::dsig`]) and the input is bounded,
/// so a verification is linear in a bounded size; this bounds what is left
/// (a stuck library call) from the caller's side: the message is refused,
/// and the permit is held until the thread is done, so the pool never
/// grows past its size.
const VERIFY_DEADLINE: Duration = Duration::from_secs(5);

/// The bounded pool xmlsec runs on: at most one verification per core at
/// once, each on tokio's blocking threads, never on the async runtime.
fn pool() -> Arc<Semaphore> {
    static POOL: OnceLock<Arc<Semaphore>> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Arc::new(Semaphore::new(n))
    })
    .clone()
}

/// Runs `f` (xmlsec work) on the bounded blocking pool, within
/// [`VERIFY_DEADLINE`] from the call. Shared by the IdP and the federation SP.
pub async fn on_pool<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SignatureError> {
    let run = async {
        let permit = pool()
            .acquire_owned()
            .await
            .map_err(|_| SignatureError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|_| SignatureError::Busy)
    };
    tokio::time::timeout(VERIFY_DEADLINE, run)
        .await
        .map_err(|_| SignatureError::Busy)?
}

/// [`verify_enveloped`] on the bounded pool.
pub async fn verify_enveloped_pooled(xml: &str, cert_der: &[u8]) -> Result<(), SignatureError> {
    let (xml, cert) = (xml.to_owned(), cert_der.to_vec());
    on_pool(move || verify_enveloped(&xml, &cert)).await?
}

/// The `<ds:Signature>` template placed right after an element's Issuer;
/// xmlsec fills in digest and signature value.
pub fn template(ref_id: &str, cert_b64: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
            r##"<ds:Reference URI="#{id}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
            r#"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
            r#"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>"#,
            r#"<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#
        ),
        id = ref_id,
        cert = cert_b64
    )
}

/// Signs the first signature template of `xml` (in document order) with
/// the PKCS#1 DER key; returns the document without its XML declaration.
pub fn sign_enveloped(xml: &str, private_der: &[u8]) -> Result<String, SignatureError> {
    let signed =
        XmlSec::sign_xml(xml, private_der).map_err(|e| SignatureError::Signing(e.to_string()))?;
    let body = match signed.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, b)| b).unwrap_or(rest),
        None => &signed,
    };
    Ok(body.trim().to_string())
}

/// Verifies the enveloped signature of a message whose shape
/// [`super::wire`] has checked (one signature, on the root, SHA-2, only
/// allow-listed transforms). Blocking CPU work: from async code, call
/// [`verify_enveloped_pooled`].
pub fn verify_enveloped(xml: &str, cert_der: &[u8]) -> Result<(), SignatureError> {
    let cert = CertificateDer::from(cert_der.to_vec());
    XmlSec::verify_signed_xml(xml, &cert, Some("ID")).map_err(|_| SignatureError::Invalid)
}

fn digest_of(sig_alg: &str) -> Option<MessageDigest> {
    match sig_alg {
        SIG_RSA_SHA256 => Some(MessageDigest::sha256()),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Some(MessageDigest::sha384()),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Some(MessageDigest::sha512()),
        _ => None,
    }
}

fn url_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The raw (still percent-encoded) value of `name` in a query string, if
/// present exactly once.
fn raw_param<'a>(query: &'a str, name: &str) -> Result<Option<&'a str>, SignatureError> {
    let mut found = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            if found.is_some() {
                return Err(SignatureError::Malformed);
            }
            found = Some(v);
        }
    }
    Ok(found)
}

/// Verifies an HTTP-Redirect signature (SAML bindings 3.4.4.1): over the
/// parameters exactly as received, in the order `message`, `RelayState`,
/// `SigAlg`. `message` is `SAMLRequest` or `SAMLResponse`.
pub fn verify_redirect(query: &str, message: &str, cert_der: &[u8]) -> Result<(), SignatureError> {
    let msg = raw_param(query, message)?.ok_or(SignatureError::Malformed)?;
    let relay = raw_param(query, "RelayState")?;
    let (Some(alg), Some(sig)) = (raw_param(query, "SigAlg")?, raw_param(query, "Signature")?)
    else {
        return Err(SignatureError::Missing);
    };
    let digest = digest_of(&url_decode(alg)).ok_or(SignatureError::Algorithm)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(url_decode(sig).as_bytes())
        .map_err(|_| SignatureError::Malformed)?;
    let mut signed = format!("{message}={msg}");
    if let Some(r) = relay {
        signed.push_str(&format!("&RelayState={r}"));
    }
    signed.push_str(&format!("&SigAlg={alg}"));
    let cert = openssl::x509::X509::from_der(cert_der).map_err(|_| SignatureError::Certificate)?;
    let key = cert.public_key().map_err(|_| SignatureError::Certificate)?;
    let ok = openssl::sign::Verifier::new(digest, &key)
        .and_then(|mut v| {
            v.update(signed.as_bytes())?;
            v.verify(&sig)
        })
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// Whether a redirect query carries a signature at all.
pub fn redirect_is_signed(query: &str) -> bool {
    matches!(raw_param(query, "Signature"), Ok(Some(_)) | Err(_))
}

/// Signs an HTTP-Redirect query (`SAMLRequest=..[&RelayState=..]`, encoded)
/// and returns it with `SigAlg` and `Signature` appended.
pub fn sign_redirect(query: &str, key: &PKey<Private>) -> Result<String, SignatureError> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let signed = format!("{query}&SigAlg={}", enc(SIG_RSA_SHA256));
    let sig = openssl::sign::Signer::new(MessageDigest::sha256(), key)
        .and_then(|mut s| {
            s.update(signed.as_bytes())?;
            s.sign_to_vec()
        })
        .map_err(|e| SignatureError::Signing(e.to_string()))?;
    Ok(format!(
        "{signed}&Signature={}",
        enc(&base64::engine::general_purpose::STANDARD.encode(sig))
    ))
}
