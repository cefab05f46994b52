//! The console's first page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Admin, Read, render};
use crate::web::{Portal, PortalResult};

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

#[derive(Serialize)]
struct Home {
    flash: Option<&'static str>,
    healthy: bool,
    health: String,
    role_meaning: &'static str,
    chart: Chart,
    locked: i64,
    expiring: Option<i64>,
    expiring_days: i64,
}

/// The sign-in chart, laid out here so the template only draws.
#[derive(Serialize)]
struct Chart {
    width: i64,
    height: i64,
    bars: Vec<Bar>,
    successes: i64,
    failures: i64,
    peak: i64,
    first_hour: String,
}

#[derive(Serialize)]
struct Bar {
    x: i64,
    ok_y: i64,
    ok_h: i64,
    fail_y: i64,
    fail_h: i64,
    label: String,
}

const BAR: i64 = 14;
const GAP: i64 = 4;
const PLOT: i64 = 120;

fn chart(d: &crate::admin::dashboard::Dashboard) -> Chart {
    let peak = d
        .signins
        .iter()
        .map(|(s, f)| s + f)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: i64| (n * PLOT + peak - 1) / peak;
    let bars = d
        .signins
        .iter()
        .enumerate()
        .map(|(i, (s, f))| {
            let (ok_h, fail_h) = (scale(*s), scale(*f));
            let hour = d.since + i as i64 * 3600;
            Bar {
                x: i as i64 * (BAR + GAP),
                ok_y: PLOT - ok_h,
                ok_h,
                fail_y: PLOT - ok_h - fail_h,
                fail_h,
                label: format!("{}: {s} sign-ins, {f} failures", super::when(hour)),
            }
        })
        .collect();
    Chart {
        width: d.signins.len() as i64 * (BAR + GAP),
        height: PLOT,
        bars,
        successes: d.signins.iter().map(|(s, _)| s).sum(),
        failures: d.signins.iter().map(|(_, f)| f).sum(),
        peak,
        first_hour: super::when(d.since),
    }
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<Done>,
) -> PortalResult {
    let (healthy, health) = match portal.idp.ready().await {
        Ok(()) => (true, "The state store answers.".to_string()),
        Err(e) => (false, e.to_string()),
    };
    let role_meaning = me.role.describe();
    let dash = match crate::admin::dashboard::show(&portal.idp, crate::clock::now()).await {
        Ok(d) => d,
        Err(e) => return Ok(super::failed(e)),
    };
    render(
        &portal,
        &me,
        StatusCode::OK,
        "admin_home.html",
        "home",
        "Admin console",
        Home {
            flash: match q.done.as_deref() {
                Some("user-deleted") => Some("User deleted."),
                _ => None,
            },
            healthy,
            health,
            role_meaning,
            chart: chart(&dash),
            locked: dash.locked,
            expiring: dash.expiring,
            expiring_days: crate::admin::dashboard::EXPIRING_DAYS,
        },
    )
    .await
}
