//! Who is asking: the signed-in user behind the session cookie.

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
use crate::session::SessionKey;

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
            if let Some(next) = super::mfa::pending_redirect(portal, &parts.headers) {
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
                Redirect::to("/login").into_response()
            }
        };
        let Some(token) = portal.cookies.get(&parts.headers, Name::Session) else {
            return Err(to_login());
        };
        let resumed = portal
            .idp
            .sessions
            .resume(&token, clock::now())
            .await
            .map_err(|e| PortalError::from(e).into_response())?;
        let Some((key, session)) = resumed else {
            return Err(to_login());
        };
        let user = portal
            .idp
            .store
            .user_by_id(&session.user_id)
            .await
            .map_err(|e| PortalError::from(e).into_response())?;
        match user {
            // A password set after this session began (possibly by an
            // administrator in another process) ends it too.
            Some(user)
                if user.locked.is_none()
                    && user
                        .password_changed_at
                        .is_none_or(|t| t <= session.auth_time) =>
            {
                // A passkey-only session verifies again after the configured
                // interval; the passkey sign-in then replaces this session.
                let reverify = portal.idp.config.mfa.passkey_reverify.as_secs() as i64;
                if crate::mfa::webauthn::is_passwordless(&session.amr)
                    && clock::now() - session.mfa_at.unwrap_or(session.auth_time) >= reverify
                {
                    let mut q = url::form_urlencoded::Serializer::new(String::new());
                    q.append_pair("reverify", "1");
                    if parts.method == Method::GET
                        && let Some(p) = parts.uri.path_and_query()
                    {
                        q.append_pair("return_to", p.as_str());
                    }
                    return Err(Redirect::to(&format!("/login?{}", q.finish())).into_response());
                }
                Ok(Self {
                    user,
                    session: key,
                    auth_time: session.auth_time,
                    mfa_at: session.mfa_at,
                })
            }
            _ => {
                // Deleted, locked or re-keyed meanwhile: the session is worthless.
                let _ = portal.idp.sessions.end(&key).await;
                Err(to_login())
            }
        }
    }
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
