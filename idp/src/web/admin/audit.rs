//! The audit log: filters (user, actor, event, outcome, dates), pages, and
//! exports of what the filters find as CSV or JSON Lines.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Admin, Read, failed, render, when};
use crate::admin::{self, AdminError};
use crate::store::AuditRow;
use crate::web::{Portal, PortalResult};

/// The most rows one export holds; a larger trail is exported in parts
/// by narrowing the dates.
pub const MAX_EXPORT: u64 = 50_000;

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    user: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    outcome: String,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    #[serde(default)]
    since: String,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    #[serde(default)]
    until: String,
    #[serde(default)]
    offset: u64,
    /// `csv` or `jsonl`, for the export.
    #[serde(default)]
    format: String,
}

/// A date field as unix seconds at the start of the day (UTC).
fn day(field: &str, value: &str) -> Result<Option<i64>, AdminError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, &format)
        .map(|d| Some(d.midnight().assume_utc().unix_timestamp()))
        .map_err(|_| AdminError::Invalid {
            field: Some(field.into()),
            message: format!("{field}: a date such as 2026-11-23"),
        })
}

fn query_of(f: &Filters, offset: u64, limit: u64) -> Result<admin::audit::AuditQuery, AdminError> {
    let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(admin::audit::AuditQuery {
        user: opt(&f.user),
        actor: opt(&f.actor),
        event: opt(&f.event),
        outcome: opt(&f.outcome),
        since: day("since", &f.since)?,
        until: day("until", &f.until)?.map(|d| d + 86_400),
        offset,
        limit,
    })
}

#[derive(Serialize)]
struct Row {
    at: String,
    event: String,
    outcome: String,
    subject: String,
    actor: String,
    ip: String,
    detail: String,
}

#[derive(Serialize)]
struct LogPage<'a> {
    f: &'a Filters,
    rows: Vec<Row>,
    pager: super::Pager,
    export: String,
    error: Option<String>,
    error_field: Option<String>,
}

impl Filters {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("user", &self.user),
            ("actor", &self.actor),
            ("event", &self.event),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }
}

pub async fn log(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(f): Query<Filters>,
) -> PortalResult {
    let empty = admin::Page {
        items: vec![],
        total: 0,
        offset: 0,
        limit: 0,
    };
    let found = match query_of(&f, f.offset, 0) {
        Ok(q) => admin::audit::query(&portal.idp, &q).await,
        Err(e) => Err(e),
    };
    let (page, error): (admin::Page<AuditRow>, _) = match found {
        Ok(p) => (p, None),
        Err(e @ AdminError::Internal(_)) => return Ok(failed(e)),
        Err(e) => (empty, Some(e)),
    };
    let pairs = f.pairs();
    let pager = super::Pager::of(&page, crate::paths::ADMIN_AUDIT, &pairs);
    let export = {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    };
    let error_field = match &error {
        Some(AdminError::Invalid { field, .. }) => field.clone(),
        _ => None,
    };
    render(
        &portal,
        &me,
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "admin_audit.html",
        "audit",
        "Audit log",
        LogPage {
            f: &f,
            rows: page
                .items
                .into_iter()
                .map(|r| Row {
                    at: when(r.at),
                    event: r.event,
                    outcome: r.outcome,
                    subject: r.subject.unwrap_or_default(),
                    actor: r.actor.unwrap_or_default(),
                    ip: r.source_ip.unwrap_or_default(),
                    detail: r.detail,
                })
                .collect(),
            pager,
            export,
            error: error.map(|e| e.to_string()),
            error_field,
        },
    )
    .await
}

/// A CSV field: quoted when it holds a separator, a quote or a line break;
/// a leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet
/// does not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// GET /admin/audit/export?format=csv|jsonl&<filters>: every row the
/// filters find, newest first, up to [`MAX_EXPORT`].
pub async fn export(
    State(portal): State<Portal>,
    _me: Admin<Read>,
    Query(f): Query<Filters>,
) -> PortalResult {
    let csv = match f.format.as_str() {
        "csv" => true,
        "jsonl" => false,
        _ => {
            return Ok(failed(AdminError::Invalid {
                field: Some("format".into()),
                message: "format: csv or jsonl".into(),
            }));
        }
    };
    let mut out = String::new();
    if csv {
        out.push_str("at,event,outcome,user_id,subject,actor,source_ip,detail\n");
    }
    let mut offset = 0;
    while offset < MAX_EXPORT {
        let q = match query_of(&f, offset, admin::MAX_PAGE) {
            Ok(q) => q,
            Err(e) => return Ok(failed(e)),
        };
        let page = match admin::audit::query(&portal.idp, &q).await {
            Ok(p) => p,
            Err(e) => return Ok(failed(e)),
        };
        for r in &page.items {
            if csv {
                let fields = [
                    r.at.to_string(),
                    r.event.clone(),
                    r.outcome.clone(),
                    r.user_id.clone().unwrap_or_default(),
                    r.subject.clone().unwrap_or_default(),
                    r.actor.clone().unwrap_or_default(),
                    r.source_ip.clone().unwrap_or_default(),
                    r.detail.clone(),
                ];
                let line: Vec<String> = fields.iter().map(|v| csv_field(v)).collect();
                out.push_str(&line.join(","));
            } else {
                let line = serde_json::json!({
                    "at": r.at,
                    "event": r.event,
                    "outcome": r.outcome,
                    "user_id": r.user_id,
                    "subject": r.subject,
                    "actor": r.actor,
                    "source_ip": r.source_ip,
                    "detail": r.detail,
                });
                out.push_str(&line.to_string());
            }
            out.push('\n');
        }
        offset += page.items.len() as u64;
        if page.items.is_empty() || offset >= page.total {
            break;
        }
    }
    let (content_type, name) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/x-ndjson", "audit.jsonl")
    };
    Ok(answer(content_type, name, out))
}

fn answer(content_type: &'static str, name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
