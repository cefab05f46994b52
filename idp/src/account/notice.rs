//! A mail to the user whenever the ways into their account change
//! (password changed, a second factor added or removed), to their company
//! address and, separately, their recovery address: a change they did not
//! make must not go unnoticed, even by someone who took over one mailbox.
//! Sent after the change is made and audited; a mail that cannot be queued
//! is logged and never undoes the change.

use crate::clock;
use crate::directory::User;
use crate::idp::Idp;

/// What changed, as the mail says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityChange {
    PasswordChanged,
    TotpAdded,
    TotpRemoved,
    /// A security key or passkey, by the name the user gave it.
    KeyAdded(String),
    KeyRemoved(String),
}

impl SecurityChange {
    fn sentence(&self) -> String {
        match self {
            Self::PasswordChanged => "Your password was changed".into(),
            Self::TotpAdded => "An authenticator app was set up as a second factor".into(),
            Self::TotpRemoved => "The authenticator app was removed as a second factor".into(),
            Self::KeyAdded(name) => format!("The security key or passkey \"{name}\" was added"),
            Self::KeyRemoved(name) => format!("The security key or passkey \"{name}\" was removed"),
        }
    }
}

impl Idp {
    /// Mails the user about `change`, made just now from `ip`.
    pub(crate) async fn mail_security_change(
        &self,
        user: &User,
        change: SecurityChange,
        ip: Option<&str>,
    ) {
        self.mail_user(
            user,
            "security_change",
            "security_change",
            "A security change on your Portcullis account",
            minijinja::context! {
                name => user.display_name(),
                what => change.sentence(),
                when => clock::date_time(clock::now()),
                address => ip,
                link => self.portal_link("/security"),
            },
        )
        .await;
    }
}
