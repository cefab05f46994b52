//! The built-in demo application: a page that shows the identity headers it
//! received, served on an ephemeral loopback port for policies that name
//! `upstreams = ["builtin:whoami"]`.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;

use crate::proxy::pages_escape as escape;

async fn page(headers: HeaderMap, uri: axum::http::Uri) -> Html<String> {
    let mut rows = String::new();
    for (k, v) in headers.iter() {
        if k.as_str().starts_with("x-portcullis-") || k.as_str().starts_with("x-forwarded-") {
            rows.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(k.as_str()),
                escape(&String::from_utf8_lossy(v.as_bytes()))
            ));
        }
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>whoami</title></head>\
<body><h1>whoami</h1><p>Path: <code>{}</code></p>\
<p>Identity headers the gateway sent to this application:</p><table>{rows}</table>\
<p><a href=\"/\">Home (needs a session)</a> · <a href=\"/mfa/\">/mfa/ (needs MFA within 5 minutes)</a></p></body></html>",
        escape(uri.path())
    ))
}

/// Starts the page on 127.0.0.1 and returns its address.
pub async fn start() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(get(page));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "whoami demo stopped");
        }
    });
    Ok(addr)
}
