//! A user's portal sessions as an administrator sees them
//! ([`crate::session::view`], the listing the user's own page shows too),
//! and ending one or all of them.

use super::{Actor, AdminError, Record, Result, lookup};
use crate::idp::Idp;
pub use crate::session::view::SessionView;

/// The user's live sessions, newest first.
pub async fn list(idp: &Idp, email: &str) -> Result<Vec<SessionView>> {
    let user = lookup::user(idp, email).await?;
    Ok(idp
        .session_views(&user.id)
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Ends the user's session named `id` (from [`list`]) with its grants.
pub async fn end(idp: &Idp, actor: &Actor, email: &str, id: &str) -> Result<()> {
    let user = lookup::user(idp, email).await?;
    let Some(key) = idp.find_session(&user.id, id).await? else {
        return Err(AdminError::invalid(
            "session",
            "that session has ended already or is not this user's",
        ));
    };
    idp.end_session(&key).await?;
    Record::new("admin.user.end_session")
        .about(&user)
        .detail(id.trim())
        .write(idp, actor)
        .await;
    Ok(())
}

/// Ends every session of the user everywhere; returns how many portal
/// sessions ended.
pub async fn end_all(idp: &Idp, actor: &Actor, email: &str) -> Result<usize> {
    let user = lookup::user(idp, email).await?;
    let ended = idp.end_user_sessions(&user.id).await?;
    Record::new("admin.user.end_sessions")
        .about(&user)
        .detail(format!("{ended} sessions ended"))
        .write(idp, actor)
        .await;
    Ok(ended)
}
