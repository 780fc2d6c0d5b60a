//! Reads over the health log: history, incidents, availability and latency.

use super::rollup::{percentile, BUCKETS};
use super::StoreError;
use crate::availability::{self, Availability, Span};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

type Millis = i64;

/// The present, for queries: open incidents end at `ms`, and so does the coverage of `run`,
/// the run of the daemon asking (it is watching right now, even if not yet committed).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub ms: Millis,
    pub run: Option<i64>,
}

/// The database id of a check, if it ever ran.
///
/// # Errors
/// SQL errors.
pub fn check_id(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row("SELECT id FROM checks WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

/// One stored probe.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    #[serde(skip)]
    pub ts_ms: Millis,
    pub status: String,
    pub response_time_ms: f64,
    pub message: Option<String>,
    pub observed: Option<serde_json::Value>,
    pub circuit: String,
}

/// Raw results of one check in `[from, to]`, newest first.
///
/// # Errors
/// SQL errors.
pub fn history(
    conn: &Connection,
    check_id: i64,
    from: Millis,
    to: Millis,
    limit: u32,
) -> Result<Vec<HistoryRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms, status, response_us, message, observed, circuit FROM health_log
         WHERE check_id = ?1 AND ts_ms >= ?2 AND ts_ms <= ?3 ORDER BY ts_ms DESC, id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![check_id, from, to, limit], |r| {
        let observed: Option<String> = r.get(4)?;
        Ok(HistoryRow {
            ts_ms: r.get(0)?,
            status: r.get(1)?,
            response_time_ms: r.get::<_, i64>(2)? as f64 / 1000.0,
            message: r.get(3)?,
            observed: observed.and_then(|o| serde_json::from_str(&o).ok()),
            circuit: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Number of stored results of one check (all of them, or since `from`).
///
/// # Errors
/// SQL errors.
pub fn result_count(conn: &Connection, check_id: Option<i64>) -> Result<i64, StoreError> {
    Ok(match check_id {
        Some(id) => conn.query_row(
            "SELECT count(*) FROM health_log WHERE check_id = ?1",
            [id],
            |r| r.get(0),
        )?,
        None => conn.query_row("SELECT count(*) FROM health_log", [], |r| r.get(0))?,
    })
}

/// A confirmed outage.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentRow {
    pub id: i64,
    pub check: String,
    #[serde(skip)]
    pub started_ms: Millis,
    #[serde(skip)]
    pub confirmed_ms: Millis,
    #[serde(skip)]
    pub ended_ms: Option<Millis>,
    pub message: Option<String>,
}

/// Incidents overlapping `[from, to]`, newest first; of one check or all.
///
/// # Errors
/// SQL errors.
pub fn incidents(
    conn: &Connection,
    check_id: Option<i64>,
    from: Millis,
    to: Millis,
    limit: u32,
) -> Result<Vec<IncidentRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.id, c.name, i.started_ms, i.confirmed_ms, i.ended_ms, i.message
         FROM incidents i JOIN checks c ON c.id = i.check_id
         WHERE (?1 IS NULL OR i.check_id = ?1) AND i.started_ms <= ?3 AND (i.ended_ms IS NULL OR i.ended_ms >= ?2)
         ORDER BY i.started_ms DESC, i.id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![check_id, from, to, limit], |r| {
        Ok(IncidentRow {
            id: r.get(0)?,
            check: r.get(1)?,
            started_ms: r.get(2)?,
            confirmed_ms: r.get(3)?,
            ended_ms: r.get(4)?,
            message: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The spans in which the check was watched, overlapping `window`.
fn coverage(
    conn: &Connection,
    check_id: i64,
    window: Span,
    now: Now,
) -> Result<Vec<Span>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT first_ms, end_ms FROM (
             SELECT rc.first_ms AS first_ms,
                    CASE WHEN r.id = ?4 THEN ?5 ELSE coalesce(r.stopped_ms, r.last_seen_ms) END AS end_ms
             FROM run_checks rc JOIN runs r ON r.id = rc.run_id WHERE rc.check_id = ?1)
         WHERE first_ms < ?3 AND end_ms > ?2",
    )?;
    let rows = stmt.query_map(
        params![check_id, window.start, window.end, now.run, now.ms],
        |r| Ok(Span::new(r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Incident spans overlapping `window`; open incidents run to `now`.
fn incident_spans(
    conn: &Connection,
    check_id: i64,
    window: Span,
    now: Millis,
) -> Result<Vec<Span>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT started_ms, coalesce(ended_ms, ?4) FROM incidents
         WHERE check_id = ?1 AND started_ms < ?3 AND coalesce(ended_ms, ?4) > ?2",
    )?;
    let rows = stmt.query_map(params![check_id, window.start, window.end, now], |r| {
        Ok(Span::new(r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Latency over a window, from the hourly rollups (hour granularity at the edges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub probes: i64,
    pub mean_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Probe counts and latency percentiles over the hours overlapping `window`.
///
/// # Errors
/// SQL errors.
pub fn latency(conn: &Connection, check_id: i64, window: Span) -> Result<Latency, StoreError> {
    let cols: Vec<String> = (0..BUCKETS)
        .map(|i| format!("coalesce(sum(b{i:02}), 0)"))
        .collect();
    let sql = format!(
        "SELECT coalesce(sum(probes), 0), coalesce(sum(latency_sum_us), 0), min(latency_min_us), max(latency_max_us), {}
         FROM rollups_hourly WHERE check_id = ?1 AND hour_ms > ?2 - 3600000 AND hour_ms < ?3",
        cols.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(
        stmt.query_row(params![check_id, window.start, window.end], |r| {
            let probes: i64 = r.get(0)?;
            if probes == 0 {
                return Ok(Latency::default());
            }
            let sum_us: i64 = r.get(1)?;
            let min_ms = r.get::<_, Option<i64>>(2)?.map(|v| v as f64 / 1000.0);
            let max_ms = r.get::<_, Option<i64>>(3)?.map(|v| v as f64 / 1000.0);
            let mut buckets = [0i64; BUCKETS];
            for (i, b) in buckets.iter_mut().enumerate() {
                *b = r.get(4 + i)?;
            }
            let (lo, hi) = (min_ms.unwrap_or(0.0), max_ms.unwrap_or(0.0));
            Ok(Latency {
                probes,
                mean_ms: Some((sum_us as f64 / probes as f64).round() / 1000.0),
                min_ms,
                max_ms,
                p50_ms: percentile(&buckets, 50.0, lo, hi),
                p95_ms: percentile(&buckets, 95.0, lo, hi),
                p99_ms: percentile(&buckets, 99.0, lo, hi),
            })
        })?,
    )
}

/// Availability of one check over `window`, from its coverage and incidents.
///
/// # Errors
/// SQL errors.
pub fn availability(
    conn: &Connection,
    check_id: i64,
    window: Span,
    now: Now,
) -> Result<Availability, StoreError> {
    let coverage = coverage(conn, check_id, window, now)?;
    let incidents = incident_spans(conn, check_id, window, now.ms)?;
    Ok(availability::compute(window, &coverage, &incidents))
}
