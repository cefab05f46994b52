//! The portal host, answered in-process: the pingora request becomes an
//! axum request for the portal router and its response is written back.
//! No second socket, and the client address reaches the portal as
//! `ConnectInfo` straight from the accepted connection, so there is no
//! forwarding header to trust.

use axum::extract::ConnectInfo;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use tower::ServiceExt;

/// Request bodies the portal accepts: forms (and later SAML posts) are small.
const MAX_BODY: usize = 1024 * 1024;
/// Portal responses are pages and small assets.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

pub async fn serve(router: &axum::Router, session: &mut Session) -> Result<bool> {
    let json = !super::is_navigation(&session.req_header().headers);
    // A declared length over the limit is refused before a byte is read.
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return super::pages::body_too_large(session, json).await;
    }
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return super::pages::body_too_large(session, json).await;
        }
        body.extend_from_slice(&chunk);
    }
    let req = session.req_header();
    let mut builder = http::Request::builder()
        .method(req.method.clone())
        .uri(req.uri.clone());
    for (k, v) in req.headers.iter() {
        builder = builder.header(k, v);
    }
    let mut request = builder
        .body(axum::body::Body::from(body))
        .map_err(|e| Error::because(ErrorType::InternalError, "building the portal request", e))?;
    if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
        request.extensions_mut().insert(ConnectInfo(*addr));
    }
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_RESPONSE)
        .await
        .map_err(|e| Error::because(ErrorType::InternalError, "reading the portal response", e))?;
    let mut res = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (k, v) in parts.headers.iter() {
        res.append_header(k.clone(), v.clone())?;
    }
    res.insert_header("Content-Length", bytes.len().to_string())?;
    let head_only = req_is_head(session);
    session
        .write_response_header(Box::new(res), bytes.is_empty() || head_only)
        .await?;
    if !bytes.is_empty() && !head_only {
        session.write_response_body(Some(bytes), true).await?;
    }
    Ok(true)
}

fn req_is_head(session: &Session) -> bool {
    session.req_header().method == http::Method::HEAD
}
