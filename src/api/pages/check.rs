//! `GET /checks/NAME`: one check's state and breaker, availability over five windows with
//! latency percentiles, its SLO budgets, a p50/p95 chart of the last week with its incidents
//! shaded, its incidents, the alerts sent about it and its latest results.

use super::{html, human, nonce, percent, when, Viewer};
use crate::availability::Span;
use crate::checks::Status;
use crate::duration;
use crate::store::alerts::{self as alert_store, AlertFilter};
use crate::store::queries::{self, Latency};
use crate::store::rollup::{DAY_MS, HOUR_MS};
use crate::store::series;
use crate::store::summary::{self, Summary, Want};
use crate::svg;
use askama::Template;
use warp::http::{Response, StatusCode};

const WINDOWS: [(&str, i64); 5] = [
    ("1 hour", HOUR_MS),
    ("24 hours", DAY_MS),
    ("7 days", 7 * DAY_MS),
    ("30 days", 30 * DAY_MS),
    ("90 days", 90 * DAY_MS),
];
const CHART_MS: i64 = 7 * DAY_MS;

struct WindowRow {
    label: &'static str,
    availability: String,
    downtime: String,
    incidents: u32,
    maintenance: String,
    no_data: String,
    p50: String,
    p95: String,
    p99: String,
}

struct SloRow {
    objective: String,
    window: String,
    budget: String,
    burning: bool,
}

struct IncidentRow {
    started: String,
    ended: String,
    duration: String,
    message: String,
}

struct AlertRow {
    kind: String,
    rule: Option<String>,
    level: String,
    state: String,
    started: String,
    resolved: String,
    notifications: String,
}

struct ResultRow {
    at: String,
    status: String,
    response: String,
    message: String,
}

#[derive(Template)]
#[template(path = "pages/check.html")]
struct CheckPage {
    nonce: String,
    generated: String,
    service: String,
    name: String,
    kind: &'static str,
    critical: bool,
    target: Option<String>,
    description: Option<String>,
    status: &'static str,
    last_checked: String,
    response: String,
    schedule: String,
    timeout: String,
    breaker: &'static str,
    failures: u32,
    retry_at: Option<String>,
    message: Option<String>,
    windows: Vec<WindowRow>,
    slos: Vec<SloRow>,
    chart: String,
    incidents: Vec<IncidentRow>,
    alerts: Vec<AlertRow>,
    results: Vec<ResultRow>,
    hidden: bool,
}

struct Facts {
    windows: Vec<Summary>,
    hours: Vec<series::Hour>,
    incidents: Vec<queries::IncidentRow>,
    alerts: Vec<(alert_store::AlertRow, Vec<alert_store::NotificationState>)>,
    results: Vec<queries::HistoryRow>,
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} ms"))
}

pub async fn page(
    ctx: super::super::ApiContext,
    name: String,
    viewer: Viewer,
) -> Response<Vec<u8>> {
    let Some(slot) = ctx.state.check(&name) else {
        return super::error_page(StatusCode::NOT_FOUND, format!("no check named `{name}`"));
    };
    let def = slot.def.clone();
    let now = ctx.store.now();
    let names = vec![name.clone()];
    let read = ctx
        .store
        .read(move |conn| {
            let spans: Vec<Span> = WINDOWS
                .iter()
                .map(|(_, len)| Span::new(now.ms - len, now.ms))
                .collect();
            let windows = summary::summaries(conn, &names, &spans, now, Want::Latency)?
                .into_iter()
                .map(|mut per_check| {
                    per_check.pop().unwrap_or_else(|| Summary {
                        availability: crate::availability::compute(Span::new(0, 0), &[], &[], &[]),
                        latency: None,
                    })
                })
                .collect();
            let hours = series::hourly(conn, &names, now.ms - CHART_MS, now.ms, now)?
                .pop()
                .unwrap_or_default();
            let id = queries::check_id(conn, &names[0])?;
            let (incidents, results) = match id {
                Some(id) => (
                    queries::incidents(conn, Some(id), now.ms - 90 * DAY_MS, now.ms, 100)?,
                    queries::history(conn, id, now.ms - 90 * DAY_MS, now.ms, 20)?,
                ),
                None => (Vec::new(), Vec::new()),
            };
            let alerts = alert_store::list_alerts(
                conn,
                &AlertFilter {
                    check: Some(names[0].clone()),
                    state: None,
                    limit: 20,
                },
            )?;
            Ok(Facts {
                windows,
                hours,
                incidents,
                alerts,
                results,
            })
        })
        .await;
    let facts = match read {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, check = %name, "Check page: the store cannot be read.");
            return super::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the health log cannot be read",
            );
        }
    };
    let now = now.ms;
    let r = slot.latest();
    let windows = WINDOWS
        .iter()
        .zip(&facts.windows)
        .map(|((label, _), s)| {
            let a = &s.availability;
            let l = s.latency.unwrap_or(Latency::default());
            WindowRow {
                label,
                availability: percent(a.percent),
                downtime: human(a.downtime_seconds),
                incidents: a.incidents,
                maintenance: human(a.maintenance_seconds),
                no_data: human(a.no_data_seconds),
                p50: ms(l.p50_ms),
                p95: ms(l.p95_ms),
                p99: ms(l.p99_ms),
            }
        })
        .collect();
    let slos = ctx
        .alerting
        .snapshot()
        .slos
        .iter()
        .filter(|s| s.check == name)
        .map(|s| SloRow {
            objective: format!("{} %", s.objective),
            window: s.window.clone(),
            budget: match &s.error_budget {
                Some(b) => format!(
                    "{:.1} % of the error budget left ({:.1} of {:.1} minutes){}",
                    b.remaining_percent,
                    b.remaining_minutes,
                    b.total_minutes,
                    s.burning
                        .map_or(String::new(), |b| format!(", burning {b}"))
                ),
                None => "no data yet".into(),
            },
            burning: s.burning.is_some(),
        })
        .collect();
    // One point per hour, at its middle, for every hour of the week (a gap where no probe ran).
    let first = (now - CHART_MS).div_euclid(HOUR_MS) * HOUR_MS;
    let hours: Vec<i64> = (0..=CHART_MS / HOUR_MS)
        .map(|i| first + i * HOUR_MS)
        .collect();
    let at = |h: i64| facts.hours.iter().find(|x| x.hour_ms == h);
    let p50: Vec<Option<f64>> = hours
        .iter()
        .map(|h| at(*h).and_then(|x| x.latency.p50_ms))
        .collect();
    let p95: Vec<Option<f64>> = hours
        .iter()
        .map(|h| at(*h).and_then(|x| x.latency.p95_ms))
        .collect();
    let times: Vec<i64> = hours.iter().map(|h| h + HOUR_MS / 2).collect();
    let shaded: Vec<(i64, i64)> = facts
        .incidents
        .iter()
        .map(|i| (i.started_ms, i.ended_ms.unwrap_or(now)))
        .collect();
    let any = p50.iter().any(Option::is_some);
    let chart = svg::line_chart(
        if any { &times } else { &[] },
        &[
            svg::Series {
                name: "p50",
                class: "p50",
                values: &p50,
            },
            svg::Series {
                name: "p95",
                class: "p95",
                values: &p95,
            },
        ],
        &shaded,
        "ms",
        |t| {
            chrono::DateTime::from_timestamp_millis(t)
                .map_or_else(String::new, |t| t.format("%a %d %H:%M").to_string())
        },
    );
    let hide = |m: Option<String>| -> String {
        if viewer.details {
            m.unwrap_or_default()
        } else {
            "(hidden)".into()
        }
    };
    let incidents = facts
        .incidents
        .iter()
        .map(|i| IncidentRow {
            started: when(i.started_ms),
            ended: i.ended_ms.map_or("ongoing".into(), when),
            duration: human((i.ended_ms.unwrap_or(now) - i.started_ms) as f64 / 1000.0),
            message: hide(i.message.clone()),
        })
        .collect();
    let alerts = facts
        .alerts
        .into_iter()
        .map(|(a, n)| AlertRow {
            kind: a.kind,
            rule: a.rule,
            level: a.level,
            state: a.state,
            started: when(a.started_ms),
            resolved: a.resolved_ms.map_or("–".into(), when),
            notifications: {
                let sent = n.iter().filter(|n| n.state == "sent").count();
                format!("{sent} of {} sent", n.len())
            },
        })
        .collect();
    let results = facts
        .results
        .into_iter()
        .map(|h| ResultRow {
            at: chrono::DateTime::from_timestamp_millis(h.ts_ms).map_or_else(String::new, |t| {
                t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            }),
            status: h.status,
            response: format!("{:.1} ms", h.response_time_ms),
            message: hide(h.message),
        })
        .collect();
    let nonce = nonce();
    let page = CheckPage {
        nonce: nonce.clone(),
        generated: format!("updated {}", when(now)),
        service: ctx.state.service().name.clone(),
        name: def.name.clone(),
        kind: def.kind,
        critical: def.critical,
        target: viewer.details.then(|| def.target.clone()),
        description: def.description.clone(),
        status: r.as_ref().map_or(Status::Unknown, |r| r.status).as_str(),
        last_checked: r.as_ref().map_or("never".into(), |r| {
            r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        }),
        response: r.as_ref().map_or("no result yet".into(), |r| {
            format!("{:.1} ms", r.response_time_ms())
        }),
        schedule: def.schedule.describe(),
        timeout: duration::format(def.timeout),
        breaker: r.as_ref().map_or("closed", |r| r.circuit.as_str()),
        failures: r.as_ref().map_or(0, |r| r.consecutive_failures),
        retry_at: r
            .as_ref()
            .and_then(|r| r.retry_at)
            .map(|t| t.format("%H:%M:%S UTC").to_string()),
        message: r
            .as_ref()
            .and_then(|r| r.message.clone())
            .filter(|_| viewer.details),
        windows,
        slos,
        chart,
        incidents,
        alerts,
        results,
        hidden: !viewer.details,
    };
    html(StatusCode::OK, &nonce, page.render())
}
