//! `/status` (a summary for dashboards) and `/health/detailed` (everything an operator needs).

use super::views::{self, check_views, latest_of, CheckView, Ordered};
use super::ApiContext;
use crate::alerts::engine::{AlertView, SloView};
use crate::availability::{Availability, Span};
use crate::checks::{Observed, Status};
use crate::duration;
use crate::store::summary::{self, Want};
use crate::store::writer::StoreHealth;
use crate::store::{queries, StoreError};
use crate::system;
use crate::time::Stamp;
use chrono::Utc;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use warp::http::{Response, StatusCode};

/// The windows `/health/detailed` and `/health/NAME` report.
pub const WINDOWS: [(&str, Duration); 4] = [
    ("1h", Duration::from_secs(3600)),
    ("24h", Duration::from_secs(86_400)),
    ("7d", Duration::from_secs(7 * 86_400)),
    ("30d", Duration::from_secs(30 * 86_400)),
];

#[derive(Serialize)]
struct Memory {
    used_mb: f64,
    percent: f64,
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    healthy: usize,
    degraded: usize,
    unhealthy: usize,
    unknown: usize,
    health_percentage: f64,
}

#[derive(Serialize)]
struct StatusHead<'a> {
    status: Status,
    timestamp: String,
    service: &'a str,
    version: &'static str,
    api_version: &'static str,
    environment: &'a str,
    started_at: String,
    uptime_seconds: u64,
    memory: Memory,
    summary: Summary,
}

fn head(ctx: &ApiContext) -> StatusHead<'_> {
    let mut summary = Summary {
        total: 0,
        healthy: 0,
        degraded: 0,
        unhealthy: 0,
        unknown: 0,
        health_percentage: 0.0,
    };
    for slot in ctx.state.checks() {
        summary.total += 1;
        match slot.status() {
            Status::Healthy => summary.healthy += 1,
            Status::Degraded => summary.degraded += 1,
            Status::Unhealthy => summary.unhealthy += 1,
            Status::Unknown => summary.unknown += 1,
        }
    }
    if summary.total > 0 {
        summary.health_percentage =
            (1000.0 * summary.healthy as f64 / summary.total as f64).round() / 10.0;
    }
    let rss = system::process_rss_bytes().unwrap_or(0);
    let total = system::memory().map(|m| m.total_bytes).unwrap_or(0);
    let service = ctx.state.service();
    StatusHead {
        status: ctx.state.overall(),
        timestamp: views::now(),
        service: &service.name,
        version: env!("CARGO_PKG_VERSION"),
        api_version: "v1",
        environment: &service.environment,
        started_at: views::rfc3339(ctx.state.started_at()),
        uptime_seconds: ctx.state.uptime_seconds(),
        memory: Memory {
            used_mb: (rss as f64 / 1_048_576.0 * 10.0).round() / 10.0,
            percent: if total == 0 {
                0.0
            } else {
                (rss as f64 * 1000.0 / total as f64).round() / 10.0
            },
        },
        summary,
    }
}

/// `GET /status`: always 200.
pub fn status(ctx: &ApiContext) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(flatten)]
        head: StatusHead<'a>,
        checks: Ordered<'a, CheckView<'a>>,
    }
    let latest = latest_of(ctx.state.checks().iter());
    views::json(
        StatusCode::OK,
        &Body {
            head: head(ctx),
            checks: check_views(&latest),
        },
    )
}

fn window_spans(now: i64) -> Vec<Span> {
    WINDOWS
        .iter()
        .map(|(_, d)| Span::new(now - d.as_millis() as i64, now))
        .collect()
}

/// Availability of one check over each of [`WINDOWS`], ending now.
///
/// # Errors
/// When the store cannot be read.
pub async fn availability_windows(
    ctx: &ApiContext,
    name: &str,
) -> Result<Vec<(&'static str, Availability)>, StoreError> {
    let names = vec![name.to_string()];
    let now = ctx.store.now();
    let per_window = ctx
        .store
        .read(move |conn| {
            summary::summaries(conn, &names, &window_spans(now.ms), now, Want::Availability)
        })
        .await?;
    Ok(WINDOWS
        .iter()
        .zip(per_window)
        .filter_map(|((label, _), checks)| Some((*label, checks.first()?.availability)))
        .collect())
}

#[derive(Serialize)]
pub(crate) struct IncidentView<'a> {
    started_at: Stamp,
    confirmed_at: Stamp,
    ended_at: Option<Stamp>,
    duration_seconds: f64,
    message: Option<&'a str>,
}

impl<'a> IncidentView<'a> {
    pub(crate) fn from_row(r: &'a queries::IncidentRow, now: i64) -> Self {
        IncidentView {
            started_at: Stamp(r.started_ms),
            confirmed_at: Stamp(r.confirmed_ms),
            ended_at: r.ended_ms.map(Stamp),
            duration_seconds: (r.ended_ms.unwrap_or(now) - r.started_ms) as f64 / 1000.0,
            message: r.message.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct Breaker {
    state: &'static str,
    consecutive_failures: u32,
    retry_at: Option<String>,
}

#[derive(Serialize)]
struct LastError {
    at: String,
    message: Option<String>,
}

#[derive(Serialize)]
struct DetailedCheck<'a> {
    #[serde(flatten)]
    check: CheckView<'a>,
    description: Option<&'a str>,
    target: &'a str,
    schedule: String,
    timeout: String,
    thresholds: Observed,
    observed: Option<&'a Observed>,
    breaker: Breaker,
    last_error: Option<LastError>,
    availability: Ordered<'static, Availability>,
    recent_incidents: Vec<IncidentView<'a>>,
    /// Its open alerts.
    alerts: Vec<&'a AlertView>,
    /// Its SLOs: error budget left and burn rates.
    slos: Vec<&'a SloView>,
}

#[derive(Serialize)]
struct SystemView {
    cpu_percent: Option<f64>,
    memory: Option<SystemMemory>,
    load: Option<SystemLoad>,
    disk: Option<SystemDisk>,
}

#[derive(Serialize)]
struct SystemMemory {
    total_bytes: u64,
    available_bytes: u64,
    percent_used: f64,
}

#[derive(Serialize)]
struct SystemLoad {
    load1: f64,
    load5: f64,
    load15: f64,
    cpus: usize,
}

#[derive(Serialize)]
struct SystemDisk {
    path: String,
    total_bytes: u64,
    available_bytes: u64,
    percent_used: f64,
}

fn system_view(ctx: &ApiContext) -> SystemView {
    let round1 = crate::checks::threshold::round1;
    SystemView {
        cpu_percent: ctx.cpu().percent().map(round1),
        memory: system::memory().ok().map(|m| SystemMemory {
            total_bytes: m.total_bytes,
            available_bytes: m.available_bytes,
            percent_used: round1(m.percent_used),
        }),
        load: system::load().ok().map(|l| SystemLoad {
            load1: l.one,
            load5: l.five,
            load15: l.fifteen,
            cpus: l.cpus,
        }),
        disk: system::disk_usage(&ctx.data_dir).ok().map(|d| SystemDisk {
            path: ctx.data_dir.display().to_string(),
            total_bytes: d.total_bytes,
            available_bytes: d.available_bytes,
            percent_used: round1(d.percent_used),
        }),
    }
}

/// Per check: availability per window, and the recent incidents of every check (kept by the
/// store between changes), read in one blocking task.
type StoreFacts = (
    Vec<Vec<(&'static str, Availability)>>,
    std::sync::Arc<Vec<Vec<queries::IncidentRow>>>,
);

async fn store_facts(ctx: &ApiContext) -> Result<StoreFacts, StoreError> {
    let names = ctx.state.names();
    let now = ctx.store.now();
    ctx.store
        .read(move |conn| {
            let per_window =
                summary::summaries(conn, &names, &window_spans(now.ms), now, Want::Availability)?;
            let recent = summary::recent_incidents(conn, &names, 5)?;
            let windows = (0..names.len())
                .map(|i| {
                    WINDOWS
                        .iter()
                        .zip(&per_window)
                        .map(|((label, _), checks)| (*label, checks[i].availability))
                        .collect()
                })
                .collect();
            Ok((windows, recent))
        })
        .await
}

/// The alert engine and the outbox as `/health/detailed` shows them.
#[derive(Serialize)]
struct AlertingView<'a> {
    /// Open alerts by level.
    firing: Firing,
    /// Notifications waiting to be delivered, over all notifiers.
    outbox_depth: usize,
    notifiers: Ordered<'a, NotifierView<'a>>,
    /// Results the engine never saw because it fell behind.
    results_dropped: u64,
}

#[derive(Serialize)]
struct Firing {
    warning: usize,
    critical: usize,
}

#[derive(Serialize)]
struct NotifierView<'a> {
    kind: &'a str,
    target: &'a str,
    sent: u64,
    failed_attempts: u64,
    given_up: u64,
    pending: usize,
    last_sent: Option<String>,
    last_error: Option<String>,
}

impl<'a> AlertingView<'a> {
    fn new(ctx: &'a ApiContext, snapshot: &crate::alerts::engine::Snapshot) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = ctx.alerting.notifier_stats();
        let notifiers: Vec<(&str, NotifierView)> = ctx
            .alerting
            .notifiers
            .iter()
            .zip(stats)
            .map(|((name, kind, target), s)| {
                (
                    name.as_str(),
                    NotifierView {
                        kind,
                        target,
                        sent: s.sent.load(Relaxed),
                        failed_attempts: s.failed.load(Relaxed),
                        given_up: s.given_up.load(Relaxed),
                        pending: s.queued.load(Relaxed),
                        last_sent: s
                            .last_sent_ms
                            .lock()
                            .ok()
                            .and_then(|t| *t)
                            .and_then(views::rfc3339_ms),
                        last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
                    },
                )
            })
            .collect();
        let level = |l| snapshot.alerts.iter().filter(|a| a.level == l).count();
        AlertingView {
            firing: Firing {
                warning: level(crate::alerts::Level::Warning),
                critical: level(crate::alerts::Level::Critical),
            },
            outbox_depth: notifiers.iter().map(|(_, n)| n.pending).sum(),
            notifiers: Ordered(notifiers),
            results_dropped: ctx.alerting.dropped_results(),
        }
    }
}

/// The store writer as `/health/detailed` shows it.
#[derive(Serialize)]
struct StoreView {
    /// `ok`, or `failing` while commits are refused (locked, full, read-only).
    status: &'static str,
    path: String,
    results_stored: u64,
    results_dropped: u64,
    errors: u64,
    pending_changes: usize,
    oldest_pending_change_seconds: f64,
    failing_since: Option<String>,
    last_commit: Option<String>,
    last_error: Option<String>,
}

impl StoreView {
    fn new(ctx: &ApiContext, h: StoreHealth) -> Self {
        StoreView {
            status: if h.failing_since_ms.is_some() {
                "failing"
            } else {
                "ok"
            },
            path: ctx.store.path().display().to_string(),
            results_stored: h.results_stored,
            results_dropped: h.results_dropped,
            errors: h.errors,
            pending_changes: h.pending_ops,
            oldest_pending_change_seconds: h.oldest_pending_seconds,
            failing_since: h.failing_since_ms.and_then(views::rfc3339_ms),
            last_commit: h.last_commit_ms.and_then(views::rfc3339_ms),
            last_error: h.last_error,
        }
    }
}

/// `GET /health/detailed`: always 200.
pub async fn detailed(ctx: ApiContext) -> Response<Vec<u8>> {
    let (windows, recent) = match store_facts(&ctx).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "Could not read the store for /health/detailed.");
            return views::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the health log cannot be read",
            );
        }
    };
    let now = Utc::now().timestamp_millis();
    let snapshot = ctx.alerting.snapshot();
    let latest = latest_of(ctx.state.checks().iter());
    let failures: Vec<_> = ctx
        .state
        .checks()
        .iter()
        .map(|s| s.last_failure())
        .collect();
    // Each check's alerts and SLOs, found by name once rather than by a scan per check.
    let mut alerts_of: HashMap<&str, Vec<&AlertView>> = HashMap::new();
    for a in &snapshot.alerts {
        alerts_of.entry(a.check.as_str()).or_default().push(a);
    }
    let mut slos_of: HashMap<&str, Vec<&SloView>> = HashMap::new();
    for s in &snapshot.slos {
        slos_of.entry(s.check.as_str()).or_default().push(s);
    }
    let checks: Vec<(&str, DetailedCheck)> = latest
        .iter()
        .zip(windows.into_iter().zip(recent.iter()))
        .zip(&failures)
        .map(|(((slot, r), (windows, incidents)), failure)| {
            let r = r.as_deref();
            let def = &slot.def;
            let mut thresholds = def.check.thresholds();
            thresholds.insert("failure_threshold".into(), def.failure_threshold.into());
            thresholds.insert("success_threshold".into(), def.success_threshold.into());
            let detail = DetailedCheck {
                check: CheckView::new(slot, r),
                description: def.description.as_deref(),
                target: &def.target,
                schedule: def.schedule.describe(),
                timeout: duration::format(def.timeout),
                thresholds,
                observed: r.map(|r| &r.observed),
                breaker: Breaker {
                    state: r.map_or("closed", |r| r.circuit.as_str()),
                    consecutive_failures: r.map_or(0, |r| r.consecutive_failures),
                    retry_at: r.and_then(|r| r.retry_at).map(views::rfc3339),
                },
                last_error: failure.as_deref().map(|f| LastError {
                    at: views::rfc3339(f.started_at),
                    message: f.message.clone(),
                }),
                availability: Ordered(windows),
                recent_incidents: incidents
                    .iter()
                    .map(|i| IncidentView::from_row(i, now))
                    .collect(),
                alerts: alerts_of.remove(def.name.as_str()).unwrap_or_default(),
                slos: slos_of.remove(def.name.as_str()).unwrap_or_default(),
            };
            (def.name.as_str(), detail)
        })
        .collect();
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(flatten)]
        head: StatusHead<'a>,
        checks: Ordered<'a, DetailedCheck<'a>>,
        store: StoreView,
        alerting: AlertingView<'a>,
        system: SystemView,
    }
    views::json(
        StatusCode::OK,
        &Body {
            head: head(&ctx),
            checks: Ordered(checks),
            store: StoreView::new(&ctx, ctx.store_monitor.health()),
            alerting: AlertingView::new(&ctx, &snapshot),
            system: system_view(&ctx),
        },
    )
}
