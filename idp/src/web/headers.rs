//! Security headers on every portal response.

use crate::paths;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::Portal;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The sign-in pages' policy: the same without `form-action`. Browsers apply
/// form-action to the whole redirect chain of a submission, and a sign-in
/// continues to `return_to`, which may redirect on to an application (the
/// OIDC authorization endpoint answering its client's redirect URI).
const CSP_SIGN_IN: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
    frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub async fn layer(State(portal): State<Portal>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let sign_in = req.uri().path().starts_with(paths::LOGIN);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // Pages that set their own policy keep it: the SAML auto-post page (no
    // form-action: the SP may redirect anywhere after the POST) and the OIDC
    // logout confirmation (form-action names the client's return origin).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if sign_in { CSP_SIGN_IN } else { CSP }),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: with no-referrer, Chromium sends
    // `Origin: null` on the portal's own form posts, which the CSRF layer
    // (rightly) refuses. same-origin still sends nothing to other sites, so
    // query strings (return_to, OAuth parameters) never leak in a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if portal.idp.config.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        // Pages carry personal data and form tokens.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
