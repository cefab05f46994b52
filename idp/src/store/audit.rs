use serde::Serialize;
use sqlx::{FromRow, Row};

use super::{Store, new_id};
use crate::error::Result;

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub at: i64,
    pub event: String,
    pub user_id: Option<String>,
    pub subject: Option<String>,
    pub source_ip: Option<String>,
    /// Who did an administrative action: `cli:<os user>`, `user:<id>`, `client:<id>`.
    pub actor: Option<String>,
    pub outcome: String,
    pub detail: String,
}

impl Store {
    pub async fn insert_audit(&self, row: &AuditRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (id, at, event, user_id, subject, source_ip, actor, outcome, detail, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new_id())
        .bind(row.at)
        .bind(&row.event)
        .bind(&row.user_id)
        .bind(&row.subject)
        .bind(&row.source_ip)
        .bind(&row.actor)
        .bind(&row.outcome)
        .bind(&row.detail)
        .bind(super::next_seq())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT at, event, user_id, subject, source_ip, actor, outcome, detail FROM audit ORDER BY at DESC, seq DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// The user's own newest sign-in attempts: every `signin*` and
    /// `federation.signin` row about them, and the second factors they got
    /// wrong, newest first. Rows only about an email typed (an unknown
    /// account) are not theirs and are left out.
    pub async fn sign_in_audit(&self, user_id: &str, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT at, event, user_id, subject, source_ip, actor, outcome, detail FROM audit \
             WHERE user_id = $1 AND (event = 'signin' OR event LIKE 'signin.%' \
             OR event = 'federation.signin' \
             OR (event LIKE 'mfa.%.verify' AND outcome = 'failure')) \
             ORDER BY at DESC, seq DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Which audit rows a query finds; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Rows about this user id, or whose subject is this text (an email).
    pub user_id: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    /// The event name starts with this.
    pub event_prefix: Option<String>,
    pub outcome: Option<String>,
    /// `at >= since`
    pub since: Option<i64>,
    /// `at < until`
    pub until: Option<i64>,
}

impl Store {
    /// One page of the rows `filter` finds, newest first, and how many it
    /// finds in all.
    pub async fn query_audit(
        &self,
        filter: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AuditRow>, u64)> {
        let mut b = super::users::Binds::default();
        let mut conds: Vec<String> = Vec::new();
        match (&filter.user_id, &filter.subject) {
            (Some(id), Some(s)) => {
                let (pi, ps) = (b.push(id.as_str()), b.push(s.as_str()));
                conds.push(format!("(user_id = {pi} OR subject = {ps})"));
            }
            (Some(id), None) => conds.push(format!("user_id = {}", b.push(id.as_str()))),
            (None, Some(s)) => conds.push(format!("subject = {}", b.push(s.as_str()))),
            (None, None) => {}
        }
        if let Some(a) = &filter.actor {
            conds.push(format!("actor = {}", b.push(a.as_str())));
        }
        if let Some(e) = &filter.event_prefix {
            let mut p = super::users::contains_pattern(e);
            p.remove(0);
            conds.push(format!("event LIKE {} ESCAPE '\\'", b.push(p)));
        }
        if let Some(o) = &filter.outcome {
            conds.push(format!("outcome = {}", b.push(o.as_str())));
        }
        // The times are integers: bound after the text binds, in this order.
        let mut n = b.len();
        let mut ints: Vec<i64> = Vec::new();
        if let Some(t) = filter.since {
            n += 1;
            ints.push(t);
            conds.push(format!("at >= ${n}"));
        }
        if let Some(t) = filter.until {
            n += 1;
            ints.push(t);
            conds.push(format!("at < ${n}"));
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let mut q = b.apply(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM audit{clause}"
        ))));
        for t in &ints {
            q = q.bind(*t);
        }
        let total: i64 = q.fetch_one(&self.pool).await?.try_get("n")?;
        let sql = format!(
            "SELECT at, event, user_id, subject, source_ip, actor, outcome, detail FROM audit{clause} \
             ORDER BY at DESC, seq DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut q = b.apply(sqlx::query(sqlx::AssertSqlSafe(sql)));
        for t in &ints {
            q = q.bind(*t);
        }
        let rows = q
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(|r| AuditRow::from_row(r).map_err(Into::into))
            .collect::<Result<Vec<_>>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }
}

impl Store {
    /// Sign-ins (`signin` rows) since `since`, counted per hour after it
    /// and outcome: (hour index from 0, outcome, count).
    pub async fn signins_by_hour(&self, since: i64) -> Result<Vec<(i64, String, i64)>> {
        let rows = sqlx::query(
            "SELECT (at - $1) / 3600 AS h, outcome, COUNT(*) AS n FROM audit \
             WHERE event = 'signin' AND at >= $1 GROUP BY h, outcome",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("h"), r.get("outcome"), r.get("n")))
            .collect())
    }
}
