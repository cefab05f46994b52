//! Responses the gateway writes itself on application hosts: redirects,
//! small HTML pages (no external assets: the application host serves none of
//! ours) and JSON for non-navigation clients.

use bytes::Bytes;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

async fn send(
    session: &mut Session,
    status: u16,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<bool> {
    let mut res = ResponseHeader::build(status, Some(headers.len() + 3))?;
    for (k, v) in headers {
        res.append_header(k.to_string(), *v)?;
    }
    res.insert_header("Cache-Control", "no-store")?;
    res.insert_header("Content-Length", body.len().to_string())?;
    session
        .write_response_header(Box::new(res), body.is_empty())
        .await?;
    if !body.is_empty() {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(true)
}

/// 302 to `to`, optionally setting one cookie.
pub async fn redirect(session: &mut Session, to: &str, set_cookie: Option<&str>) -> Result<bool> {
    let mut headers = vec![("Location", to)];
    if let Some(c) = set_cookie {
        headers.push(("Set-Cookie", c));
    }
    send(session, 302, &headers, Bytes::new()).await
}

/// 303 to `to` setting several cookies (the end of the handshake).
pub async fn redirect_with(session: &mut Session, to: &str, cookies: &[String]) -> Result<bool> {
    let mut headers = vec![("Location", to)];
    headers.extend(cookies.iter().map(|c| ("Set-Cookie", c.as_str())));
    send(session, 303, &headers, Bytes::new()).await
}

/// A short plain-text answer (health and readiness).
pub async fn text(session: &mut Session, status: u16, body: &'static str) -> Result<bool> {
    send(
        session,
        status,
        &[("Content-Type", "text/plain; charset=utf-8")],
        Bytes::from_static(body.as_bytes()),
    )
    .await
}

/// `{"error": code, "login": url}` (login only when given).
pub async fn json(session: &mut Session, status: u16, code: &str, login: &str) -> Result<bool> {
    let body = if login.is_empty() {
        serde_json::json!({ "error": code })
    } else {
        serde_json::json!({ "error": code, "login": login })
    };
    send(
        session,
        status,
        &[("Content-Type", "application/json")],
        Bytes::from(body.to_string()),
    )
    .await
}

/// 401 for an API key that admits nobody (unknown, revoked, expired, its
/// owner locked or gone), as RFC 6750 words it.
pub async fn invalid_token(session: &mut Session) -> Result<bool> {
    send(
        session,
        401,
        &[
            ("Content-Type", "application/json"),
            (
                "WWW-Authenticate",
                "Bearer realm=\"portcullis\", error=\"invalid_token\"",
            ),
        ],
        Bytes::from_static(br#"{"error":"invalid_token"}"#),
    )
    .await
}

/// The page for a user whose groups do not include the application's.
pub async fn forbidden(session: &mut Session, app: &str, portal_origin: &str) -> Result<bool> {
    message(
        session,
        403,
        "Access denied",
        &format!("You do not have access to {app}. Ask your administrator to add you to a group that may use it."),
        Some((&format!("{portal_origin}/apps"), "Go to your applications")),
    )
    .await
}

/// A known application host, but no application's path prefix matches.
pub async fn no_app(session: &mut Session, json_client: bool, portal_origin: &str) -> Result<bool> {
    if json_client {
        return json(session, 404, "not_found", "").await;
    }
    message(
        session,
        404,
        "No application at this address",
        "Nothing is published at this address. Your applications are listed on the portal.",
        Some((&format!("{portal_origin}/apps"), "Go to your applications")),
    )
    .await
}

/// A path the gateway refuses to decide on (see `idp::request_path`):
/// dot segments, an encoded slash or backslash, control characters,
/// invalid encoding, or `;` parameters the application did not opt into.
pub async fn bad_path(
    session: &mut Session,
    json_client: bool,
    portal_origin: &str,
) -> Result<bool> {
    if json_client {
        return json(session, 400, "invalid_request", "").await;
    }
    message(
        session,
        400,
        "This address is not valid",
        "The address contains something that cannot be used in a path here, such as \"..\", an encoded slash or a backslash. Open the link again from its application, or start from your applications.",
        Some((&format!("{portal_origin}/apps"), "Go to your applications")),
    )
    .await
}

/// The portal's look for the gateway's own pages, inline: the application
/// host serves none of the portal's files. Allowed by its hash in the CSP.
const STYLE: &str = ":root{color-scheme:light dark;--bg:#f4f6f8;--surface:#fff;--text:#17212b;--muted:#4f5d6b;--border:#d5dce3;--primary:#0b6e63;--primary-hover:#08574e;--on-primary:#fff;--focus:#1d5fd6}\
@media (prefers-color-scheme:dark){:root{--bg:#0e1418;--surface:#161e24;--text:#e7eef2;--muted:#a9b7c1;--border:#2c3942;--primary:#4fd1bd;--primary-hover:#7fe0d1;--on-primary:#04201c;--focus:#7ab8ff}}\
*{box-sizing:border-box}body{margin:0;min-height:100vh;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",Arial,sans-serif}\
main{max-width:30rem;margin:0 auto;padding:3rem 1rem}\
.brand{display:flex;align-items:center;gap:.5rem;justify-content:center;font-weight:650;font-size:1.15rem;margin-bottom:1.5rem}\
.brand svg{fill:none;stroke:var(--primary);stroke-width:2.2;stroke-linecap:round}\
.card{background:var(--surface);border:1px solid var(--border);border-radius:14px;padding:2rem;box-shadow:0 1px 3px rgb(16 24 40/.08),0 6px 16px rgb(16 24 40/.06)}\
h1{font-size:1.35rem;line-height:1.3;margin:0 0 .75rem}p{margin:0 0 1rem;color:var(--muted)}\
.btn{display:inline-block;background:var(--primary);color:var(--on-primary);text-decoration:none;font-weight:600;padding:.6rem 1.1rem;border-radius:10px;margin-top:.5rem}\
.btn:hover{background:var(--primary-hover)}.btn:focus-visible{outline:3px solid var(--focus);outline-offset:2px}\
footer{text-align:center;color:var(--muted);font-size:.875rem;margin-top:1.5rem}";

const BRAND: &str = "<div class=\"brand\"><svg viewBox=\"0 0 32 32\" width=\"28\" height=\"28\" aria-hidden=\"true\" focusable=\"false\"><path d=\"M5 29V13a11 11 0 0 1 22 0v16z\"/><path d=\"M10.5 8v21M16 4.5V29M21.5 8v21M5 15h22M5 21h22\"/></svg><span>Portcullis</span></div>";

/// `default-src 'none'` with [`STYLE`] allowed by its SHA-256, so no other
/// inline style (an injected one) applies.
fn csp() -> &'static str {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let hash = idp::crypto::sha256_base64(STYLE.as_bytes());
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
        )
    });
    &CSP
}

pub async fn message(
    session: &mut Session,
    status: u16,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Result<bool> {
    page(session, status, heading, text, link, false).await
}

/// A page after which the connection closes: the request was refused
/// before its body was read, so the connection cannot carry another.
pub async fn closing_message(
    session: &mut Session,
    status: u16,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Result<bool> {
    session.set_keepalive(None);
    page(session, status, heading, text, link, true).await
}

async fn page(
    session: &mut Session,
    status: u16,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
    close: bool,
) -> Result<bool> {
    let link = link
        .map(|(href, label)| {
            format!(
                "<p><a class=\"btn\" href=\"{}\">{}</a></p>",
                escape(href),
                escape(label)
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{h} · Portcullis</title><style>{STYLE}</style></head>\
<body><main>{BRAND}<div class=\"card\"><h1>{h}</h1><p>{t}</p>{link}</div><footer>Portcullis single sign-on</footer></main></body></html>",
        h = escape(heading),
        t = escape(text),
    );
    let mut headers = vec![
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", csp()),
        ("X-Frame-Options", "DENY"),
    ];
    if close {
        headers.push(("Connection", "close"));
    }
    send(session, status, &headers, Bytes::from(html)).await
}

/// A request body over the limit: the 413 page, then the rest of the body
/// read and dropped for a bounded time and size. Closing at once would
/// reset the connection while the browser is still sending, and it would
/// show "connection reset" instead of the page.
pub async fn body_too_large(session: &mut Session, json_client: bool) -> Result<bool> {
    if json_client {
        session.set_keepalive(None);
        json(session, 413, "request_too_large", "").await?;
    } else {
        closing_message(
            session,
            413,
            "This request is too large",
            "What was sent is larger than this service accepts, so nothing was done. Go back and try again with less, or start from your applications.",
            Some(("/apps", "Go to your applications")),
        )
        .await?;
    }
    drain(session).await;
    Ok(true)
}

/// Reads and drops what is left of a refused body: at most [`DRAIN_BYTES`]
/// within [`DRAIN_TIME`], whatever the client says it will send.
async fn drain(session: &mut Session) {
    const DRAIN_BYTES: usize = 16 * 1024 * 1024;
    const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut left = DRAIN_BYTES;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            if chunk.len() >= left {
                break;
            }
            left -= chunk.len();
        }
    })
    .await;
}

/// A request target longer than the gateway decides on (414).
pub async fn uri_too_long(session: &mut Session, json_client: bool) -> Result<bool> {
    if json_client {
        return json(session, 414, "uri_too_long", "").await;
    }
    message(
        session,
        414,
        "This address is too long",
        "The address is longer than this service accepts, so nothing was done. Open the link again from its application, or start from your applications.",
        Some(("/apps", "Go to your applications")),
    )
    .await
}

pub use idp::escape::markup as escape;
