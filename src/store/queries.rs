//! Reads over the health log: history, incidents, availability and latency.

use super::StoreError;
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
    // Two statements, not `(?1 IS NULL OR check_id = ?1)`: with that, SQLite walks every
    // check's incidents by time, and a check's page grew with the size of the whole history.
    let mut stmt = conn.prepare_cached(if check_id.is_some() {
        "SELECT i.id, c.name, i.started_ms, i.confirmed_ms, i.ended_ms, i.message
         FROM incidents i JOIN checks c ON c.id = i.check_id
         WHERE i.check_id = ?1 AND i.started_ms <= ?3 AND (i.ended_ms IS NULL OR i.ended_ms >= ?2)
         ORDER BY i.started_ms DESC, i.id DESC LIMIT ?4"
    } else {
        "SELECT i.id, c.name, i.started_ms, i.confirmed_ms, i.ended_ms, i.message
         FROM incidents i JOIN checks c ON c.id = i.check_id
         WHERE ?1 IS NULL AND i.started_ms <= ?3 AND (i.ended_ms IS NULL OR i.ended_ms >= ?2)
         ORDER BY i.started_ms DESC, i.id DESC LIMIT ?4"
    })?;
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

/// Latency over a span, from the rollups (see [`super::summary`]).
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

/// The checks with an incident still open (an earlier run's outage that never ended), and
/// when each began, so incident tracking and alerts resume where they stopped.
///
/// # Errors
/// SQL errors.
pub fn open_incidents(conn: &Connection) -> Result<Vec<(String, Millis)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT c.name, min(i.started_ms) FROM incidents i JOIN checks c ON c.id = i.check_id
         WHERE i.ended_ms IS NULL GROUP BY c.name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
