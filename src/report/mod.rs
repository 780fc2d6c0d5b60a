//! Reports over the stored history: per check availability, downtime, incidents, latency,
//! alerts fired and SLO budget used, over an exact period. `healthmon report` and
//! `GET /report` build one here from the store's summary query and render it with
//! [`render`]; nothing here runs a check or writes to the store.

pub mod period;
pub mod render;

use crate::alerts::config::Setup;
use crate::availability::{Availability, Span};
use crate::config::{CheckDef, Config};
use crate::store::queries::{self, Latency, Now};
use crate::store::summary::{self, Want};
use crate::store::{alerts as alert_store, StoreError};
use crate::time::{Millis, Stamp};
use chrono::NaiveDate;
use period::Period;
use rusqlite::Connection;
use serde::Serialize;
use std::collections::HashMap;

/// How the report counts, stated in every format.
pub const COUNTING: &str =
    "Availability is time-weighted: the share of observed time not inside a \
confirmed incident (a check is down from its first failure once the failures reach its \
failure_threshold, until it is healthy again). Time in a maintenance window and time with no \
data (before a check existed, while the daemon was stopped, or still to come) count as neither \
up nor down: they are left out of the ratio. A check with no observed time shows \"no data\".";

/// Most incidents listed per check; the count is always exact.
pub const INCIDENT_LIST_MAX: u32 = 500;

/// Progress is reported every this many checks.
const CHUNK: usize = 50;

/// A check to report on, as configured.
#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub kind: String,
    pub group: Option<String>,
    pub slos: Vec<Objective>,
}

/// An SLO of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub name: String,
    pub objective: f64,
}

/// The configured checks (all, or those named, in the order named) with their SLOs.
///
/// # Errors
/// A name that is not a configured check.
pub fn subjects(config: &Config, only: &[String]) -> Result<Vec<Subject>, String> {
    subjects_of(config.checks.iter().map(|c| &**c), &config.alerting, only)
}

/// [`subjects`] from the check definitions and alerting setup a daemon runs on.
///
/// # Errors
/// A name that is not among `defs`.
pub fn subjects_of<'a>(
    defs: impl Iterator<Item = &'a CheckDef>,
    setup: &Setup,
    only: &[String],
) -> Result<Vec<Subject>, String> {
    let all: Vec<Subject> = defs
        .map(|c| Subject {
            name: c.name.clone(),
            kind: c.kind.to_string(),
            group: c.group.clone(),
            slos: setup
                .slos
                .iter()
                .filter(|s| s.check == c.index)
                .map(|s| Objective {
                    name: s.name.clone(),
                    objective: s.objective,
                })
                .collect(),
        })
        .collect();
    pick(all, only)
}

/// `all`, or the named ones of it in the order named.
///
/// # Errors
/// A name not in `all`.
pub fn pick(all: Vec<Subject>, only: &[String]) -> Result<Vec<Subject>, String> {
    if only.is_empty() {
        return Ok(all);
    }
    only.iter()
        .map(|name| {
            all.iter()
                .find(|s| &s.name == name)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                    format!(
                        "--check: no check named `{name}` in the config (it has: {})",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// A whole report; its JSON form is the `--format json` output (documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub service: String,
    pub generated_at: Stamp,
    pub period: PeriodView,
    pub counting: &'static str,
    pub summary: Overall,
    /// Worst first: lowest availability, then most downtime; checks without data last.
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodView {
    pub label: String,
    pub from: Stamp,
    pub to: Stamp,
    pub time_zone: String,
    pub hours: f64,
    /// False while the period has not ended: the time still to come is no data.
    pub complete: bool,
}

/// The summary on top.
#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    pub checks: usize,
    /// Over all checks' observed time together; `None` when nothing was observed.
    pub availability_percent: Option<f64>,
    pub observed_seconds: f64,
    pub downtime_seconds: f64,
    pub incidents: u32,
    pub alerts_fired: usize,
    pub checks_with_downtime: usize,
    pub checks_without_data: usize,
    /// The first of the worst-first list that had downtime.
    pub worst: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub kind: String,
    pub group: Option<String>,
    /// `percent`, `window_seconds`, `observed_seconds`, `downtime_seconds`,
    /// `maintenance_seconds`, `no_data_seconds`, `incidents` (the count).
    #[serde(flatten)]
    pub availability: Availability,
    pub latency: Latency,
    pub alerts_fired: usize,
    pub slos: Vec<SloUse>,
    /// Oldest first, at most [`INCIDENT_LIST_MAX`].
    pub incident_list: Vec<IncidentItem>,
    pub alert_list: Vec<AlertItem>,
    /// Each calendar day of the period in its zone, for the HTML bars.
    #[serde(skip)]
    pub days: Vec<(NaiveDate, Availability)>,
}

/// How much of an SLO's error budget the period used: the budget is the downtime the
/// objective allows over the period's observed time.
#[derive(Debug, Clone, Serialize)]
pub struct SloUse {
    pub name: String,
    pub objective: f64,
    pub budget_seconds: f64,
    pub used_seconds: f64,
    /// Of the budget; over 100 once overspent; `None` with no observed time.
    pub used_percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentItem {
    pub started_at: Stamp,
    /// `None` while it goes on.
    pub ended_at: Option<Stamp>,
    /// The whole incident's length, to now while it goes on.
    pub duration_seconds: f64,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertItem {
    pub kind: String,
    pub rule: Option<String>,
    pub level: String,
    pub started_at: Stamp,
    pub resolved_at: Option<Stamp>,
    pub message: Option<String>,
}

/// What to build: which checks, over which period, and whether the HTML's daily bars are
/// needed (they cost a summary per day).
pub struct Request<'a> {
    pub service: &'a str,
    pub subjects: &'a [Subject],
    pub period: &'a Period,
    pub now: Now,
    pub days: bool,
    /// With error messages; `false` hides them (the pages' viewer without the token).
    pub details: bool,
}

/// Builds the report in one read transaction, so every figure comes from the same moment
/// while the daemon goes on writing. `progress(done, total)` is called as checks are done.
///
/// # Errors
/// SQL errors.
pub fn build(
    conn: &Connection,
    req: &Request,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, StoreError> {
    // A deferred read transaction: a snapshot, taking no lock the writer waits for.
    let tx = conn.unchecked_transaction()?;
    let p = req.period;
    let span = Span::new(p.start, p.end);
    let days = if req.days { p.days() } else { Vec::new() };
    let day_spans: Vec<Span> = days.iter().map(|(_, a, b)| Span::new(*a, *b)).collect();
    let mut alerts: HashMap<String, Vec<AlertItem>> = HashMap::new();
    for a in alert_store::alerts_started(&tx, p.start, p.end)? {
        alerts.entry(a.check.clone()).or_default().push(AlertItem {
            kind: a.kind,
            rule: a.rule,
            level: a.level,
            started_at: Stamp(a.started_ms),
            resolved_at: a.resolved_ms.map(Stamp),
            message: a.message.filter(|_| req.details),
        });
    }
    let total = req.subjects.len();
    let mut checks = Vec::with_capacity(total);
    progress(0, total);
    // One summary for all checks: its reads (the incidents of the whole span above all) do
    // not depend on how many checks are asked for, so chunks would repeat them.
    let names: Vec<String> = req.subjects.iter().map(|s| s.name.clone()).collect();
    let whole = summary::summary(&tx, &names, span, req.now, Want::Latency)?;
    let per_day = if day_spans.is_empty() {
        Vec::new()
    } else {
        summary::availability_by_span(&tx, &names, &day_spans, req.now)?
    };
    let mut incidents = incident_lists(&tx, span, req.now.ms, req.details)?;
    for (i, (subject, s)) in req.subjects.iter().zip(whole).enumerate() {
        let incident_list = incidents.remove(&subject.name).unwrap_or_default();
        let a = s.availability;
        let alert_list = alerts.remove(&subject.name).unwrap_or_default();
        checks.push(CheckReport {
            name: subject.name.clone(),
            kind: subject.kind.clone(),
            group: subject.group.clone(),
            availability: a,
            latency: s.latency.unwrap_or_default(),
            alerts_fired: alert_list.len(),
            slos: subject.slos.iter().map(|o| slo_use(o, &a)).collect(),
            incident_list,
            alert_list,
            days: days
                .iter()
                .zip(&per_day)
                .map(|((date, _, _), row)| (*date, row[i]))
                .collect(),
        });
        if checks.len() % CHUNK == 0 || checks.len() == total {
            progress(checks.len(), total);
        }
    }
    tx.finish()?;
    worst_first(&mut checks);
    let summary = overall(&checks);
    Ok(Report {
        service: req.service.to_string(),
        generated_at: Stamp(req.now.ms),
        period: PeriodView {
            label: p.label.clone(),
            from: Stamp(p.start),
            to: Stamp(p.end),
            time_zone: p.tz.name().to_string(),
            hours: p.hours(),
            complete: p.end <= req.now.ms,
        },
        counting: COUNTING,
        summary,
        checks,
    })
}

/// The incidents the summary counts for the span (started in it, or running at its start),
/// by check: the newest [`INCIDENT_LIST_MAX`] of each, oldest first. One read for all checks.
fn incident_lists(
    conn: &Connection,
    span: Span,
    now: Millis,
    details: bool,
) -> Result<HashMap<String, Vec<IncidentItem>>, StoreError> {
    let rows = queries::incidents(conn, None, span.start, span.end, u32::MAX)?;
    let mut out: HashMap<String, Vec<IncidentItem>> = HashMap::new();
    for r in rows {
        let runs_into = r.started_ms < span.start && r.ended_ms.is_none_or(|e| e > span.start);
        if !((r.started_ms >= span.start && r.started_ms < span.end) || runs_into) {
            continue;
        }
        let list = out.entry(r.check).or_default();
        if list.len() < INCIDENT_LIST_MAX as usize {
            list.push(IncidentItem {
                started_at: Stamp(r.started_ms),
                ended_at: r.ended_ms.map(Stamp),
                duration_seconds: (r.ended_ms.unwrap_or(now) - r.started_ms) as f64 / 1000.0,
                first_error: r.message.filter(|_| details),
            });
        }
    }
    for list in out.values_mut() {
        list.reverse();
    }
    Ok(out)
}

fn slo_use(o: &Objective, a: &Availability) -> SloUse {
    let budget = a.observed_seconds * (100.0 - o.objective) / 100.0;
    SloUse {
        name: o.name.clone(),
        objective: o.objective,
        budget_seconds: budget,
        used_seconds: a.downtime_seconds,
        // Objectives are below 100 %, so any observed time gives a budget.
        used_percent: (budget > 0.0)
            .then(|| (a.downtime_seconds / budget * 100_000.0).round() / 1000.0),
    }
}

/// Lowest availability first, then most downtime; checks without data last; otherwise in
/// config order (the sort is stable).
fn worst_first(checks: &mut [CheckReport]) {
    checks.sort_by(|a, b| {
        let (pa, pb) = (a.availability.percent, b.availability.percent);
        match (pa, pb) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.total_cmp(&y).then(
                b.availability
                    .downtime_seconds
                    .total_cmp(&a.availability.downtime_seconds),
            ),
        }
    });
}

fn overall(checks: &[CheckReport]) -> Overall {
    let observed: f64 = checks.iter().map(|c| c.availability.observed_seconds).sum();
    let down: f64 = checks.iter().map(|c| c.availability.downtime_seconds).sum();
    Overall {
        checks: checks.len(),
        availability_percent: (observed > 0.0)
            .then(|| (100.0 * (observed - down) / observed * 1000.0).round() / 1000.0),
        observed_seconds: observed,
        downtime_seconds: down,
        incidents: checks.iter().map(|c| c.availability.incidents).sum(),
        alerts_fired: checks.iter().map(|c| c.alerts_fired).sum(),
        checks_with_downtime: checks
            .iter()
            .filter(|c| c.availability.downtime_seconds > 0.0)
            .count(),
        checks_without_data: checks
            .iter()
            .filter(|c| c.availability.percent.is_none())
            .count(),
        worst: checks
            .iter()
            .find(|c| c.availability.downtime_seconds > 0.0)
            .map(|c| c.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::compute;

    const H: i64 = 3_600_000;

    fn check(name: &str, a: Availability) -> CheckReport {
        CheckReport {
            name: name.into(),
            kind: "tcp".into(),
            group: None,
            availability: a,
            latency: Latency::default(),
            alerts_fired: 0,
            slos: Vec::new(),
            incident_list: Vec::new(),
            alert_list: Vec::new(),
            days: Vec::new(),
        }
    }

    #[test]
    fn the_worst_come_first_and_checks_without_data_last() {
        let day = Span::new(0, 24 * H);
        let up = compute(day, &[day], &[], &[]);
        let hour_down = compute(day, &[day], &[Span::new(0, H)], &[]);
        let two_down = compute(day, &[day], &[Span::new(0, 2 * H)], &[]);
        let nothing = compute(day, &[], &[], &[]);
        let mut list = vec![
            check("fine", up),
            check("new", nothing),
            check("bad", hour_down),
            check("worse", two_down),
        ];
        worst_first(&mut list);
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["worse", "bad", "fine", "new"]);
        let sum = overall(&list);
        assert_eq!(sum.worst.as_deref(), Some("worse"));
        assert_eq!((sum.checks_with_downtime, sum.checks_without_data), (2, 1));
        // Three watched days, three hours down.
        assert_eq!(sum.availability_percent, Some(95.833));
    }

    #[test]
    fn the_budget_used_is_downtime_over_what_the_objective_allows_of_observed_time() {
        let day = Span::new(0, 24 * H);
        let o = Objective {
            name: "api".into(),
            objective: 99.0,
        };
        // 1 % of 24 h allows 14.4 min; 7.2 min down is half of it.
        let half = compute(day, &[day], &[Span::new(0, 432_000)], &[]);
        assert_eq!(slo_use(&o, &half).used_percent, Some(50.0));
        assert_eq!(slo_use(&o, &half).budget_seconds, 864.0);
        // Half the day without data halves the budget, not the ratio's meaning.
        let half_watched = compute(day, &[Span::new(0, 12 * H)], &[Span::new(0, 432_000)], &[]);
        assert_eq!(slo_use(&o, &half_watched).used_percent, Some(100.0));
        assert_eq!(slo_use(&o, &compute(day, &[], &[], &[])).used_percent, None);
    }
}
