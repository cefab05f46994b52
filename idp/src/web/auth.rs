//! Who is asking: the signed-in user behind the session cookie.

use crate::paths;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::Portal;
use super::cookies::Name;
use super::error::PortalError;
use crate::clock;
use crate::directory::User;
use crate::session::{Live, Presented, Refusal, SessionKey};

/// A request from a signed-in user whose account is usable.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub session: SessionKey,
    /// When this session's user last gave a password (or passkey).
    pub auth_time: i64,
    /// When a second factor was last verified in this session.
    pub mfa_at: Option<i64>,
}

impl SignedIn {
    /// When the user last proved who they are, by any means: a step-up
    /// counts as much as the sign-in itself.
    pub fn proved_at(&self) -> i64 {
        self.mfa_at
            .map_or(self.auth_time, |m| m.max(self.auth_time))
    }
}

impl FromRequestParts<Portal> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        let to_login = || {
            // Half-way through sign-in (password done, second factor due):
            // back to that step, never into the portal.
            if let Some(next) = super::flow::pending_redirect(portal, &parts.headers) {
                return Redirect::to(next).into_response();
            }
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            if parts.method == Method::GET {
                let target = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", path)
                    .finish();
                Redirect::to(&format!("/login?{target}")).into_response()
            } else {
                Redirect::to(paths::LOGIN).into_response()
            }
        };
        let resumed = session_of(portal, &parts.headers)
            .await
            .map_err(|e| PortalError::from(e).into_response())?;
        match resumed {
            Ok(live) => Ok(Self {
                auth_time: live.session.auth_time,
                mfa_at: live.session.mfa_at,
                user: live.user,
                session: live.key,
            }),
            // The passkey sign-in then replaces this session.
            Err(Refusal::PasskeyReverify) => Err(Redirect::to(&reverify_url(
                (parts.method == Method::GET)
                    .then(|| parts.uri.path_and_query().map(|p| p.as_str()))
                    .flatten(),
            ))
            .into_response()),
            Err(_) => Err(to_login()),
        }
    }
}

/// The portal session behind the request's cookie, through the one session
/// check ([`crate::Idp::resume`]).
pub(crate) async fn session_of(
    portal: &Portal,
    headers: &axum::http::HeaderMap,
) -> crate::error::Result<std::result::Result<Live, Refusal>> {
    let Some(token) = portal.cookies.get(headers, Name::Session) else {
        return Ok(Err(Refusal::Unknown));
    };
    portal
        .idp
        .resume(Presented::Token(&token), clock::now())
        .await
}

/// The sign-in page asking a passkey-only session to verify again, coming
/// back to `return_to`.
pub fn reverify_url(return_to: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("reverify", "1");
    if let Some(r) = return_to {
        q.append_pair("return_to", r);
    }
    format!("/login?{}", q.finish())
}

/// `Option<SignedIn>`: None instead of a redirect when nobody is signed in.
impl OptionalFromRequestParts<Portal> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Portal,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Self as FromRequestParts<Portal>>::from_request_parts(parts, portal)
                .await
                .ok(),
        )
    }
}

/// The client's address as seen by this listener.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

impl ClientIp {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// True when the caller asked for JSON (the star button's fetch).
pub fn wants_json(parts: &axum::http::HeaderMap) -> bool {
    parts
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}
