//! The Profile page: every field but the company email, unless the
//! administrator has turned self-editing off.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use minijinja::context;
use serde::Deserialize;

use super::render::page;
use super::{ClientIp, CsrfToken, Form, Portal, PortalError, PortalResult, SignedIn, see_other};
use crate::account::profile::{self, ProfileError};
use crate::clock;
use crate::directory::User;

async fn render(
    portal: &Portal,
    me: &User,
    csrf: &CsrfToken,
    status: StatusCode,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    saved: bool,
) -> PortalResult {
    let editable = portal.idp.settings().await?.profile_self_edit;
    let chrome = portal.chrome(me, csrf, "profile").await?;
    Ok(page(
        status,
        "profile.html",
        context! {
            title => "Profile",
            profile => values,
            company_email => me.email,
            editable => editable,
            errors => errors,
            saved => saved,
            ..minijinja::Value::from_serialize(&chrome)
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct ProfileQuery {
    saved: Option<String>,
}

pub async fn show(
    State(portal): State<Portal>,
    me: SignedIn,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Query(q): Query<ProfileQuery>,
) -> PortalResult {
    let values = profile::values(&me.user);
    render(
        &portal,
        &me.user,
        &csrf,
        StatusCode::OK,
        values,
        BTreeMap::new(),
        q.saved.is_some(),
    )
    .await
}

pub async fn save(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<HashMap<String, String>>,
) -> PortalResult {
    match portal
        .idp
        .save_profile(&me.user, &form, ip.as_deref(), clock::now())
        .await
    {
        Ok(()) => Ok(see_other("/profile?saved=1")),
        Err(ProfileError::Disabled) => Err(PortalError::Forbidden(
            "Your administrator has disabled profile editing.",
        )),
        Err(ProfileError::Invalid { values, errors }) => {
            render(
                &portal,
                &me.user,
                &csrf,
                StatusCode::BAD_REQUEST,
                values,
                errors,
                false,
            )
            .await
        }
        Err(ProfileError::Internal(e)) => Err(e.into()),
    }
}
