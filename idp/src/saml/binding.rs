//! How a SAML message travels through the browser. Inbound: the parameters
//! of either binding ([`BindingParams`], read by [`params`]). Outbound: a
//! [`Delivery`], the HTTP-POST binding's form fields or the HTTP-Redirect
//! binding's deflated, signed query; the web layer turns it into a page.

use std::collections::HashMap;
use std::io::Write;

use base64::Engine;
use openssl::pkey::{PKey, Private};

use super::config::ServiceProviderConfig;
use super::decode::{self, DecodeError, Element};
use super::signature::{self, SignatureError};

/// RelayState longer than this is refused (the binding says 80 bytes; SP
/// libraries put return URLs in it, so some room is left).
const MAX_RELAY_STATE: usize = 1024;

/// The parameters of a binding, each present at most once.
#[derive(Debug, Clone, Default)]
pub struct BindingParams {
    /// The message parameter's value (`SAMLRequest` or `SAMLResponse`).
    pub message: Option<String>,
    pub relay_state: Option<String>,
    /// The raw query of an HTTP-Redirect request, for its signature; None
    /// for HTTP-POST.
    pub redirect_query: Option<String>,
}

/// Reads the form-encoded parameters of a binding (`redirect`: `raw` is the
/// query of an HTTP-Redirect request, else a POST body); the message is
/// parameter `field`. `Err`: why the parameters are refused.
pub fn params(raw: &[u8], field: &str, redirect: bool) -> Result<BindingParams, &'static str> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if seen.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("A parameter is repeated.");
        }
    }
    let relay_state = seen.remove("RelayState");
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return Err("The RelayState is too long.");
    }
    Ok(BindingParams {
        message: seen.remove(field),
        relay_state,
        redirect_query: redirect.then(|| String::from_utf8_lossy(raw).into_owned()),
    })
}

impl BindingParams {
    /// The message of either binding, decoded into XML.
    pub fn decode(&self, max: usize) -> Result<String, DecodeError> {
        let value = self.message.as_deref().unwrap_or("");
        if self.redirect_query.is_some() {
            decode::redirect_message(value, max)
        } else {
            decode::post_message(value, max)
        }
    }

    /// The message decoded and parsed: its XML and element tree.
    pub fn read(&self, max: usize) -> Result<(String, Element), DecodeError> {
        let xml = self.decode(max)?;
        let root = decode::parse(&xml)?;
        Ok((xml, root))
    }

    /// Verifies the signature of either binding (`embedded`: the XML
    /// carries an enveloped one) with the SP's certificate; the message is
    /// parameter `field`. `Ok(false)`: not signed. xmlsec runs on the
    /// bounded blocking pool.
    pub async fn check_signature(
        &self,
        xml: &str,
        embedded: bool,
        field: &str,
        sp: &ServiceProviderConfig,
    ) -> Result<bool, SignatureError> {
        let detached = self
            .redirect_query
            .as_deref()
            .is_some_and(signature::redirect_is_signed);
        if !detached && !embedded {
            return Ok(false);
        }
        let cert = sp
            .certificate
            .as_deref()
            .and_then(super::keys::parse_certificate)
            .ok_or(SignatureError::Certificate)?;
        if detached {
            signature::verify_redirect(self.redirect_query.as_deref().unwrap_or(""), field, &cert)?;
        }
        if embedded {
            signature::verify_enveloped_pooled(xml, &cert).await?;
        }
        Ok(true)
    }
}

/// A message on its way to a service provider through the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// HTTP-POST: a form posting `fields` to `action` as soon as it loads.
    Post {
        action: String,
        fields: Vec<(String, String)>,
    },
    /// HTTP-Redirect: the browser moves on to this URL (the message in its
    /// signed query).
    Redirect(String),
}

impl Delivery {
    /// `xml` in parameter `field` to `action` over HTTP-POST.
    pub fn post(action: &str, field: &str, xml: &str, relay_state: Option<&str>) -> Self {
        let mut fields = vec![(field.to_string(), post_value(xml))];
        if let Some(r) = relay_state {
            fields.push(("RelayState".into(), r.to_string()));
        }
        Self::Post {
            action: action.to_string(),
            fields,
        }
    }

    /// Where the browser is sent.
    pub fn target(&self) -> &str {
        match self {
            Self::Post { action, .. } => action,
            Self::Redirect(url) => url,
        }
    }
}

/// base64 of the XML, as the POST binding carries it.
pub fn post_value(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// The URL that carries `xml` in parameter `param` over HTTP-Redirect to
/// `endpoint`: raw DEFLATE, base64, URL-encoded, then signed.
pub fn redirect_url(
    endpoint: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, SignatureError> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(xml.as_bytes())
        .map_err(|e| SignatureError::Signing(e.to_string()))?;
    let deflated = z
        .finish()
        .map_err(|e| SignatureError::Signing(e.to_string()))?;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut query = format!(
        "{param}={}",
        enc(&base64::engine::general_purpose::STANDARD.encode(deflated))
    );
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", enc(r)));
    }
    let signed = signature::sign_redirect(&query, key)?;
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{sep}{signed}"))
}
