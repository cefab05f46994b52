//! The Profile page: every field but the company email, unless the
//! administrator has turned self-editing off.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use minijinja::context;
use serde::Deserialize;

use super::render::page;
use super::{ClientIp, CsrfToken, Form, Portal, PortalError, PortalResult, SignedIn, see_other};
use crate::audit::{Event, Outcome};
use crate::directory::{NAME_FIELDS, PROFILE_FIELDS, Profile, User, validate_field};

fn current_values(user: &User) -> BTreeMap<String, String> {
    let mut values = user.profile.0.clone();
    values.insert("first_name".into(), user.first_name.clone());
    values.insert("last_name".into(), user.last_name.clone());
    values.insert("username".into(), user.username.clone());
    values
}

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
    let values = current_values(&me.user);
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
    if !portal.idp.settings().await?.profile_self_edit {
        portal
            .audit(
                Event::new("profile.change", Outcome::Failure)
                    .user(&me.user.id)
                    .ip(ip.as_deref())
                    .detail("self-edit disabled"),
            )
            .await;
        return Err(PortalError::Forbidden(
            "Your administrator has disabled profile editing.",
        ));
    }
    // Only known fields are read: anything else in the form, the company
    // email included, is ignored.
    let mut values = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (name, _label, kind) in PROFILE_FIELDS {
        let value = form
            .get(*name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        if let Err(msg) = validate_field(*kind, &value) {
            errors.insert(name.to_string(), msg);
        }
        values.insert(name.to_string(), value);
    }
    if !errors.is_empty() {
        return render(
            &portal,
            &me.user,
            &csrf,
            StatusCode::BAD_REQUEST,
            values,
            errors,
            false,
        )
        .await;
    }
    let before = current_values(&me.user);
    let changed: Vec<&str> = PROFILE_FIELDS
        .iter()
        .map(|(n, _, _)| *n)
        .filter(|n| before.get(*n).map(String::as_str).unwrap_or("") != values[*n])
        .collect();
    let take = |k: &str| values.get(k).cloned().unwrap_or_default();
    let profile = Profile(
        values
            .iter()
            .filter(|(k, v)| !NAME_FIELDS.contains(&k.as_str()) && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    portal
        .idp
        .store
        .update_profile(
            &me.user.id,
            &take("first_name"),
            &take("last_name"),
            &take("username"),
            &profile,
        )
        .await?;
    if !changed.is_empty() {
        portal
            .audit(
                Event::new("profile.change", Outcome::Success)
                    .about(&me.user)
                    .ip(ip.as_deref())
                    .detail(format!("fields: {}", changed.join(", "))),
            )
            .await;
    }
    Ok(see_other("/profile?saved=1"))
}
