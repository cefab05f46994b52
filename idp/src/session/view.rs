//! A user's live sessions as people read them, and finding one by the short
//! id those lists show. The one listing behind the admin console's user
//! page and the user's own Security page. A session is named by a short
//! prefix of its key's hash: enough to pick one of a user's sessions, and
//! never the cookie value.

use serde::Serialize;

use crate::error::Result;
use crate::idp::Idp;
use crate::session::{Session, SessionKey};
use crate::store::GrantsOf;

/// Hex digits of the key hash that name a session on pages.
pub const ID_LEN: usize = 16;

/// The short id pages name `key` by.
pub fn short_id(key: &SessionKey) -> String {
    key.as_str().chars().take(ID_LEN).collect()
}

/// One live session, with what it was used for.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub auth_time: i64,
    pub mfa_at: Option<i64>,
    pub amr: Vec<String>,
    /// The address the session began from. No place is derived from it:
    /// Portcullis ships no GeoIP database and asks no service.
    pub source_ip: Option<String>,
    /// "Firefox on Linux"; none for sessions begun before it was recorded.
    pub device: Option<String>,
    /// The gateway applications it opened, by display name.
    pub applications: Vec<String>,
    /// The OpenID Connect clients and SAML service providers it signed in
    /// to and that still hold a live grant or assertion, by display name.
    pub relying_parties: Vec<String>,
}

impl Idp {
    /// The user's live sessions, newest first, each with its store key.
    pub async fn session_views(&self, user_id: &str) -> Result<Vec<(SessionKey, SessionView)>> {
        let mut out = Vec::new();
        for (key, s) in self.sessions.of_user(user_id, crate::clock::now()).await? {
            let view = self.view_of(&key, s).await?;
            out.push((key, view));
        }
        Ok(out)
    }

    /// The user's live session named `id` (from [`SessionView::id`]); none
    /// when it ended or is someone else's.
    pub async fn find_session(&self, user_id: &str, id: &str) -> Result<Option<SessionKey>> {
        let id = id.trim();
        if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        Ok(self
            .sessions
            .of_user(user_id, crate::clock::now())
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.as_str().starts_with(id)))
    }

    async fn view_of(&self, key: &SessionKey, s: Session) -> Result<SessionView> {
        let applications = s
            .apps
            .iter()
            .map(|id| self.handoffs.app(id).map_or_else(|| id.clone(), |a| a.name))
            .collect();
        let mut relying_parties = Vec::new();
        for client in self
            .store
            .live_grant_clients(GrantsOf::Session(key.as_str()))
            .await?
        {
            let name = self
                .oidc_client(&client)
                .await?
                .and_then(|c| c.application)
                .unwrap_or(client);
            push_unique(&mut relying_parties, name);
        }
        for row in self.store.saml_sessions_of(key.as_str()).await? {
            let name = self
                .saml_sp(&row.sp_entity_id)
                .await?
                .map_or(row.sp_entity_id, |sp| sp.application);
            push_unique(&mut relying_parties, name);
        }
        Ok(SessionView {
            id: short_id(key),
            created_at: s.created_at,
            last_seen: s.last_seen,
            expires_at: s.expires_at,
            auth_time: s.auth_time,
            mfa_at: s.mfa_at,
            amr: s.amr,
            source_ip: s.source_ip,
            device: s.device,
            applications,
            relying_parties,
        })
    }
}

fn push_unique(list: &mut Vec<String>, name: String) {
    if !list.contains(&name) {
        list.push(name);
    }
}
