//! Administrator settings (password policy, lockout, MFA policy...): kept in
//! the store, so a change reaches every running instance without a restart.

use super::{Actor, AdminError, Record, Result};
use crate::idp::Idp;
use crate::settings::{KEYS, Settings};

pub async fn show(idp: &Idp) -> Result<Settings> {
    Ok(idp.settings().await?)
}

/// Validates and stores `key = value`; returns the settings now in force.
pub async fn set(idp: &Idp, actor: &Actor, key: &str, value: &str) -> Result<Settings> {
    if !KEYS.iter().any(|(k, _)| *k == key) {
        return Err(AdminError::UnknownSetting {
            key: key.to_string(),
        });
    }
    let mut settings = Settings::load(&idp.store).await?;
    settings
        .apply(key, value)
        .map_err(|e| AdminError::InvalidSetting {
            key: key.to_string(),
            message: match e {
                crate::Error::Invalid(m) => m,
                e => e.to_string(),
            },
        })?;
    let value = value.trim();
    idp.store.put_setting(key, value).await?;
    Record::new("admin.settings.set")
        .subject(key)
        .detail(format!("{key} = {value}"))
        .write(idp, actor)
        .await;
    Ok(settings)
}
