//! `GET /`: the status page. The overall state in a banner; open incidents, open alerts and
//! current or coming maintenance on top; then the checks in their groups, each with its state,
//! 90 daily bars, its 30-day availability, a 24-hour latency sparkline and its last incident.

use super::{day_cell, html, human, nonce, percent, when, Viewer};
use crate::availability::Span;
use crate::checks::Status;
use crate::store::queries::IncidentRow;
use crate::store::rollup::{day_of, DAY_MS, HOUR_MS};
use crate::store::series::{self, Hour};
use crate::store::summary::{self, Want};
use crate::store::StoreError;
use crate::svg;
use askama::Template;
use std::sync::Arc;
use warp::http::{Response, StatusCode};

/// Days in the bars.
pub const DAYS: i64 = 90;
/// How far ahead a maintenance is shown as coming.
const COMING_MS: i64 = 7 * DAY_MS;

struct OpenIncident {
    check: String,
    since: String,
    duration: String,
    message: Option<String>,
}

struct AlertRow {
    level: &'static str,
    kind: &'static str,
    check: String,
    rule: Option<String>,
    since: String,
    acknowledged: Option<String>,
    message: Option<String>,
}

struct MaintenanceRow {
    name: String,
    when: String,
    scope: String,
}

struct CheckRow {
    name: String,
    kind: &'static str,
    critical: bool,
    status: &'static str,
    circuit_open: bool,
    message: Option<String>,
    bars: Arc<str>,
    availability_30d: Arc<str>,
    sparkline: Arc<str>,
    latency: String,
    last_incident: String,
}

struct Group {
    name: Option<String>,
    checks: Vec<CheckRow>,
}

#[derive(Template)]
#[template(path = "pages/status.html")]
struct StatusPage {
    nonce: String,
    generated: String,
    service: String,
    environment: String,
    uptime: String,
    overall: &'static str,
    banner: &'static str,
    open_incidents: Vec<OpenIncident>,
    alerts: Vec<AlertRow>,
    maintenance: Vec<MaintenanceRow>,
    summary: String,
    groups: Vec<Group>,
    days: i64,
    hidden: bool,
}

/// What the page reads from the store, in one blocking task.
struct Facts {
    /// `days[check][day]`, oldest first; then the 30-day figure per check.
    days: Vec<Vec<crate::availability::Availability>>,
    month: Vec<Option<f64>>,
    hours: Vec<Vec<Hour>>,
    last: Arc<Vec<Vec<IncidentRow>>>,
}

/// How long the drawn history (bars, 30-day figures, sparklines, last incidents) is served
/// before it is read and drawn again. It changes by the minute at most, while a screen or a
/// load balancer may ask many times a second; the current state is read on every request.
const FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// One check's history as the page shows it, drawn once per [`FRESH`].
struct Drawn {
    bars: Arc<str>,
    availability_30d: Arc<str>,
    sparkline: Arc<str>,
}

struct History {
    at: std::time::Instant,
    /// By check, in config order.
    drawn: Vec<Drawn>,
    last: Arc<Vec<Vec<IncidentRow>>>,
}

/// The drawn history, shared by the page's requests. Held across the store read, so that
/// when it goes stale one request redraws it and the others wait for that one.
#[derive(Default)]
pub struct Cache(tokio::sync::Mutex<Option<Arc<History>>>);

impl Cache {
    async fn get(&self, ctx: &super::super::ApiContext) -> Result<Arc<History>, StoreError> {
        let mut slot = self.0.lock().await;
        if let Some(h) = slot.as_ref().filter(|h| h.at.elapsed() < FRESH) {
            return Ok(h.clone());
        }
        let history = Arc::new(read(ctx).await?);
        *slot = Some(history.clone());
        Ok(history)
    }
}

/// Reads the facts and draws them, both on the blocking pool: drawing 90 days of hundreds of
/// checks is milliseconds of CPU that should not sit on an async worker.
async fn read(ctx: &super::super::ApiContext) -> Result<History, StoreError> {
    let names = ctx.state.names();
    let now = ctx.store.now();
    ctx.store
        .read(move |conn| Ok(draw(names.len(), facts(conn, &names, now)?, now.ms)))
        .await
}

fn draw(checks: usize, facts: Facts, now: i64) -> History {
    let dates: Vec<String> = day_spans(now)
        .iter()
        .map(|s| {
            chrono::DateTime::from_timestamp_millis(s.start)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
        })
        .collect();
    let drawn = (0..checks)
        .map(|i| {
            let days: Vec<svg::Day> = facts
                .days
                .get(i)
                .map(|d| {
                    d.iter()
                        .zip(&dates)
                        .map(|(a, date)| day_cell(date.clone(), a))
                        .collect()
                })
                .unwrap_or_default();
            let p50 = hourly_p50(facts.hours.get(i).map_or(&[][..], Vec::as_slice), now);
            Drawn {
                bars: svg::day_bars(&days).into(),
                availability_30d: percent(facts.month.get(i).copied().flatten()).into(),
                sparkline: svg::sparkline(&p50, "latency p50 by hour, last 24 hours").into(),
            }
        })
        .collect();
    History {
        at: std::time::Instant::now(),
        drawn,
        last: facts.last,
    }
}

/// The UTC days of the bars, oldest first; the last one ends now.
fn day_spans(now: i64) -> Vec<Span> {
    let today = day_of(now);
    (0..DAYS)
        .rev()
        .map(|ago| {
            let start = today - ago * DAY_MS;
            Span::new(start, (start + DAY_MS).min(now))
        })
        .collect()
}

fn facts(
    conn: &rusqlite::Connection,
    names: &[String],
    now: crate::store::queries::Now,
) -> Result<Facts, StoreError> {
    let mut spans = day_spans(now.ms);
    spans.push(Span::new(now.ms - 30 * DAY_MS, now.ms));
    let mut per_span = summary::summaries(conn, names, &spans, now, Want::Availability)?;
    let month = per_span
        .pop()
        .unwrap_or_default()
        .iter()
        .map(|s| s.availability.percent)
        .collect();
    let days = (0..names.len())
        .map(|i| per_span.iter().map(|d| d[i].availability).collect())
        .collect();
    let hours = series::hourly(conn, names, now.ms - 24 * HOUR_MS, now.ms, now)?;
    let last = summary::recent_incidents(conn, names, 1)?;
    Ok(Facts {
        days,
        month,
        hours,
        last,
    })
}

/// The 24 hourly p50s ending now, `None` for an hour without probes.
fn hourly_p50(hours: &[Hour], now: i64) -> Vec<Option<f64>> {
    let first = now.div_euclid(HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
    (0..24)
        .map(|i| {
            let h = first + i * HOUR_MS;
            hours
                .iter()
                .find(|x| x.hour_ms == h)
                .and_then(|x| x.latency.p50_ms)
        })
        .collect()
}

pub async fn page(ctx: super::super::ApiContext, viewer: Viewer) -> Response<Vec<u8>> {
    let history = match ctx.status_history().get(&ctx).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "Status page: the store cannot be read.");
            return super::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the health log cannot be read",
            );
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let empty: Arc<str> = Arc::from("");
    let snapshot = ctx.alerting.snapshot();
    let mut counts = [0usize; 4];
    let mut open_incidents = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    for (i, slot) in ctx.state.checks().iter().enumerate() {
        let def = &slot.def;
        let r = slot.latest();
        let status = r.as_ref().map_or(Status::Unknown, |r| r.status);
        counts[status as usize] += 1;
        let last = history.last.get(i).and_then(|l| l.first());
        if let Some(inc) = last.filter(|i| i.ended_ms.is_none()) {
            open_incidents.push(OpenIncident {
                check: def.name.clone(),
                since: when(inc.started_ms),
                duration: human((now - inc.started_ms) as f64 / 1000.0),
                message: inc.message.clone().filter(|_| viewer.details),
            });
        }
        let drawn = history.drawn.get(i);
        let row = CheckRow {
            name: def.name.clone(),
            kind: def.kind,
            critical: def.critical,
            status: status.as_str(),
            circuit_open: r
                .as_ref()
                .is_some_and(|r| r.circuit == crate::breaker::CircuitState::Open),
            message: r
                .as_ref()
                .and_then(|r| r.message.clone())
                .filter(|_| viewer.details),
            bars: drawn.map_or(empty.clone(), |d| d.bars.clone()),
            availability_30d: drawn.map_or(empty.clone(), |d| d.availability_30d.clone()),
            sparkline: drawn.map_or(empty.clone(), |d| d.sparkline.clone()),
            latency: r.as_ref().map_or("no result yet".into(), |r| {
                format!("{:.1} ms now", r.response_time_ms())
            }),
            last_incident: match last {
                None => "none".into(),
                Some(i) => match i.ended_ms {
                    None => format!("ongoing since {}", when(i.started_ms)),
                    Some(end) => format!(
                        "{} ({})",
                        when(i.started_ms),
                        human((end - i.started_ms) as f64 / 1000.0)
                    ),
                },
            },
        };
        // Groups in the order their first check appears in the config.
        match groups.iter_mut().find(|g| g.name == def.group) {
            Some(g) => g.checks.push(row),
            None => groups.push(Group {
                name: def.group.clone(),
                checks: vec![row],
            }),
        }
    }
    // Ungrouped checks get a heading of their own once there are groups to tell them from.
    if groups.len() > 1 {
        for g in groups.iter_mut().filter(|g| g.name.is_none()) {
            g.name = Some("Other checks".into());
        }
    }
    let alerts = snapshot
        .alerts
        .iter()
        .map(|a| AlertRow {
            level: a.level.as_str(),
            kind: a.kind.as_str(),
            check: a.check.clone(),
            rule: a.rule.clone(),
            since: a.started_at.clone().unwrap_or_default(),
            acknowledged: a.acknowledged_at.clone(),
            message: a.message.clone().filter(|_| viewer.details),
        })
        .collect();
    let maintenance = ctx
        .alerting
        .maintenance
        .iter()
        .flat_map(|m| {
            m.windows(now, now + COMING_MS).into_iter().map(move |w| {
                let state = if w.start <= now { "now, until" } else { "from" };
                MaintenanceRow {
                    name: m.name.clone(),
                    when: if w.start <= now {
                        format!("{state} {}", when(w.end))
                    } else {
                        format!("{state} {} to {}", when(w.start), when(w.end))
                    },
                    scope: if m.checks.is_empty() {
                        "every check".into()
                    } else {
                        m.checks.join(", ")
                    },
                }
            })
        })
        .collect();
    let overall = ctx.state.overall();
    let service = ctx.state.service();
    let up = ctx.state.uptime_seconds();
    let nonce = nonce();
    let page = StatusPage {
        generated: format!("updated {}", when(now)),
        service: service.name.clone(),
        environment: service.environment.clone(),
        uptime: human(up as f64),
        overall: overall.as_str(),
        banner: match overall {
            Status::Healthy => "All systems operational",
            Status::Degraded => "Some systems degraded",
            Status::Unhealthy => "Outage",
            Status::Unknown => "Starting: not every check has a result yet",
        },
        open_incidents,
        alerts,
        maintenance,
        summary: format!(
            "{} checks: {} healthy, {} degraded, {} unhealthy, {} unknown",
            ctx.state.checks().len(),
            counts[Status::Healthy as usize],
            counts[Status::Degraded as usize],
            counts[Status::Unhealthy as usize],
            counts[Status::Unknown as usize]
        ),
        groups,
        days: DAYS,
        hidden: !viewer.details,
        nonce: nonce.clone(),
    };
    html(StatusCode::OK, &nonce, page.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bars_are_ninety_utc_days_ending_now() {
        let now = 20 * DAY_MS + 5 * HOUR_MS;
        let days = day_spans(now);
        assert_eq!(days.len(), 90);
        assert_eq!(days[89], Span::new(20 * DAY_MS, now));
        assert_eq!(days[0].start, (20 - 89) * DAY_MS);
        assert!(days.windows(2).all(|w| w[0].end == w[1].start));
    }
}
