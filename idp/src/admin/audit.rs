//! Reading the audit trail.

use serde::Deserialize;

use super::{Page, Result, page_limit};
use crate::idp::Idp;
use crate::store::{AuditFilter, AuditRow};

/// The largest page `recent` returns.
pub const MAX_LIMIT: i64 = 10_000;

/// The newest `limit` events (1 to [`MAX_LIMIT`]), newest first.
pub async fn recent(idp: &Idp, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(idp.store.recent_audit(limit.clamp(1, MAX_LIMIT)).await?)
}

/// Which audit rows a query finds; every condition given must hold. Also
/// the admin API's query parameters, so both say the same.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The user it is about: an email (rows about that account, and rows
    /// whose subject is that text, such as failed sign-ins) or a user id.
    pub user: Option<String>,
    /// Who did it: `cli:<os user>`, `user:<id>`, `client:<id>`.
    pub actor: Option<String>,
    /// An event name or its start (`admin.user.` finds every user change).
    pub event: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    #[serde(default)]
    pub offset: u64,
    /// 0 for the default page (50); at most [`super::MAX_PAGE`].
    #[serde(default)]
    pub limit: u64,
}

/// One page of the rows the query finds, newest first, filtered and paged
/// in the database.
pub async fn query(idp: &Idp, q: &AuditQuery) -> Result<Page<AuditRow>> {
    let limit = page_limit(q.limit);
    fn nonempty(o: &Option<String>) -> Option<&str> {
        o.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(o) = nonempty(&q.outcome)
        && o != "success"
        && o != "failure"
    {
        return Err(super::AdminError::invalid(
            "outcome",
            "outcome: success or failure",
        ));
    }
    let mut filter = AuditFilter {
        actor: nonempty(&q.actor).map(str::to_string),
        event_prefix: nonempty(&q.event).map(str::to_string),
        outcome: nonempty(&q.outcome).map(str::to_string),
        since: q.since,
        until: q.until,
        ..Default::default()
    };
    if let Some(u) = nonempty(&q.user) {
        let email = crate::directory::normalize_email(u);
        match idp.store.user_by_email(&email).await? {
            Some(user) => {
                filter.user_id = Some(user.id);
                filter.subject = Some(email);
            }
            None if u.contains('@') => filter.subject = Some(email),
            None => filter.user_id = Some(u.to_string()),
        }
    }
    let (items, total) = idp.store.query_audit(&filter, q.offset, limit).await?;
    Ok(Page {
        items,
        total,
        offset: q.offset,
        limit,
    })
}
