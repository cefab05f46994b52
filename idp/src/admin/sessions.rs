//! A user's portal sessions as an administrator sees them, and ending one
//! or all of them. A session is named by a short prefix of its key's hash:
//! enough to pick one of a user's sessions, and never the cookie value.

use serde::Serialize;

use super::{Actor, AdminError, Record, Result, lookup};
use crate::idp::Idp;

/// Hex digits of the key hash that name a session on the admin pages.
const ID_LEN: usize = 16;

/// One live session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub auth_time: i64,
    pub mfa_at: Option<i64>,
    pub amr: Vec<String>,
    pub source_ip: Option<String>,
}

/// The user's live sessions, newest first.
pub async fn list(idp: &Idp, email: &str) -> Result<Vec<SessionView>> {
    let user = lookup::user(idp, email).await?;
    Ok(idp
        .sessions
        .of_user(&user.id, crate::clock::now())
        .await?
        .into_iter()
        .map(|(k, s)| SessionView {
            id: k.as_str().chars().take(ID_LEN).collect(),
            created_at: s.created_at,
            last_seen: s.last_seen,
            expires_at: s.expires_at,
            auth_time: s.auth_time,
            mfa_at: s.mfa_at,
            amr: s.amr,
            source_ip: s.source_ip,
        })
        .collect())
}

/// Ends the user's session named `id` (from [`list`]) with its grants.
pub async fn end(idp: &Idp, actor: &Actor, email: &str, id: &str) -> Result<()> {
    let user = lookup::user(idp, email).await?;
    let id = id.trim();
    let found = if id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        idp.sessions
            .of_user(&user.id, crate::clock::now())
            .await?
            .into_iter()
            .find(|(k, _)| k.as_str().starts_with(id))
    } else {
        None
    };
    let Some((key, _)) = found else {
        return Err(AdminError::invalid(
            "session",
            "that session has ended already or is not this user's",
        ));
    };
    idp.end_session(&key).await?;
    Record::new("admin.user.end_session")
        .about(&user)
        .detail(id)
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
