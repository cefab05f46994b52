use serde::Serialize;
use sqlx::FromRow;

use super::{Store, new_id};
use crate::error::Result;

#[derive(Debug, Clone, FromRow, Serialize)]
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
