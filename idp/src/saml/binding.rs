//! Sending a SAML message through the browser: the HTTP-POST binding's
//! auto-submitting form, and the HTTP-Redirect binding's deflated, signed
//! query. Both are pages (not bare redirects) so that the portal's
//! `form-action 'self'` never applies to the hop to the service provider.

use std::io::Write;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use minijinja::context;
use openssl::pkey::{PKey, Private};

use super::signature::{self, SignatureError};
use crate::web::render::page;

/// The portal's policy with the one origin the page's form posts to.
fn csp_for(action: &str) -> String {
    let origin = url::Url::parse(action)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "'none'".into());
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         form-action {origin}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

/// A page whose form posts `fields` to `action` as soon as it loads.
pub fn post_page(action: &str, fields: &[(&str, &str)]) -> Response {
    let mut res = page(
        StatusCode::OK,
        "saml_post.html",
        context! {
            title => "Continuing",
            method => "post",
            action => action,
            fields => fields,
        },
    );
    if let Ok(v) = HeaderValue::from_str(&csp_for(action)) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// A page that moves on to `url` at once (a link without JavaScript).
pub fn redirect_page(url: &str) -> Response {
    page(
        StatusCode::OK,
        "saml_post.html",
        context! {
            title => "Continuing",
            method => "get",
            action => url,
        },
    )
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
