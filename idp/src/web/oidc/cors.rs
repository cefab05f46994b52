//! CORS for the endpoints a browser-based client (a single-page app, a
//! public client) calls with `fetch`: token, userinfo, revocation and
//! introspection. Only origins of registered redirect URIs are allowed; no
//! credentials (cookies) are involved, the client authenticates itself or
//! presents a bearer token. Which origins: [`crate::Idp::oidc_origin_allowed`].

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::Portal;

pub async fn layer(State(portal): State<Portal>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| o.len() <= 512)
        .map(str::to_string);
    let allowed = match &origin {
        Some(o) => portal.idp.oidc_origin_allowed(o).await,
        None => false,
    };
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let (true, Some(o)) = (allowed, origin)
        && let Ok(v) = HeaderValue::from_str(&o)
    {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    res
}
