//! The one guard of the admin console. In this order: a portal session
//! (else the sign-in, coming back here), a role that allows the route's
//! permission (else 403, before anything else is said), and a second factor
//! verified no longer ago than `admin.step_up_max_age`, or
//! `admin.confirm_max_age` for deletes and key rotation (else the step-up
//! page, coming back to the page the admin was on), whatever the MFA policy
//! for ordinary users.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::render::page;
use super::super::{ClientIp, CsrfToken, Portal, PortalError, SignedIn, see_other};
use crate::admin::{Actor, roles};
use crate::directory::User;
use crate::paths;
use crate::roles::{Permission, Role};

/// What a route needs: the permission, and whether the second factor must
/// be as fresh as for a confirmation (deletes, key rotation).
pub trait Need: Send + Sync + 'static {
    const PERMISSION: Permission;
    const FRESH: bool = false;
}

macro_rules! need {
    ($(#[$doc:meta])* $name:ident, $perm:ident, $fresh:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl Need for $name {
            const PERMISSION: Permission = Permission::$perm;
            const FRESH: bool = $fresh;
        }
    };
}

need!(
    /// Reading any console page.
    Read, Read, false
);
need!(
    /// Help-desk writes: unlock, reset MFA, send a reset link, end sessions.
    Support, SupportUsers, false
);
need!(
    /// Directory writes: users, groups, memberships, roles.
    Write, WriteDirectory, false
);
need!(
    /// A directory write that cannot be undone: deleting a user.
    WriteFresh, WriteDirectory, true
);
need!(
    /// Settings, applications, clients.
    Configure, Configure, false
);
need!(
    /// Key rotation.
    ConfigureFresh, Configure, true
);

/// A signed-in administrator allowed to do `N`, with a recent enough
/// second factor.
pub struct Admin<N: Need> {
    pub me: User,
    pub role: Role,
    pub actor: Actor,
    pub csrf: CsrfToken,
    _need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<Portal> for Admin<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        let signed_in = SignedIn::from_request_parts(parts, portal).await?;
        let role = roles::of(&portal.idp, &signed_in.user)
            .await
            .map_err(super::failed)?;
        let role = roles::require(role, N::PERMISSION).map_err(|_| super::denied())?;

        let cfg = &portal.idp.config.admin;
        let max_age = if N::FRESH {
            cfg.confirm_max_age
        } else {
            cfg.step_up_max_age
        }
        .as_secs() as i64;
        let now = crate::clock::now();
        let fresh = signed_in.mfa_at.is_some_and(|at| now - at <= max_age);
        if !fresh {
            return Err(step_up(portal, parts, &signed_in.user).await);
        }

        let ip = ClientIp::from_request_parts(parts, portal)
            .await
            .unwrap_or(ClientIp(None));
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| PortalError::BadRequest("The form token is missing.".into()))
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            actor: Actor::User {
                user_id: signed_in.user.id.clone(),
                ip: ip.0,
            },
            me: signed_in.user,
            role,
            csrf,
            _need: PhantomData,
        })
    }
}

/// To the step-up page, back to this page (a GET) or to the page the form
/// was on (a POST: nothing was changed, and the admin sends it again).
async fn step_up(portal: &Portal, parts: &Parts, user: &User) -> Response {
    match portal.idp.factors(&user.id).await {
        Ok(f) if f.methods().is_empty() => {
            return page(
                StatusCode::FORBIDDEN,
                "message.html",
                minijinja::context! {
                    title => "Second factor required",
                    heading => "Second factor required",
                    message => "The admin console needs a second factor, and your account has none yet. Set up an authenticator app, then come back.",
                    link_href => paths::MFA_TOTP_SETUP,
                    link_text => "Set up a second factor",
                },
            );
        }
        Ok(_) => {}
        Err(e) => return PortalError::from(e).into_response(),
    }
    let back = if parts.method == Method::GET {
        parts.uri.path_and_query().map(|p| p.as_str().to_string())
    } else {
        referer_path(portal, parts)
    }
    .unwrap_or_else(|| paths::ADMIN.to_string());
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &back)
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_STEP_UP))
}

/// The console page a form was posted from, when the Referer names one on
/// this site.
fn referer_path(portal: &Portal, parts: &Parts) -> Option<String> {
    let referer = parts.headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    if url.origin() != portal.idp.config.public_url.origin() {
        return None;
    }
    let path = url.path();
    if path != paths::ADMIN && !path.starts_with("/admin/") {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}
