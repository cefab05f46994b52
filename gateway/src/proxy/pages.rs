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

/// A path with `.` or `..` segments, which no browser sends.
pub async fn bad_path(session: &mut Session, json_client: bool) -> Result<bool> {
    if json_client {
        return json(session, 400, "invalid_request", "").await;
    }
    message(
        session,
        400,
        "This address is not valid",
        "The address contains \".\" or \"..\" path segments. Open the link again from its application.",
        None,
    )
    .await
}

pub async fn message(
    session: &mut Session,
    status: u16,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Result<bool> {
    let link = link
        .map(|(href, label)| format!("<p><a href=\"{}\">{}</a></p>", escape(href), escape(label)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{h}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2933}}</style></head>\
<body><main><h1>{h}</h1><p>{t}</p>{link}</main></body></html>",
        h = escape(heading),
        t = escape(text),
    );
    send(
        session,
        status,
        &[
            ("Content-Type", "text/html; charset=utf-8"),
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            ("X-Frame-Options", "DENY"),
        ],
        Bytes::from(html),
    )
    .await
}

pub use idp::escape::markup as escape;
