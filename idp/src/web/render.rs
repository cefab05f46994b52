//! Templates, compiled into the binary so the portal needs no files at run time.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    for (name, source) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("login.html", include_str!("../../templates/login.html")),
        (
            "password.html",
            include_str!("../../templates/password.html"),
        ),
        ("notice.html", include_str!("../../templates/notice.html")),
        ("apps.html", include_str!("../../templates/apps.html")),
        ("profile.html", include_str!("../../templates/profile.html")),
        (
            "security.html",
            include_str!("../../templates/security.html"),
        ),
        ("message.html", include_str!("../../templates/message.html")),
        ("confirm.html", include_str!("../../templates/confirm.html")),
        (
            "logout_confirm.html",
            include_str!("../../templates/logout_confirm.html"),
        ),
        (
            "federation.html",
            include_str!("../../templates/federation.html"),
        ),
        (
            "mfa_verify.html",
            include_str!("../../templates/mfa_verify.html"),
        ),
        (
            "_code_field.html",
            include_str!("../../templates/_code_field.html"),
        ),
        (
            "_password_rules.html",
            include_str!("../../templates/_password_rules.html"),
        ),
        (
            "mfa_code.html",
            include_str!("../../templates/mfa_code.html"),
        ),
        (
            "totp_setup.html",
            include_str!("../../templates/totp_setup.html"),
        ),
        (
            "reset_request.html",
            include_str!("../../templates/reset_request.html"),
        ),
        (
            "reset_password.html",
            include_str!("../../templates/reset_password.html"),
        ),
        (
            "reset_mfa.html",
            include_str!("../../templates/reset_mfa.html"),
        ),
        (
            "saml_post.html",
            include_str!("../../templates/saml_post.html"),
        ),
        (
            "admin_base.html",
            include_str!("../../templates/admin_base.html"),
        ),
        (
            "admin_home.html",
            include_str!("../../templates/admin_home.html"),
        ),
        (
            "admin_confirm.html",
            include_str!("../../templates/admin_confirm.html"),
        ),
        (
            "admin_user.html",
            include_str!("../../templates/admin_user.html"),
        ),
        (
            "admin_user_new.html",
            include_str!("../../templates/admin_user_new.html"),
        ),
        (
            "admin_groups.html",
            include_str!("../../templates/admin_groups.html"),
        ),
        (
            "admin_group.html",
            include_str!("../../templates/admin_group.html"),
        ),
        (
            "admin_settings.html",
            include_str!("../../templates/admin_settings.html"),
        ),
        (
            "admin_keys.html",
            include_str!("../../templates/admin_keys.html"),
        ),
        (
            "admin_apps.html",
            include_str!("../../templates/admin_apps.html"),
        ),
        (
            "admin_app.html",
            include_str!("../../templates/admin_app.html"),
        ),
        (
            "admin_users.html",
            include_str!("../../templates/admin_users.html"),
        ),
        (
            "admin_audit.html",
            include_str!("../../templates/admin_audit.html"),
        ),
        (
            "admin_clients.html",
            include_str!("../../templates/admin_clients.html"),
        ),
        (
            "admin_saml.html",
            include_str!("../../templates/admin_saml.html"),
        ),
        (
            "admin_saml_sp.html",
            include_str!("../../templates/admin_saml_sp.html"),
        ),
        (
            "admin_federation.html",
            include_str!("../../templates/admin_federation.html"),
        ),
        (
            "_admin_pager.html",
            include_str!("../../templates/_admin_pager.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, source) {
            // Templates are compiled in; a broken one is a build defect that
            // the tests catch, not something to limp along with.
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

pub const CSS: &str = include_str!("../../static/portal.css");
pub const JS: &str = include_str!("../../static/portal.js");
pub const WEBAUTHN_JS: &str = include_str!("../../static/webauthn.js");
pub const SAML_JS: &str = include_str!("../../static/saml.js");

/// Renders a page with the given status.
pub fn page(status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
    let rendered = TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from_serialize(&ctx)));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Something went wrong on our side. Please try again.",
            )
                .into_response()
        }
    }
}

/// A page with a heading, a sentence and an optional way onward.
pub fn message(
    status: StatusCode,
    heading: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> Response {
    page(
        status,
        "message.html",
        minijinja::context! {
            title => heading,
            heading => heading,
            message => message,
            link_href => link.map(|l| l.0),
            link_text => link.map(|l| l.1),
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        for name in [
            "base.html",
            "login.html",
            "password.html",
            "notice.html",
            "apps.html",
            "profile.html",
            "security.html",
            "message.html",
            "confirm.html",
            "federation.html",
            "mfa_verify.html",
            "mfa_code.html",
            "totp_setup.html",
            "reset_request.html",
            "reset_password.html",
            "reset_mfa.html",
            "saml_post.html",
            "admin_base.html",
            "admin_home.html",
            "admin_confirm.html",
            "admin_user.html",
            "admin_user_new.html",
            "admin_groups.html",
            "admin_group.html",
            "admin_settings.html",
            "admin_keys.html",
            "admin_apps.html",
            "admin_app.html",
            "_admin_pager.html",
            "admin_users.html",
            "admin_audit.html",
            "admin_clients.html",
            "admin_saml.html",
            "admin_saml_sp.html",
            "admin_federation.html",
        ] {
            if let Err(e) = super::TEMPLATES.get_template(name) {
                panic!("{name}: {e}");
            }
        }
    }
}
