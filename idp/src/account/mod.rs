//! The user's own account (self-service): profile, SSH keys, personal API
//! keys and their sessions. Each write is validated here and audited once, with the user as
//! the actor; the portal's pages only parse the form and show the outcome.
//! An administrator's writes to the same data go through [`crate::admin`].

pub mod api_keys;
pub mod notice;
pub mod profile;
pub mod sessions;
pub mod ssh_keys;

/// Why the account refused a change. The message is for the person who
/// made it, shown beside the form they filled in.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Internal(#[from] crate::Error),
}

/// A key's name as the user typed it: trimmed, 1 to 100 characters, no
/// control characters.
pub fn key_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    if name.is_empty() {
        Err(AccountError::Refused("Give the key a name.".into()))
    } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
        Err(AccountError::Refused(
            "Use a name of at most 100 characters.".into(),
        ))
    } else {
        Ok(name.to_string())
    }
}
