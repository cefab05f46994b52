//! Reading the audit trail.

use super::Result;
use crate::idp::Idp;
use crate::store::AuditRow;

/// The largest page `recent` returns.
pub const MAX_LIMIT: i64 = 10_000;

/// The newest `limit` events (1 to [`MAX_LIMIT`]), newest first.
pub async fn recent(idp: &Idp, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(idp.store.recent_audit(limit.clamp(1, MAX_LIMIT)).await?)
}
