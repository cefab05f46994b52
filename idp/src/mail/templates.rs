//! Mail templates, compiled in like the portal's. Each message has a `.txt`
//! and an `.html` template; the HTML one is auto-escaped by its name.

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

use super::MailError;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../templates/mail/base.html")),
        ("reset.txt", include_str!("../../templates/mail/reset.txt")),
        (
            "reset.html",
            include_str!("../../templates/mail/reset.html"),
        ),
        (
            "reset_done.txt",
            include_str!("../../templates/mail/reset_done.txt"),
        ),
        (
            "reset_done.html",
            include_str!("../../templates/mail/reset_done.html"),
        ),
        (
            "security_change.txt",
            include_str!("../../templates/mail/security_change.txt"),
        ),
        (
            "security_change.html",
            include_str!("../../templates/mail/security_change.html"),
        ),
        (
            "expiry.txt",
            include_str!("../../templates/mail/expiry.txt"),
        ),
        (
            "expiry.html",
            include_str!("../../templates/mail/expiry.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, source) {
            // Compiled in: a broken template is a build defect the tests catch.
            tracing::error!(template = name, error = %e, "mail template does not compile");
        }
    }
    env
});

/// Renders `<name>.txt` and `<name>.html` with the same context.
pub fn render(name: &str, ctx: impl Serialize) -> Result<(String, String), MailError> {
    let ctx = minijinja::Value::from_serialize(&ctx);
    let one = |file: String| {
        TEMPLATES
            .get_template(&file)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| MailError::Template {
                name: file.clone(),
                reason: e.to_string(),
            })
    };
    Ok((one(format!("{name}.txt"))?, one(format!("{name}.html"))?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_mail_template_renders() {
        for name in ["reset", "reset_done", "expiry", "security_change"] {
            let r = super::render(
                name,
                minijinja::context! { name => "A <b>", link => "https://x/?t=1&u=2", days => 3, minutes => 60, portal => "https://x/", what => "x", when => "y", address => "z" },
            );
            let (text, html) = match r {
                Ok(v) => v,
                Err(e) => panic!("{name}: {e}"),
            };
            assert!(text.contains("A <b>"), "{name}: text is not escaped");
            assert!(html.contains("A &lt;b&gt;"), "{name}: html is escaped");
        }
    }
}
