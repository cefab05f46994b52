//! CSRF protection for every form, as a layer. A random cookie (HttpOnly,
//! `__Host-`, SameSite=Lax) is paired with a token in each form: the token is
//! a MAC of the cookie, so a page on another site can neither read nor forge
//! it. Cross-origin POSTs are also refused by their `Origin` header.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Portal;
use super::cookies::Name;
use super::render::message;
use crate::crypto;

/// The token to put in this response's forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// Forms are small; anything larger is not one of ours.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A file upload (a tile logo) with its form fields.
const MAX_UPLOAD_BYTES: usize = crate::admin::apps::MAX_LOGO_BYTES + 64 * 1024;

pub fn token_for(portal: &Portal, cookie: &str) -> String {
    crypto::b64url(&portal.idp.keys.mac("csrf", cookie.as_bytes()))
}

fn refuse() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was out of date or was not sent from this site. Go back, reload the page and try again.",
        Some(("/", "Start again")),
    )
}

pub async fn layer(State(portal): State<Portal>, req: Request, next: Next) -> Response {
    let existing = portal
        .cookies
        .get(req.headers(), Name::Csrf)
        .filter(|c| c.len() == 43);
    let (parts, body) = req.into_parts();

    let mut req = if parts.method == Method::POST {
        let Some(cookie) = existing.as_deref() else {
            return refuse();
        };
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            let ours = portal.idp.config.public_url.origin().ascii_serialization();
            if origin.as_bytes() != ours.as_bytes() {
                tracing::warn!(origin = ?origin, "cross-origin form post refused");
                return refuse();
            }
        }
        let multipart = is_multipart(&parts.headers);
        let limit = if multipart {
            MAX_UPLOAD_BYTES
        } else {
            MAX_FORM_BYTES
        };
        let bytes: Bytes = match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                return message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Too much data",
                    "The form sent more data than it may.",
                    Some(("/", "Start again")),
                );
            }
        };
        let sent = if multipart {
            multipart_value(&parts.headers, &bytes, "csrf").await
        } else {
            form_urlencoded_value(&bytes, "csrf")
        };
        let expected = token_for(&portal, cookie);
        if !sent.is_some_and(|s| crypto::ct_eq(s.as_bytes(), expected.as_bytes())) {
            tracing::warn!(path = %parts.uri.path(), "form post with a missing or wrong CSRF token refused");
            return refuse();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };

    let (cookie, fresh) = match existing {
        Some(c) => (c, false),
        None => (crypto::random_token(), true),
    };
    req.extensions_mut()
        .insert(CsrfToken(token_for(&portal, &cookie)));
    let mut res = next.run(req).await;
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            portal.cookies.set(Name::Csrf, &cookie, None),
        );
    }
    res.into_response()
}

/// For a form served outside this layer (the OIDC routes are): the token
/// to put in it, and the cookie to set when the browser has none yet.
pub(crate) fn issue(
    portal: &Portal,
    headers: &axum::http::HeaderMap,
) -> (String, Option<axum::http::HeaderValue>) {
    match portal
        .cookies
        .get(headers, Name::Csrf)
        .filter(|c| c.len() == 43)
    {
        Some(c) => (token_for(portal, &c), None),
        None => {
            let c = crypto::random_token();
            (
                token_for(portal, &c),
                Some(portal.cookies.set(Name::Csrf, &c, None)),
            )
        }
    }
}

/// The layer's check, for a form posted outside it: the cookie, a
/// same-origin (or absent) `Origin`, and the form's `csrf` field.
pub(crate) fn verify(portal: &Portal, headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    let Some(cookie) = portal
        .cookies
        .get(headers, Name::Csrf)
        .filter(|c| c.len() == 43)
    else {
        return false;
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = portal.idp.config.public_url.origin().ascii_serialization();
        if origin.as_bytes() != ours.as_bytes() {
            return false;
        }
    }
    let sent = form_urlencoded_value(body, "csrf");
    let expected = token_for(portal, &cookie);
    sent.is_some_and(|s| crypto::ct_eq(s.as_bytes(), expected.as_bytes()))
}

/// The page a refused form gets.
pub(crate) fn refused() -> Response {
    refuse()
}

fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"))
}

/// A text field of a buffered `multipart/form-data` body. The upload forms
/// put the token first, so the file is rarely read past.
async fn multipart_value(
    headers: &axum::http::HeaderMap,
    body: &Bytes,
    key: &str,
) -> Option<String> {
    use axum::extract::FromRequest;
    let mut req = Request::new(Body::from(body.clone()));
    *req.headers_mut() = headers.clone();
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(key) {
            return field.text().await.ok();
        }
    }
    None
}

fn form_urlencoded_value(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}
