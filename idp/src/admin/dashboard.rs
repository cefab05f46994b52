//! What the console's first page shows: sign-ins over the last day, locked
//! accounts, passwords about to expire.

use serde::Serialize;

use super::Result;
use crate::idp::Idp;

/// Hours the sign-in chart covers.
pub const HOURS: usize = 24;

/// Passwords expiring within this many days count as expiring.
pub const EXPIRING_DAYS: i64 = 14;

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// Per hour, oldest first: (successes, failures).
    pub signins: Vec<(i64, i64)>,
    pub locked: i64,
    /// None when passwords never expire.
    pub expiring: Option<i64>,
    /// The hour the chart starts, unix seconds.
    pub since: i64,
}

pub async fn show(idp: &Idp, now: i64) -> Result<Dashboard> {
    // Whole hours, so each bar is one clock hour.
    let since = (now / 3600 + 1 - HOURS as i64) * 3600;
    let mut signins = vec![(0, 0); HOURS];
    for (h, outcome, n) in idp.store.signins_by_hour(since).await? {
        if let Some(slot) = usize::try_from(h).ok().and_then(|h| signins.get_mut(h)) {
            if outcome == "success" {
                slot.0 += n;
            } else {
                slot.1 += n;
            }
        }
    }
    let max_age = idp.settings().await?.password.max_age_days as i64;
    let expiring = if max_age > 0 {
        // Expires within EXPIRING_DAYS: changed between max_age and
        // max_age - EXPIRING_DAYS days ago.
        let day = 86_400;
        let from = now - max_age * day;
        // The upper bound is exclusive: when every live password expires
        // within the window it must still take one changed this second.
        let to = if max_age <= EXPIRING_DAYS {
            now + 1
        } else {
            now - (max_age - EXPIRING_DAYS) * day
        };
        Some(idp.store.passwords_changed_between(from, to).await?)
    } else {
        None
    };
    Ok(Dashboard {
        signins,
        locked: idp.store.locked_count().await?,
        expiring,
        since,
    })
}
